// The matrix as one self-contained HTML page (the report's look, src/report/html-page.ts): the same
// tables and links as the Markdown, cells coloured by verdict, the full observed/expected/rule in each
// cell's tooltip, and rows where the stacks differ marked so the eye finds them first.
import { badge, esc, htmlPage } from '../report/html-page.js';
import type { MatrixResult } from './types.js';
import { differingRows, matrixView, stackLine, type ViewCase, type ViewCell, type ViewTable } from './view.js';

const CSS = `
section.lab { overflow-x: auto; }
table.matrix { font-size: 15px; width: 100%; }
table.matrix th { position: sticky; top: 0; background: #fff; }
table.matrix tr.case td { background: #eef1f6; font-weight: 600; padding-top: 10px; }
table.matrix tr.case td a { font-weight: 400; }
table.matrix tr.case td + td { white-space: nowrap; }
table.matrix tr.varies td.check::before { content: "≠ "; color: var(--differs); font-weight: 700; }
td.cell { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 14px; white-space: nowrap; }
td.cell.DIFFERS { background: #fff3e0; color: var(--differs); font-weight: 700; }
td.cell.ERROR { background: #ffebee; color: var(--error); font-weight: 700; }
td.cell.none, td.cell.n\\/a, td.cell.unavailable { color: var(--muted); }
ul.stacks { padding-left: 22px; } .note { color: var(--muted); font-size: 15px; }
`;

function cellHtml(c: ViewCell): string {
  const text = c.kind === 'DIFFERS' ? `DIFFERS: ${c.text} (expected ${c.expected ?? ''})` : c.text;
  const title = c.detail ? ` title="${esc(c.detail)}"` : '';
  return `<td class="cell ${esc(c.kind)}"${title}>${esc(text)}</td>`;
}

function caseHtml(c: ViewCase): string {
  const ev = c.links.map((l) => `<td>${[l.ladder && `<a href="${esc(l.ladder)}">ladder</a>`, l.pcap && `<a href="${esc(l.pcap)}">pcap</a>`].filter(Boolean).join(' · ')}</td>`);
  const head = `<tr class="case"><td>${esc(c.title)} <span class="rule">${esc(c.id)}</span></td>${ev.join('')}</tr>`;
  return head + c.rows.map((r) => `<tr${r.varies ? ' class="varies"' : ''}><td class="check">${esc(r.title)}</td>${r.cells.map(cellHtml).join('')}</tr>`).join('');
}

function tableHtml(t: ViewTable): string {
  return `<section class="lab" id="lab-${esc(t.lab)}"><h2>lab:${esc(t.lab)}</h2>` +
    t.notRun.map((n) => `<p class="note">lab:${esc(t.lab)} did not run on ${esc(n.stack)}: ${esc(n.why)}.</p>`).join('') +
    `<table class="matrix"><thead><tr><th>case / check</th>${t.stacks.map((s) => `<th>${esc(s.id)}</th>`).join('')}</tr></thead><tbody>` +
    t.cases.map(caseHtml).join('') + '</tbody></table></section>';
}

export function matrixHtml(m: MatrixResult): string {
  const cells = m.rows.flatMap((r) => Object.values(r.cells));
  const differs = cells.filter((c) => c.verdict === 'DIFFERS').length;
  const errors = cells.filter((c) => c.verdict === 'ERROR').length + m.rows.reduce((n, r) => n + Object.keys(r.errors).length, 0);
  const verdict = errors ? badge(`${errors} ERROR`, 'ERROR') : differs ? badge(`${differs} DIFFERS`, 'DIFFERS') : badge('PASS');
  const legend = `<section class="lab"><h2>stacks</h2><ul class="stacks">${m.stacks.map((s) => `<li><b>${esc(s.id)}</b>: ${esc(stackLine(s))}${s.unavailable ? ` — <b>unavailable: ${esc(s.unavailable)}</b>` : ''}</li>`).join('')}</ul>` +
    `<p class="note">Each case's shaded row links, per stack, its ladder (the lab's text report) and its pcap. ≠ marks a check where the stacks observed different values; hover a cell for what was expected and the rule. "—": the stack made no such check.</p>` +
    `<p>labs: ${m.labs.map((l) => `<a href="#lab-${esc(l)}">${esc(l)}</a>`).join(' · ')}</p></section>`;
  const meta = `${esc(m.startedAt)} · ${m.stacks.length} stack(s) · ${m.labs.length} lab(s) · ${differingRows(m).length} row(s) where stacks differ`;
  return htmlPage({ title: 'tcplab matrix', verdict, meta, body: legend + matrixView(m).map(tableHtml).join('\n'), css: CSS });
}
