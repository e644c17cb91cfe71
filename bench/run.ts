// npm run bench: tcplab's wire against C baselines and other tools, side by side on one veth pair in
// tcplab- namespaces (created here, removed on exit or Ctrl-C). Prints a table and writes bench-results.json.
//   node dist/bench/run.js [--runs N] [--secs S] [--probes N] [--lab-runs N] [--nice N] [--only send,capture,latency,labs,targets,versions,inspect]
//                          [--inspect-runs N] [--inspect-10m] [--out FILE]
import { benchQemu } from './qemu.js';
import { writeFileSync } from 'node:fs';
import { cpus, release, setPriority } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/wire/native.js';
import { benchCapture } from './capture.js';
import { createEnv } from './env.js';
import { benchInspect } from './inspect.js';
import { benchLabs } from './labs.js';
import { benchLatency } from './latency.js';
import { renderTable, toJson } from './report.js';
import { benchSend } from './send.js';
import { applyTargets } from './targets.js';
import { benchVersions } from './versions.js';
import type { BenchOptions, Row } from './types.js';

const SECTIONS = ['send', 'capture', 'latency', 'labs', 'targets', 'versions', 'inspect'] as const;

function options(): BenchOptions & { out: string; nice: number; inspectRuns: number; inspect10m: boolean } {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '9' },
      secs: { type: 'string', default: '0.3' },
      probes: { type: 'string', default: '1000' },
      'lab-runs': { type: 'string', default: '1' },
      nice: { type: 'string', default: '-10' },
      'inspect-runs': { type: 'string', default: '3' },
      'inspect-10m': { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: resolve(packageRoot(), 'bench-results.json') },
    },
  });
  const num = (k: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!(n >= min && n <= max)) throw new RangeError(`--${k}: must be a number ${min}..${max}, got '${v}'`);
    return n;
  };
  const only = values.only?.split(',').map((s) => s.trim()) ?? [...SECTIONS];
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new RangeError(`--only: unknown section '${s}' (${SECTIONS.join(', ')})`);
  return {
    runs: Math.round(num('runs', values.runs!, 1, 50)),
    secs: num('secs', values.secs!, 0.1, 30),
    probes: Math.round(num('probes', values.probes!, 10, 100000)),
    labRuns: Math.round(num('lab-runs', values['lab-runs']!, 0, 10)),
    nice: Math.round(num('nice', values.nice!, -20, 19)),
    sections: new Set(only as Row['section'][]),
    inspectRuns: Math.round(num('inspect-runs', values['inspect-runs']!, 1, 50)),
    inspect10m: values['inspect-10m'] === true,
    out: values.out!,
  };
}

async function main(): Promise<void> {
  const opts = options();
  if (process.getuid?.() !== 0) throw new Error('bench: needs root (network namespaces, raw and packet sockets)');
  const log = (s: string) => process.stderr.write(`${s}\n`);
  // Both sides of every comparison inherit this (children included): it keeps other processes on the
  // machine from taking the CPU in the middle of a measurement, without favouring either side.
  if (opts.nice !== 0) setPriority(0, opts.nice);
  const t0 = performance.now();
  const rows: Row[] = [];
  // The veth pair (and the C baselines) only for the wire sections.
  if (['send', 'capture', 'latency'].some((x) => opts.sections.has(x as Row['section']))) {
    const env = await createEnv();
    try {
      log(`bench: ${env.tx.netns}/${env.tx.ifname} -> ${env.rx.netns}/${env.rx.ifname}, ${opts.runs} runs x ${opts.secs} s`);
      if (opts.sections.has('send')) rows.push(...(await benchSend(env, opts, log)));
      if (opts.sections.has('capture')) rows.push(...(await benchCapture(env, opts, log)));
      if (opts.sections.has('latency')) rows.push(...(await benchLatency(env, opts, log)));
    } finally {
      await env.tb.dispose();
    }
  }
  // Labs and targets make their own testbeds.
  if (opts.sections.has('labs') && opts.labRuns > 0) rows.push(...(await benchLabs(opts, log)));
  if (opts.sections.has('targets')) rows.push(...(await benchQemu(opts, log)));
  if (opts.sections.has('versions')) rows.push(...(await benchVersions(opts, log)));
  if (opts.sections.has('inspect')) rows.push(...(await benchInspect({ runs: opts.inspectRuns, sizes: opts.inspect10m ? [1_000_000, 10_000_000] : [1_000_000] }, log)));
  applyTargets(rows);
  const wallS = (performance.now() - t0) / 1000;
  const meta = {
    date: new Date().toISOString(),
    kernel: release(),
    cpus: cpus().length,
    node: process.version,
    options: { ...opts, sections: [...opts.sections] },
    wallSeconds: wallS,
  };
  console.log(renderTable(rows));
  writeFileSync(opts.out, JSON.stringify(toJson(rows, meta), null, 2) + '\n');
  console.log(`\nbench: ${wallS.toFixed(0)} s; medians of ${opts.runs} runs (inspect: ${opts.inspectRuns}), spread = (max-min)/2 relative to the median, ratio = tcplab / peer`);
  console.log(`bench: results written to ${opts.out}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
