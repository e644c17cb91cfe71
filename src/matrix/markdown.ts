// The matrix as Markdown: a legend of the stacks, then one table per lab. Each case is a bold row that
// carries, per stack, the links to its evidence (ladder, pcap); the check rows under it hold only the
// short values, so the table reads down a column without a link in every cell.
import type { MatrixResult } from './types.js';
import { matrixView, stackLine, type ViewCell, type ViewCase } from './view.js';

const cellEsc = (s: string) => s.replace(/\|/g, '\\|');

function cellMd(c: ViewCell): string {
  if (c.kind === 'DIFFERS') return `**DIFFERS**: ${cellEsc(c.text)} (expected ${cellEsc(c.expected ?? '')})`;
  return cellEsc(c.text);
}

function caseRow(c: ViewCase, links: boolean): string {
  const ev = c.links.map((l) => (links ? [l.ladder && `[ladder](${l.ladder})`, l.pcap && `[pcap](${l.pcap})`].filter(Boolean).join(' · ') : ''));
  return `| **${cellEsc(c.title)}** | ${ev.join(' | ')} |`;
}

/** links: false leaves the evidence out (for a table pasted where the files are not, e.g. the README). */
export function matrixMarkdown(m: MatrixResult, opts: { links?: boolean } = {}): string {
  const links = opts.links ?? true;
  const out: string[] = ['Stacks:'];
  for (const s of m.stacks) out.push(`- **${s.id}**: ${stackLine(s)}${s.unavailable ? ` — **unavailable: ${s.unavailable}**` : ''}`);
  if (links) out.push('', 'Each case\'s bold row links, per stack, its ladder (the lab\'s text report) and its pcap; the rows under it are its checks. "—": the stack made no such check.');
  for (const t of matrixView(m)) {
    out.push('', `### lab:${t.lab}`, '');
    for (const n of t.notRun) out.push(`lab:${t.lab} did not run on ${n.stack}: ${n.why}.`);
    if (t.notRun.length) out.push('');
    out.push(`| case / check | ${t.stacks.map((s) => s.id).join(' | ')} |`);
    out.push(`|---|${t.stacks.map(() => '---').join('|')}|`);
    for (const c of t.cases) {
      out.push(caseRow(c, links));
      for (const r of c.rows) out.push(`| ${cellEsc(r.title)} | ${r.cells.map(cellMd).join(' | ')} |`);
    }
  }
  return out.join('\n') + '\n';
}
