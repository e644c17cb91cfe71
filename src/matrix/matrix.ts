// tcplab matrix: the same labs on several TCP stacks, one table. Rows are a lab's checks per case,
// columns are stacks, each cell what that stack did, marked DIFFERS where it differs from that stack's
// expectation. A stack that cannot run here is a column that says why.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localStack } from '../lab/kernel.js';
import type { LabResult } from '../lab/result.js';
import { toJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { runLab, type RunOptions } from '../lab/runner.js';
import type { Lab } from '../lab/types.js';
import { labUnsupported } from '../lab/placement.js';
import type { StackFactory } from '../targets/registry.js';
import type { MatrixResult, MatrixRow, StackColumn } from './types.js';

export type { MatrixCell, MatrixResult, MatrixRow, StackColumn } from './types.js';
// The renderers live beside the runner; re-exported so callers need one import.
export { matrixMarkdown } from './markdown.js';
export { matrixHtml } from './html.js';
export { differingRows } from './view.js';

export interface MatrixOptions {
  /** Output folder for pcaps and per-stack text reports. undefined: none. */
  outDir?: string;
  cases?: readonly string[];
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
  /** States and findings for the pcapng comments (inspect's pcapngReading, handed in from above). */
  readPackets?: RunOptions['readPackets'];
}

/** A stack's folder under the output folder: 'ssh:freebsd' -> 'ssh-freebsd', which Markdown links do not read as a URL scheme. */
function stackDir(id: string): string {
  return id.replace(/[^\w.-]/g, '-');
}

export async function runMatrix(labs: readonly Lab[], stacks: readonly StackFactory[], opts: MatrixOptions = {}): Promise<MatrixResult> {
  const say = opts.onProgress ?? (() => {});
  const startedAt = new Date().toISOString();
  const columns: StackColumn[] = [];
  const results: Record<string, LabResult[]> = {};
  for (const f of stacks) {
    const col: StackColumn = { id: f.id, title: f.title };
    columns.push(col);
    if (opts.signal?.aborted) {
      col.unavailable = 'interrupted';
      continue;
    }
    const why = await f.unavailable().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (why) {
      col.unavailable = why;
      say(`stack ${f.id}: unavailable: ${why}`);
      continue;
    }
    for (const l of labs) {
      const w = labUnsupported(l, f);
      if (w) (col.unsupported ??= {})[l.id] = w;
    }
    if (labs.every((l) => col.unsupported?.[l.id])) {
      say(`stack ${f.id}: not started: none of the labs can run there (${Object.entries(col.unsupported ?? {}).map(([l, w]) => `${l}: ${w}`).join('; ')})`);
      continue;
    }
    say(`stack ${f.id}: starting`);
    const t0 = performance.now();
    let target;
    try {
      target = await f.start();
    } catch (e) {
      col.unavailable = `failed to start: ${e instanceof Error ? e.message : String(e)}`;
      say(`stack ${f.id}: ${col.unavailable}`);
      continue;
    }
    col.startMs = Math.round(performance.now() - t0);
    col.stack = target?.stack ?? localStack();
    say(`stack ${f.id}: ${col.stack.os} ${col.stack.release} (ready in ${col.startMs} ms)`);
    const out = opts.outDir ? join(opts.outDir, stackDir(f.id)) : undefined;
    results[f.id] = [];
    try {
      for (const lab of labs) {
        // Not an error of the stack: the cell says why.
        if (col.unsupported?.[lab.id]) continue;
        const run: RunOptions = {
          stack: col.stack,
          ...(target ? { target, ...(f.linkUnsupported ? { linkUnsupported: f.linkUnsupported } : {}) } : {}),
          ...(opts.cases?.length ? { cases: opts.cases.filter((c) => lab.cases.some((k) => k.id === c)) } : {}),
          ...(out ? { pcapDir: out } : {}),
          ...(opts.readPackets ? { readPackets: opts.readPackets } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: (l) => say(`[${f.id}] ${l}`),
        };
        const r = await runLab(lab, run);
        results[f.id]!.push(r);
        if (out) {
          mkdirSync(out, { recursive: true });
          writeFileSync(join(out, `${lab.id}.txt`), renderText(r) + '\n');
        }
      }
    } finally {
      await target?.dispose().catch((e: unknown) => say(`stack ${f.id}: clean-up failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }
  return { schema: 'tcplab.matrix/1', startedAt, stacks: columns, labs: labs.map((l) => l.id), rows: toRows(labs, results, opts.outDir), reports: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, toJson(v)])) };
}

function toRows(labs: readonly Lab[], results: Record<string, LabResult[]>, outDir: string | undefined): MatrixRow[] {
  const rows = new Map<string, MatrixRow>();
  // Row order: the lab's case order, checks in the order the stacks made them.
  for (const lab of labs) {
    for (const lc of lab.cases) {
      for (const [stackId, labResults] of Object.entries(results)) {
        const lr = labResults.find((r) => r.lab.id === lab.id);
        const skip = lr?.skipped?.find((k) => k.id === lc.id);
        if (skip) {
          const key = `${lab.id}/${lc.id}/(case)`;
          let row = rows.get(key);
          if (!row) {
            row = { lab: lab.id, case: lc.id, caseTitle: lc.title, check: '(case)', checkTitle: 'the case ran', cells: {}, errors: {} };
            rows.set(key, row);
          }
          (row.notRun ??= {})[stackId] = skip.why;
        }
        const c = lr?.cases.find((x) => x.id === lc.id);
        if (!c) continue;
        const rel = (p: string | undefined) => (p && outDir && p.startsWith(outDir) ? p.slice(outDir.length).replace(/^\/+/, '') : p);
        for (const k of c.checks) {
          const key = `${lab.id}/${lc.id}/${k.id}`;
          let row = rows.get(key);
          if (!row) {
            row = { lab: lab.id, case: lc.id, caseTitle: lc.title, check: k.id, checkTitle: k.title, cells: {}, errors: {} };
            rows.set(key, row);
          }
          row.cells[stackId] = {
            observed: k.observed, verdict: k.verdict, expected: k.expected, rule: k.rule,
            ...(c.pcap ? { pcap: rel(c.pcap) } : {}),
            ...(outDir ? { report: `${stackDir(stackId)}/${lab.id}.txt` } : {}),
          };
        }
        if (c.error) {
          const key = `${lab.id}/${lc.id}/(case)`;
          let row = rows.get(key);
          if (!row) {
            row = { lab: lab.id, case: lc.id, caseTitle: lc.title, check: '(case)', checkTitle: 'the case ran', cells: {}, errors: {} };
            rows.set(key, row);
          }
          row.errors[stackId] = c.error;
        }
      }
    }
  }
  return [...rows.values()];
}
