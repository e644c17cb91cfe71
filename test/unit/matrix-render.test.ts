// The matrix renderers over a fixed result: short cells, the evidence links once per case row (the
// same in Markdown, HTML and JSON), an HTML page that fetches nothing, and the JSON shape people parse.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdMatrix } from '../../src/cli/matrix.js';
import { differingRows, matrixHtml, matrixMarkdown, type MatrixResult } from '../../src/matrix/matrix.js';
import { CELL_MAX, matrixView } from '../../src/matrix/view.js';

function sample(): MatrixResult {
  const long = 'connected after RST + SYN again, then a very long explanation of what happened on the wire';
  return {
    schema: 'tcplab.matrix/1',
    startedAt: '2026-01-01T00:00:00Z',
    labs: ['l', 'two-hosts'],
    stacks: [
      { id: 'a', title: 'A kernel', stack: { os: 'linux', release: '6.18', version: [6, 18, 0] }, startMs: 10 },
      { id: 'b', title: 'B stack', stack: { os: 'slirp', release: '4.7.0', version: [4, 7, 0] }, startMs: 100, unsupported: { 'two-hosts': 'b has no partner link' } },
      { id: 'c', title: 'C stack', unavailable: 'runsc is not installed' },
    ],
    rows: [
      { lab: 'l', case: 'x', caseTitle: 'case x <b>', check: 'answer', checkTitle: 'the answer', errors: {}, cells: {
        a: { observed: 'SYN-ACK', verdict: 'PASS', expected: '"SYN-ACK"', rule: 'linux *', pcap: 'a/l-x.pcap', report: 'a/l.txt' },
        b: { observed: 'RST', verdict: 'DIFFERS', expected: '"ACK"', rule: 'slirp *', pcap: 'b/l-x.pcap', report: 'b/l.txt' },
      } },
      { lab: 'l', case: 'x', caseTitle: 'case x <b>', check: 'tw', checkTitle: 'a|b', errors: {}, cells: {
        a: { observed: true, verdict: 'PASS', expected: 'true', rule: 'linux *', pcap: 'a/l-x.pcap', report: 'a/l.txt' },
        b: { observed: long, verdict: 'PASS', expected: JSON.stringify(long), rule: 'slirp *', pcap: 'b/l-x.pcap', report: 'b/l.txt' },
      } },
      { lab: 'l', case: 'y', caseTitle: 'case y', check: 'n', checkTitle: 'a number', errors: {}, cells: {
        a: { observed: 4, verdict: 'PASS', expected: '>= 1', rule: 'linux *', pcap: 'a/l-y.pcap', report: 'a/l.txt' },
      } },
      { lab: 'l', case: 'y', caseTitle: 'case y', check: '(case)', checkTitle: 'the case ran', cells: {}, errors: { b: 'guest died | badly' } },
    ],
    reports: {},
  };
}

const links = (s: string) => [...s.matchAll(/\]\(([^)]+)\)/g)].map((x) => x[1]!);
const hrefs = (s: string) => [...s.matchAll(/href="([^"]+)"/g)].map((x) => x[1]!).filter((h) => !h.startsWith('#'));

describe('matrix Markdown', () => {
  const md = matrixMarkdown(sample());
  const lines = md.split('\n');

  it('one short cell per behaviour: the value, DIFFERS with what was expected, long values cut', () => {
    expect(md).toContain('| case / check | a | b | c |');
    expect(md).toContain('| the answer | SYN-ACK | **DIFFERS**: RST (expected "ACK") | unavailable |');
    const tw = lines.find((l) => l.startsWith('| a\\|b |'))!;
    expect(tw).toBeDefined();
    const cells = tw.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    expect(cells[1]).toBe('true');
    expect(cells[2]!.length).toBeLessThanOrEqual(CELL_MAX);
    expect(cells[2]).toMatch(/^connected after RST \+ SYN again.*…$/);
    expect(md).toContain('| ERROR: guest died \\| badly |');
  });

  it('links sit in the case rows only, one ladder and one pcap per stack, none in a check row', () => {
    const caseRows = lines.filter((l) => l.startsWith('| **'));
    expect(caseRows).toHaveLength(2);
    expect(caseRows[0]).toBe('| **case x <b>** | [ladder](a/l.txt) · [pcap](a/l-x.pcap) | [ladder](b/l.txt) · [pcap](b/l-x.pcap) |  |');
    for (const l of lines.filter((x) => x.startsWith('| ') && !x.startsWith('| **'))) expect(links(l), l).toEqual([]);
    expect(links(md)).toHaveLength(6); // case x: 2 stacks × 2, case y: 1 stack × 2
  });

  it('without links (for a table pasted elsewhere) the case rows stay, empty', () => {
    const plain = matrixMarkdown(sample(), { links: false });
    expect(links(plain)).toEqual([]);
    expect(plain).toContain('| **case x <b>** |  |  |  |');
  });

  it('says why a stack did not run a lab, once above the table', () => {
    expect(md).toContain('lab:two-hosts did not run on b: b has no partner link.');
    expect(md).toContain('**unavailable: runsc is not installed**');
  });
});

