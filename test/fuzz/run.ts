// Fuzz driver: splits N frames and M capture files into chunks, runs them in `workers` child processes
// (a crash or hang of the native decoder kills one child, not the driver, and names the chunk to replay).
//   node dist-test/test/fuzz/run.js [--frames N] [--files M] [--workers W] [--seed S] [--chunk C]
// The same child runs against the ASan build when TCPLAB_ADDON and LD_PRELOAD are set (.ci/sanitize).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { ChunkJob, ChunkStats, Failure } from './harness.js';

export interface FuzzOptions {
  frames: number;
  files: number;
  workers?: number;
  seed?: number;
  /** Frames per chunk (files per chunk is chunk / 200). */
  chunk?: number;
  frameBoundMs?: number;
  fileBoundMs?: number;
  /** A child that prints nothing for this long is hung. */
  hangMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface FuzzReport {
  inputs: { frames: number; files: number };
  framesDecoded: number;
  decodedOk: number;
  decodeRejected: number;
  filesRefused: number;
  maxFrameMs: number;
  maxFileMs: number;
  wallMs: number;
  failures: Failure[];
  /** Children that crashed or hung: exit signal/code and the chunk that was running. */
  deaths: string[];
}

const ROOT = new URL('../../', import.meta.url).pathname;
const repoRoot = ROOT.endsWith('/dist-test/') ? ROOT.slice(0, -'dist-test/'.length) : ROOT;
export const CHILD = join(repoRoot, 'dist-test/test/fuzz/child.js');

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const workers = o.workers ?? 2;
  const seed = o.seed ?? 1;
  const chunk = o.chunk ?? 25_000;
  const fileChunk = Math.max(1, Math.floor(chunk / 200));
  const tmpDir = mkdtempSync(join(process.env.TCPLAB_FUZZ_TMP ?? (tmpdir()), 'tcplab-fuzz-'));
  const jobs: ChunkJob[] = [];
  for (let done = 0, k = 0; done < o.frames; done += chunk, k++) {
    jobs.push({ kind: 'frames', seed: seed * 1_000_003 + k, count: Math.min(chunk, o.frames - done), boundMs: o.frameBoundMs ?? 250, tmpDir });
  }
  for (let done = 0, k = 0; done < o.files; done += fileChunk, k++) {
    jobs.push({ kind: 'files', seed: seed * 2_000_003 + k, count: Math.min(fileChunk, o.files - done), boundMs: o.fileBoundMs ?? 5000, tmpDir });
  }
  // Deal the jobs round-robin so each child gets frames and files.
  const shares: ChunkJob[][] = Array.from({ length: workers }, () => []);
  jobs.forEach((j, i) => shares[i % workers]!.push(j));
  const rep: FuzzReport = {
    inputs: { frames: 0, files: 0 }, framesDecoded: 0, decodedOk: 0, decodeRejected: 0, filesRefused: 0,
    maxFrameMs: 0, maxFileMs: 0, wallMs: 0, failures: [], deaths: [],
  };
  const t0 = Date.now();
  try {
    await Promise.all(shares.filter((s) => s.length).map((s) => runChild(s, rep, o)));
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  rep.wallMs = Date.now() - t0;
  return rep;
}

function runChild(jobs: ChunkJob[], rep: FuzzReport, o: FuzzOptions): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(jobs)], { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
    let running: number | undefined;
    let stderr = '';
    let hung = false;
    const hangMs = o.hangMs ?? 30_000;
    let timer = setTimeout(onHang, hangMs);
    function onHang() {
      hung = true;
      child.kill('SIGKILL');
    }
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-8000); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      clearTimeout(timer);
      timer = setTimeout(onHang, hangMs);
      const m = JSON.parse(line) as { start: number } | ChunkStats;
      if ('start' in m) { running = m.start; return; }
      running = undefined;
      if (m.kind === 'frames') rep.inputs.frames += m.inputs;
      else rep.inputs.files += m.inputs;
      rep.framesDecoded += m.framesDecoded;
      rep.decodedOk += m.decodedOk;
      rep.decodeRejected += m.decodeRejected;
      rep.filesRefused += m.filesRefused;
      if (m.kind === 'frames') rep.maxFrameMs = Math.max(rep.maxFrameMs, m.maxInputMs);
      else rep.maxFileMs = Math.max(rep.maxFileMs, m.maxInputMs);
      rep.failures.push(...m.failures);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0 || hung || running !== undefined) {
        rep.deaths.push(`child ${hung ? `hung (no progress for ${hangMs} ms)` : `exited code=${code} signal=${signal}`}` +
          `${running !== undefined ? ` in chunk seed ${running}` : ''}\n${stderr}`);
      }
      resolve();
    });
  });
}

export function summary(r: FuzzReport): string {
  return [
    `inputs: ${r.inputs.frames} frames + ${r.inputs.files} capture files`,
    `frames through decode(): ${r.framesDecoded} (${r.decodedOk} decoded, ${r.decodeRejected} rejected with an error result)`,
    `capture files refused with CaptureFormatError: ${r.filesRefused}`,
    `slowest frame ${r.maxFrameMs.toFixed(2)} ms, slowest file ${r.maxFileMs.toFixed(1)} ms, wall ${(r.wallMs / 1000).toFixed(1)} s`,
    `failures: ${r.failures.length}, crashed/hung children: ${r.deaths.length}`,
  ].join('\n');
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '1000000' },
      files: { type: 'string', default: '2000' },
      workers: { type: 'string', default: '2' },
      seed: { type: 'string', default: '1' },
      chunk: { type: 'string', default: '25000' },
    },
  });
  const r = await runFuzz({ frames: Number(values.frames), files: Number(values.files), workers: Number(values.workers), seed: Number(values.seed), chunk: Number(values.chunk) });
  process.stdout.write(`${summary(r)}\n`);
  for (const f of r.failures.slice(0, 20)) process.stdout.write(`FAIL ${f.kind} seed=${f.seed} #${f.index}: ${f.what}\n  ${f.input.slice(0, 300)}\n`);
  for (const d of r.deaths) process.stdout.write(`DEATH ${d}\n`);
  process.exitCode = r.failures.length || r.deaths.length ? 1 : 0;
}
