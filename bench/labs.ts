// Wall time of each lab as a user runs it: `node dist/src/cli.js run <lab> --no-pcap --json`, timed from
// spawn to exit. The breakdown comes from the lab's own JSON report: time in cases, and within them the
// deliberate waits the lab's notes state (refused reconnects retried "over N ms", reconnects that
// succeed "after ... N ms" = the kernel's reuse delay); the rest is setup, teardown and process start.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { allLabs } from '../labs/index.js';
import { packageRoot } from '../src/wire/native.js';
import type { BenchOptions, Row } from './types.js';

interface LabJson {
  verdict: string;
  labs: Array<{ id: string; durationMs: number; cases: Array<{ id: string; durationMs: number; notes?: Array<{ text: string }> }> }>;
}

function runCli(args: string[]): Promise<{ wallS: number; out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli.js'), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ wallS: (performance.now() - t0) / 1000, out, code }));
  });
}

/** Deliberate waiting stated in a case's notes, in ms. */
function waitsMs(notes: ReadonlyArray<{ text: string }>): number {
  let ms = 0;
  for (const n of notes) {
    const m = /over (\d+) ms/.exec(n.text) ?? /after \d+ attempt\(s\), (\d+) ms/.exec(n.text);
    if (m) ms += Number(m[1]);
  }
  return ms;
}

export async function benchLabs(opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const lab of allLabs) {
    const wall: number[] = [];
    let extra: Record<string, number | string> = {};
    for (let r = 0; r < opts.labRuns; r++) {
      const res = await runCli(['run', lab.id, '--no-pcap', '--json']);
      wall.push(res.wallS);
      let j: LabJson;
      try {
        j = JSON.parse(res.out) as LabJson;
      } catch {
        extra = { verdict: `no JSON report (exit ${res.code})` };
        continue;
      }
      const l = j.labs[0]!;
      const casesMs = l.cases.reduce((a, c) => a + c.durationMs, 0);
      const waits = l.cases.reduce((a, c) => a + waitsMs(c.notes ?? []), 0);
      extra = {
        verdict: j.verdict,
        inCasesS: casesMs / 1000,
        statedWaitsS: waits / 1000,
        setupTeardownS: (l.durationMs - casesMs) / 1000,
        processS: res.wallS - l.durationMs / 1000,
        cases: l.cases.map((c) => `${c.id}:${(c.durationMs / 1000).toFixed(1)}`).join(','),
      };
      log(`  lab run ${r + 1}/${opts.labRuns}  ${lab.id.padEnd(14)} ${res.wallS.toFixed(1)} s (${j.verdict}; waits ${(waits / 1000).toFixed(1)} s of ${(casesMs / 1000).toFixed(1)} s in cases)`);
    }
    rows.push({ section: 'labs', name: `lab:${lab.id}`, unit: 's', runs: wall, extra });
  }
  return rows;
}
