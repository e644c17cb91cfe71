// What a reader sees of a matrix, independent of the format: per lab a table whose rows are grouped by
// case, each case heading the links to its evidence once per stack (its ladder and pcap), and each
// check row one short cell per stack. Markdown and HTML both render this, so they cannot drift apart.
import type { MatrixResult, MatrixRow, StackColumn } from './types.js';

export type CellKind = 'value' | 'DIFFERS' | 'ERROR' | 'none' | 'n/a' | 'unavailable';

export interface ViewCell {
  kind: CellKind;
  /** The short text of the cell (the observed value, 'n/a', '—'...), cut to a scannable length. */
  text: string;
  /** For DIFFERS: what the stack's rule expected (short). */
  expected?: string;
  /** Everything behind the cell in full: observed, expected and rule, or why it did not run. */
  detail?: string;
}

export interface CaseLinks {
  /** The stack's text report with the case's ladder, relative to the matrix's folder. */
  ladder?: string;
  /** The case's capture, relative to the matrix's folder. */
  pcap?: string;
}

export interface ViewRow {
  check: string;
  title: string;
  cells: ViewCell[];
  /** At least two stacks that ran show different values. */
  varies: boolean;
}

export interface ViewCase {
  id: string;
  title: string;
  /** By stack, in column order; empty when the stack has no evidence for the case. */
  links: CaseLinks[];
  rows: ViewRow[];
}

export interface ViewTable {
  lab: string;
  stacks: StackColumn[];
  /** Stacks the whole lab could not run on, with why. */
  notRun: Array<{ stack: string; why: string }>;
  cases: ViewCase[];
}

/** Longest cell text before it is cut with "…" (the full text stays in the JSON and the HTML's tooltip). */
export const CELL_MAX = 48;

export function shorten(s: string, max = CELL_MAX): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1).trimEnd() + '…' : one;
}

function valueText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function cellOf(r: MatrixRow, s: StackColumn, lab: string): ViewCell {
  const labWhy = s.unsupported?.[lab];
  if (labWhy) return { kind: 'n/a', text: 'n/a', detail: labWhy };
  if (s.unavailable) return { kind: 'unavailable', text: 'unavailable', detail: s.unavailable };
  if (r.check === '(case)') {
    const why = r.notRun?.[s.id];
    if (why) return { kind: 'n/a', text: shorten(`n/a: ${why}`), detail: why };
    const err = r.errors[s.id];
    if (err) return { kind: 'ERROR', text: shorten(`ERROR: ${err}`), detail: err };
    return { kind: 'none', text: '—' };
  }
  const c = r.cells[s.id];
  if (!c) return { kind: 'none', text: '—' };
  const observed = valueText(c.observed);
  const detail = `observed ${JSON.stringify(c.observed)}, expected ${c.expected} (${c.rule})`;
  if (c.verdict === 'DIFFERS') return { kind: 'DIFFERS', text: shorten(observed), expected: shorten(c.expected, 32), detail };
  if (c.verdict === 'ERROR') return { kind: 'ERROR', text: shorten(`${observed} (${c.rule === 'none' ? 'no expectation' : 'ERROR'})`), detail };
  return { kind: 'value', text: shorten(observed), detail };
}

/** Tables in the order the labs were asked for (then any lab only the rows name). */
export function matrixView(m: MatrixResult): ViewTable[] {
  const labs = [...new Set([...(m.labs ?? []), ...m.rows.map((r) => r.lab)])];
  return labs.map((lab) => {
    const cases: ViewCase[] = [];
    for (const r of m.rows.filter((x) => x.lab === lab)) {
      let c = cases[cases.length - 1];
      if (!c || c.id !== r.case) {
        c = { id: r.case, title: r.caseTitle, links: m.stacks.map(() => ({})), rows: [] };
        cases.push(c);
      }
      m.stacks.forEach((s, i) => {
        const cell = r.cells[s.id];
        const l = c!.links[i]!;
        if (cell?.report && !l.ladder) l.ladder = cell.report;
        if (cell?.pcap && !l.pcap) l.pcap = cell.pcap;
      });
      const values = new Set(Object.values(r.cells).map((x) => JSON.stringify(x.observed)));
      c.rows.push({ check: r.check, title: r.checkTitle, cells: m.stacks.map((s) => cellOf(r, s, lab)), varies: values.size > 1 });
    }
    const notRun = m.stacks.filter((s) => s.unsupported?.[lab]).map((s) => ({ stack: s.id, why: s.unsupported![lab]! }));
    return { lab, stacks: m.stacks, notRun, cases };
  });
}

/** One line per stack: what it is, what ran, or why it did not. */
export function stackLine(s: StackColumn): string {
  const ran = s.stack ? ` — ${s.stack.os} ${s.stack.release}${s.startMs !== undefined ? `, ready in ${(s.startMs / 1000).toFixed(1)} s` : ''}` : '';
  return `${s.title}${ran}`;
}

/** Rows where at least two stacks that ran observed different values. */
export function differingRows(m: MatrixResult): MatrixRow[] {
  return m.rows.filter((r) => new Set(Object.values(r.cells).map((c) => JSON.stringify(c.observed))).size > 1);
}