describe('matrix HTML', () => {
  const m = sample();
  const html = matrixHtml(m);

  it('is self-contained: no external URL, no script, a CSP that forbids fetching', () => {
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
    for (const h of hrefs(html)) expect(h, h).not.toMatch(/^[a-z][\w+.-]*:/i);
  });

  it('has the same links as the Markdown, and escapes what comes from a lab', () => {
    expect(hrefs(html)).toEqual(links(matrixMarkdown(m)));
    expect(html).toContain('case x &lt;b&gt;');
    expect(html).not.toContain('case x <b>');
  });

  it('colours a cell by verdict, keeps the full text in its tooltip, marks rows where stacks differ', () => {
    expect(html).toContain('<td class="cell DIFFERS" title="observed &quot;RST&quot;, expected &quot;ACK&quot; (slirp *)">DIFFERS: RST (expected &quot;ACK&quot;)</td>');
    expect(html).toContain('then a very long explanation');
    expect(html.match(/<tr class="varies">/g)).toHaveLength(differingRows(m).length);
  });
});

describe('matrix JSON', () => {
  it('keeps schema tcplab.matrix/1 and its field names (what people parse)', () => {
    const j = JSON.parse(JSON.stringify(sample())) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['labs', 'reports', 'rows', 'schema', 'stacks', 'startedAt']);
    expect(j.schema).toBe('tcplab.matrix/1');
    const row = (j.rows as Array<Record<string, unknown>>)[0]!;
    expect(Object.keys(row).sort()).toEqual(['case', 'caseTitle', 'cells', 'check', 'checkTitle', 'errors', 'lab']);
    const cell = (row.cells as Record<string, Record<string, unknown>>).a!;
    expect(Object.keys(cell).sort()).toEqual(['expected', 'observed', 'pcap', 'report', 'rule', 'verdict']);
  });

  it('its cells name the same files the Markdown links', () => {
    const m = sample();
    const fromJson = new Set(m.rows.flatMap((r) => Object.values(r.cells).flatMap((c) => [c.report, c.pcap])).filter(Boolean));
    expect(new Set(links(matrixMarkdown(m)))).toEqual(fromJson);
  });
});

describe('matrix view', () => {
  it('groups rows by case in order and takes each stack\'s links from its cells', () => {
    const [t] = matrixView(sample());
    expect(t!.cases.map((c) => [c.id, c.rows.length])).toEqual([['x', 2], ['y', 2]]);
    expect(t!.cases[1]!.links).toEqual([{ ladder: 'a/l.txt', pcap: 'a/l-y.pcap' }, {}, {}]);
  });
});

describe('tcplab matrix --render', () => {
  it('writes the Markdown and HTML again from a run\'s matrix.json, without root or a run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-matrix-render-'));
    try {
      const json = JSON.stringify(sample(), null, 2) + '\n';
      writeFileSync(join(dir, 'matrix.json'), json);
      expect(await cmdMatrix(['--render', dir])).toBe(0);
      expect(readFileSync(join(dir, 'matrix.md'), 'utf8')).toBe(matrixMarkdown(sample()));
      expect(readFileSync(join(dir, 'matrix.html'), 'utf8')).toBe(matrixHtml(sample()));
      expect(readFileSync(join(dir, 'matrix.json'), 'utf8')).toBe(json);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
