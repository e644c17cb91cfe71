// Files the targets keep outside the testbed (runsc state and bundle in /run, the QEMU console log),
// named /run/tcplab-<kind>-<runId>[...]. A run killed with SIGKILL leaves them behind (its processes
// die with it: pdeathsig); cleanTargetLeftovers() removes those of runs that are not alive any more.
// Targets call it on start; `tcplab clean` should too.
import { readdirSync, rmSync } from 'node:fs';
import { isAlive, readJournals } from '../testbed/journal.js';

const RUN = '/run';
const NAME = /^tcplab-(runsc|qemu)-([0-9a-f]{6})(?:-bundle)?$/;

export function targetRunDir(kind: 'runsc' | 'qemu', runId: string, suffix = ''): string {
  return `${RUN}/tcplab-${kind}-${runId}${suffix}`;
}

/** Removes target files of runs whose process is gone (or of `runIds`, when given). Returns what it removed. */
export function cleanTargetLeftovers(opts: { runIds?: readonly string[]; except?: readonly string[] } = {}): string[] {
  const live = new Set(readJournals().filter((j) => j.pid !== process.pid && isAlive(j.pid)).map((j) => j.runId));
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(RUN);
  } catch {
    return removed;
  }
  for (const n of names) {
    const m = NAME.exec(n);
    if (!m) continue;
    const id = m[2]!;
    if (opts.except?.includes(id) || (opts.runIds ? !opts.runIds.includes(id) : live.has(id))) continue;
    // A run of this process (another target started here) stays too.
    if (!opts.runIds && readJournals().some((j) => j.runId === id && j.pid === process.pid)) continue;
    rmSync(`${RUN}/${n}`, { recursive: true, force: true });
    removed.push(`${RUN}/${n}`);
  }
  return removed;
}
