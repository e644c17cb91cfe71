// tcplab matrix: the same labs on several TCP stacks, one table. Rows are a lab's checks per case,
// columns are stacks, each cell what that stack did, marked DIFFERS where it differs from that stack's
// expectation. A stack that cannot run here is a column that says why.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localStack, type StackInfo } from '../lab/kernel.js';
import type { Observed } from '../lab/expect.js';
import { renderText, toJson, type LabResult, type Verdict } from '../lab/report.js';
import { runLab, type RunOptions } from '../lab/runner.js';
import type { Lab } from '../lab/types.js';
import { labUnsupported } from '../lab/placement.js';
import type { StackFactory } from '../targets/registry.js';

export interface StackColumn {
  id: string;
  title: string;
  /** Set when the stack ran. */
  stack?: StackInfo;
  /** Why the stack did not run (not installed, failed to start...). */
  unavailable?: string;
  startMs?: number;
  /** Labs that cannot run on this stack, with why (lab/placement.ts). */
  unsupported?: Record<string, string>;
}

export interface MatrixCell {
  observed: Observed;
  verdict: Verdict;
  expected: string;
  rule: string;
  /** pcap and text report (with the ladder) of the case, relative to the output folder. */
  pcap?: string;
  report?: string;
}

export interface MatrixRow {
  lab: string;
  case: string;
  caseTitle: string;
  check: string;
  checkTitle: string;
  /** By stack id; absent: the stack made no such check (e.g. no socket table), or it did not run. */
  cells: Record<string, MatrixCell>;
  /** A case that failed with an error on a stack, by stack id. */
  errors: Record<string, string>;
  /** A case that cannot run on a stack, with why, by stack id. */
  notRun?: Record<string, string>;
}

export interface MatrixResult {
  schema: 'tcplab.matrix/1';
  startedAt: string;
  stacks: StackColumn[];
  /** The labs asked for, in order. */
  labs: string[];
  rows: MatrixRow[];
  /** Full lab reports per stack (tcplab.report/1 shape). */
  reports: Record<string, ReturnType<typeof toJson>>;
}

export interface MatrixOptions {
  /** Output folder for pcaps and per-stack text reports. undefined: none. */
  outDir?: string;
  cases?: readonly string[];
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
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

function cellText(c: MatrixCell | undefined, col: StackColumn, links: boolean): string {
  if (col.unavailable) return 'unavailable';
  if (!c) return '—';
  let t = typeof c.observed === 'string' ? c.observed : JSON.stringify(c.observed);
  if (c.verdict === 'DIFFERS') t += ` **DIFFERS** (expected ${c.expected})`;
  else if (c.verdict === 'ERROR') t += ` (${c.rule === 'none' ? 'no expectation' : 'ERROR'})`;
  if (links && c.pcap) t += ` [pcap](${c.pcap})`;
  if (links && c.report) t += ` [ladder](${c.report})`;
  return t.replace(/\|/g, '\\|');
}

/** The matrix as Markdown: one table per lab, a legend of the stacks (with why one did not run). */
export function matrixMarkdown(m: MatrixResult, opts: { links?: boolean } = {}): string {
  const links = opts.links ?? true;
  const out: string[] = [];
  out.push('Stacks:');
  for (const s of m.stacks) {
    out.push(`- **${s.id}**: ${s.title}${s.stack ? ` — ${s.stack.os} ${s.stack.release}${s.startMs !== undefined ? `, ready in ${(s.startMs / 1000).toFixed(1)} s` : ''}` : ''}${s.unavailable ? ` — **unavailable: ${s.unavailable}**` : ''}`);
  }
  const labs = [...new Set([...(m.labs ?? []), ...m.rows.map((r) => r.lab)])];
  for (const lab of labs) {
    out.push('', `### lab:${lab}`, '');
    const not = m.stacks.filter((s) => s.unsupported?.[lab]);
    for (const s of not) out.push(`lab:${lab} did not run on ${s.id}: ${s.unsupported![lab]}.`);
    if (not.length) out.push('');
    out.push(`| case | check | ${m.stacks.map((s) => s.id).join(' | ')} |`);
    out.push(`|---|---|${m.stacks.map(() => '---').join('|')}|`);
    let lastCase = '';
    for (const r of m.rows.filter((x) => x.lab === lab)) {
      const cells = m.stacks.map((s) => (s.unsupported?.[lab] ? `n/a (${s.unsupported[lab]!.replace(/\|/g, '\\|').slice(0, 80)})` : r.check === '(case)' ? (s.unavailable ? 'unavailable' : r.notRun?.[s.id] ? `n/a (${r.notRun[s.id]!.replace(/\|/g, '\\|').slice(0, 80)})` : r.errors[s.id] ? `ERROR: ${r.errors[s.id]!.replace(/\|/g, '\\|').slice(0, 120)}` : '—') : cellText(r.cells[s.id], s, links)));
      // A case's title heads its first row only: the table reads as groups of checks.
      out.push(`| ${r.case === lastCase ? '' : r.caseTitle} | ${r.checkTitle} | ${cells.join(' | ')} |`);
      lastCase = r.case;
    }
  }
  return out.join('\n') + '\n';
}

/** Rows where at least two stacks that ran observed different values. */
export function differingRows(m: MatrixResult): MatrixRow[] {
  return m.rows.filter((r) => new Set(Object.values(r.cells).map((c) => JSON.stringify(c.observed))).size > 1);
}
