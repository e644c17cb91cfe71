// The headline labs, run as a user runs them (the CLI, as root), checked through their JSON reports.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');

interface Report {
  schema: string;
  verdict: string;
  labs: Array<{
    id: string;
    verdict: string;
    stack: { os: string; release: string };
    cases: Array<{
      id: string;
      verdict: string;
      pcap?: string;
      sysctls: Record<string, string>;
      packets: Array<{ flags: string; src: string; dst: string }>;
      checks: Array<{ id: string; verdict: string; expected: string; observed: unknown; evidence: { packets: unknown[]; sockets: string[]; counters: Record<string, number> } }>;
    }>;
  }>;
}

function run(args: string[]): { status: number | null; report: Report; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', timeout: 60_000 });
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`no JSON report (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  }
  return { status: r.status, report, stderr: r.stderr };
}

function leftovers(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => /^tcplab-[0-9a-f]{6}-/.test(n));
}

describe('headline labs (root)', () => {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-labs-'));

  for (const lab of ['reuse', 'timewait-syn']) {
    it(`lab:${lab} passes on this kernel with packet evidence, writes pcaps and leaves nothing behind`, () => {
      expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
      const before = leftovers();
      const { status, report, stderr } = run(['run', lab, '--pcap', dir]);
      const failed = report.labs.flatMap((l) => l.cases.flatMap((c) => c.checks.filter((k) => k.verdict !== 'PASS').map((k) => `${c.id}/${k.id}: ${k.verdict} observed ${JSON.stringify(k.observed)} expected ${k.expected}`)));
      expect(failed, stderr.slice(-2000)).toEqual([]);
      expect(status).toBe(0);
      expect(report.schema).toBe('tcplab.report/1');
      const l = report.labs[0]!;
      expect(l.id).toBe(lab);
      expect(l.stack.os).toBe('linux');
      expect(l.cases.length).toBeGreaterThanOrEqual(5);
      for (const c of l.cases) {
        expect(c.verdict).toBe('PASS');
        expect(c.checks.length).toBeGreaterThan(0);
        expect(Object.keys(c.sysctls).length).toBeGreaterThan(0);
        expect(c.packets.some((p) => p.flags === 'S')).toBe(true);
        expect(c.pcap && existsSync(c.pcap)).toBe(true);
        for (const k of c.checks) {
          const evidence = k.evidence.packets.length + k.evidence.sockets.length + Object.keys(k.evidence.counters).length;
          expect(evidence, `${c.id}/${k.id} has no evidence`).toBeGreaterThan(0);
        }
      }
      expect(leftovers().filter((n) => !before.includes(n))).toEqual([]);
    }, 60_000);
  }

  it('an impossible expectation gives DIFFERS with the packets and a non-zero exit', () => {
    const file = join(dir, 'impossible.json');
    writeFileSync(file, JSON.stringify({ 'isn-above/answer': { linux: [{ versions: '*', expect: 'RST' }] } }));
    const { status, report } = run(['run', 'timewait-syn', '--case', 'isn-above', '--no-pcap', '--expectations', file]);
    expect(status).toBe(1);
    expect(report.verdict).toBe('DIFFERS');
    const check = report.labs[0]!.cases[0]!.checks.find((k) => k.id === 'answer')!;
    expect(check.verdict).toBe('DIFFERS');
    expect(check.observed).toBe('SYN-ACK');
    expect(check.evidence.packets.length).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('bad input is refused with the field named and exit code 2', () => {
    const r1 = spawnSync(process.execPath, [CLI, 'run', 'nope'], { encoding: 'utf8' });
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/unknown lab 'nope'/);
    const r2 = spawnSync(process.execPath, [CLI, 'run', 'reuse', '--case', 'nope'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/--case: lab reuse has no case nope/);
    const r3 = spawnSync(process.execPath, [CLI, 'run', 'reuse', '--tolerance-scale', 'x'], { encoding: 'utf8' });
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/--tolerance-scale/);
    rmSync(dir, { recursive: true, force: true });
  });
});
