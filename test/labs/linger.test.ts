// lab:linger run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');

interface Check { id: string; verdict: string; expected: string; observed: unknown; evidence: { packets: unknown[]; sockets: string[]; counters: Record<string, number> } }
interface Report {
  verdict: string;
  labs: Array<{ id: string; cases: Array<{ id: string; verdict: string; sysctls: Record<string, string>; packets: Array<{ flags: string }>; checks: Check[] }> }>;
}

function leftovers(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => /^tcplab-[0-9a-f]{6}-/.test(n));
}

/** New namespaces that stay: other test files (and other runs) create and remove theirs meanwhile. */
async function leaked(before: readonly string[]): Promise<string[]> {
  let left = leftovers().filter((n) => !before.includes(n));
  for (let i = 0; i < 20 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = leftovers();
    left = left.filter((n) => now.includes(n));
  }
  return left;
}

describe('lab:linger (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has packet, socket or counter evidence, and nothing is left behind', async () => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
    const before = leftovers();
    const r = spawnSync(process.execPath, [CLI, 'run', 'linger', '--no-pcap', '--json'], { encoding: 'utf8', timeout: 60_000 });
    let report: Report;
    try {
      report = JSON.parse(r.stdout) as Report;
    } catch {
      throw new Error(`no JSON report (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
    }
    const cases = report.labs[0]!.cases;
    const failed = cases.flatMap((c) => c.checks.filter((k) => k.verdict !== 'PASS').map((k) => `${c.id}/${k.id}: ${k.verdict} observed ${JSON.stringify(k.observed)} expected ${k.expected}`));
    expect(failed, r.stderr.slice(-2000)).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.labs[0]!.id).toBe('linger');
    expect(cases.length).toBeGreaterThanOrEqual(2);
    for (const c of cases) {
      expect(c.verdict).toBe('PASS');
      expect(c.checks.length).toBeGreaterThan(0);
      expect(Object.keys(c.sysctls).length).toBeGreaterThan(0);
      expect(c.packets.length).toBeGreaterThan(0);
      for (const k of c.checks) {
        const evidence = k.evidence.packets.length + k.evidence.sockets.length + Object.keys(k.evidence.counters).length;
        expect(evidence, `${c.id}/${k.id} has no evidence`).toBeGreaterThan(0);
      }
    }
    const byCase = (id: string) => cases.find((c) => c.id === id)!.checks;
    expect(byCase('linger0').find((k) => k.id === 'rst-not-fin')!.observed).toBe('RST');
    expect(byCase('normal-close').find((k) => k.id === 'time-wait')!.observed).toBe('TIME-WAIT');
    expect(byCase('linger0').find((k) => k.id === 'data-lost')!.observed as number).toBeGreaterThan(0);
    expect(await leaked(before)).toEqual([]);
  }, 60_000);
});
