// Leftovers of a finished run: tcplab namespaces whose owning process (from the run's journal) is gone.
// Namespaces of runs still alive (other test files, other labs running in parallel) are not leftovers.
import { spawnSync } from 'node:child_process';
import { isAlive, readJournals } from '../../src/testbed/journal.js';
import { runIdOf } from '../../src/testbed/names.js';

export function tcplabNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('tcplab-'));
}

/** Namespaces not in `before` that no live process owns. */
export function deadLeftovers(before: readonly string[] = []): string[] {
  const live = new Set(readJournals().filter((j) => isAlive(j.pid)).map((j) => j.runId));
  return tcplabNamespaces().filter((n) => !before.includes(n) && !live.has(runIdOf(n) ?? ''));
}
