// Runs a lab as a user runs it (the CLI, as root, --json) and checks what every lab must satisfy:
// all checks PASS on this kernel, each with packet, socket or counter evidence, nothing left behind.
import { expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deadLeftovers, tcplabNamespaces } from './leftovers.js';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');

export interface ReportCheck {
  id: string;
  verdict: string;
  expected: string;
  observed: unknown;
  evidence: { packets: unknown[]; sockets: string[]; counters: Record<string, number> };
}
export interface ReportCase {
  id: string;
  verdict: string;
  pcap?: string;
  sysctls: Record<string, string>;
  packets: Array<{ flags: string; src: string; dst: string }>;
  checks: ReportCheck[];
}
export interface Report {
  schema: string;
  verdict: string;
  labs: Array<{ id: string; verdict: string; stack: { os: string; release: string }; cases: ReportCase[] }>;
}

export function runCli(args: readonly string[]): { status: number | null; report: Report; stderr: string } {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', timeout: 90_000 });
  try {
    return { status: r.status, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
  } catch {
    throw new Error(`no JSON report (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  }
}

/** Runs the lab, asserts the common contract, and returns its cases plus a check lookup. */
export function runLabChecked(lab: string, args: readonly string[] = ['--no-pcap'], minCases = 2) {
  const before = tcplabNamespaces();
  const { status, report, stderr } = runCli(['run', lab, ...args]);
  const cases = report.labs[0]!.cases;
  const failed = cases.flatMap((c) => c.checks.filter((k) => k.verdict !== 'PASS').map((k) => `${c.id}/${k.id}: ${k.verdict} observed ${JSON.stringify(k.observed)} expected ${k.expected}`));
  expect(failed, stderr.slice(-2000)).toEqual([]);
  expect(status).toBe(0);
  expect(report.schema).toBe('tcplab.report/1');
  expect(report.labs[0]!.id).toBe(lab);
  expect(cases.length).toBeGreaterThanOrEqual(minCases);
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
  expect(deadLeftovers(before)).toEqual([]);
  const check = (caseId: string, checkId: string): ReportCheck => {
    const k = cases.find((c) => c.id === caseId)?.checks.find((x) => x.id === checkId);
    if (!k) throw new Error(`no check ${caseId}/${checkId} in the report`);
    return k;
  };
  return { report, cases, check };
}
