import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectFile, inspectToJson } from '../../src/inspect/index.js';
import { matrixHtml } from '../../src/matrix/html.js';
import type { MatrixResult } from '../../src/matrix/types.js';
import { renderHtml } from '../../src/report/html.js';
import { addrOf, LADDER_WIDTH, SMALLEST_FONT, svgLadder } from '../../src/report/svg-ladder.js';
import { humanOffset, humanTime } from '../../src/report/time.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';

const root = join(import.meta.dirname, '..', '..');
const styleOf = (html: string) => /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;

/** Every font size a stylesheet sets, with its rule: `font-size: X` and the size inside a `font:` shorthand. */
function fontSizes(css: string): Array<{ rule: string; size: string }> {
  const out: Array<{ rule: string; size: string }> = [];
  for (const m of css.matchAll(/([^{}]+)\{([^}]*)\}/g)) {
    for (const d of m[2]!.split(';')) {
      const fs = /^\s*font-size\s*:\s*(.+?)\s*$/.exec(d);
      const f = /^\s*font\s*:\s*(.+?)\s*$/.exec(d);
      if (fs) out.push({ rule: m[1]!.trim(), size: fs[1]! });
      else if (f) out.push({ rule: m[1]!.trim(), size: /(max\([^)]*\)|[\d.]+(?:px|em|rem|%|pt))/.exec(f[1]!)?.[1] ?? `no size in '${f[1]}'` });
    }
  }
  return out;
}

/** A size in px when it is absolute (or max() with an absolute floor); else undefined. */
function px(size: string): number | undefined {
  const max = /^max\((.*)\)$/.exec(size);
  if (max) return Math.max(...max[1]!.split(',').map((x) => px(x.trim()) ?? -Infinity));
  const m = /^([\d.]+)px$/.exec(size);
  return m ? Number(m[1]) : undefined;
}

async function pages(): Promise<Array<[string, string]>> {
  const inspect = await inspectFile(join(root, 'test', 'fixtures', 'inspect-twserver.cap'));
  const matrix = JSON.parse(readFileSync(join(root, 'docs', 'matrix', 'matrix.json'), 'utf8')) as MatrixResult;
  return [['report', renderHtml(await sampleReportJson())], ['inspect', renderHtml(inspectToJson(inspect))], ['matrix', matrixHtml(matrix)]];
}

describe('HTML report (structure; the browser test renders it)', () => {
  it('escapes everything that comes from a lab or a capture', async () => {
    const j = await sampleReportJson();
    j.labs[0]!.cases[0]!.steps.push('<script>alert(1)</script> & "x"');
    const html = renderHtml(j);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;');
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
  });

  it('one arrow per distinct packet, the same packet captured twice drawn once', () => {
    const p = { tNs: '0', src: '198.18.0.1:1000', dst: '198.18.0.2:80', flags: 'S', seq: 5, ack: 0, win: 100, len: 0, options: '' };
    const q = { ...p, tNs: '1000', src: p.dst, dst: p.src, flags: 'S.', seq: 9, ack: 6 };
    const svg = svgLadder([p, { ...p, tNs: '10' }, q], [{ tNs: '500', text: 'a note' }]);
    expect(svg.match(/<line class="arrow"/g)).toHaveLength(2);
    expect(svg).toContain('S. seq 0 ack 1 win 100');
    expect(svg).toContain('a note');
    // left-to-right then right-to-left
    const xs = [...svg.matchAll(/<line class="arrow" x1="(\d+)"/g)].map((m) => Number(m[1]));
    expect(xs[0]!).toBeLessThan(xs[1]!);
  });

  it('three columns when the case names them: client, prober, server', () => {
    const p = { tNs: '0', src: '198.18.0.1:1000', dst: '198.18.0.2:80', flags: 'S', seq: 5, ack: 0, win: 100, len: 0, options: '' };
    const fromProber = { ...p, tNs: '100', src: '198.18.0.99:1000', flags: 'R' };
    const toProber = { ...p, tNs: '200', src: p.dst, dst: '198.18.0.99:1000', flags: '.' };
    const svg = svgLadder([p, fromProber, toProber], [], {
      columns: [{ label: 'client', addrs: ['198.18.0.1'] }, { label: 'prober', addrs: ['198.18.0.99'] }, { label: 'server', addrs: ['198.18.0.2'] }],
    });
    expect(svg.match(/<line class="life"/g)).toHaveLength(3);
    const arrows = [...svg.matchAll(/<line class="arrow" x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const lifelines = [...svg.matchAll(/<line class="life" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    const [l, mid, r] = lifelines as [number, number, number];
    expect(arrows[0]![0]).toBe(l); // client -> server spans the whole ladder
    expect(arrows[0]![1]).toBeCloseTo(r - 3);
    expect(arrows[1]![0]).toBe(mid); // prober -> server
    expect(arrows[2]).toEqual([r, mid + 3]); // server -> prober
    expect(svg).toContain('prober (198.18.0.99)');
  });

  it('addresses with ports, IPv6 too', () => {
    expect(addrOf('198.18.0.1:80')).toBe('198.18.0.1');
    expect(addrOf('fd00::1:80')).toBe('fd00::1');
    expect(addrOf('[fd00::1]:80')).toBe('fd00::1');
  });
});

describe('HTML for a classroom', () => {
  it('every font-size in the CSS (base, report, matrix and SVG ladder) is at least 14 px, none relative', async () => {
    for (const [name, html] of await pages()) {
      const sizes = fontSizes(styleOf(html));
      expect(sizes.length, name).toBeGreaterThan(10);
      const small = sizes.filter((s) => (px(s.size) ?? 0) < 14);
      expect(small, `${name}: font sizes under 14 px (or relative without a px floor)`).toEqual([]);
    }
    // The ladder's own smallest font, and how far SVG_CSS lets it shrink: never below 14 px on screen.
    const svgCss = styleOf(renderHtml(await sampleReportJson()));
    const ladderSizes = fontSizes(svgCss).filter((s) => s.rule.startsWith('svg.ladder')).map((s) => px(s.size)!);
    expect(Math.min(...ladderSizes)).toBe(SMALLEST_FONT);
    const minWidth = Number(/svg\.ladder \{[^}]*min-width: (\d+)px/.exec(svgCss)![1]);
    expect((minWidth / LADDER_WIDTH) * SMALLEST_FONT).toBeGreaterThanOrEqual(14);
    // The SVG sets no size of its own in attributes (the CSS decides; text has classes only).
    const svg = svgLadder([{ tNs: '0', src: '198.18.0.1:1', dst: '198.18.0.2:2', flags: 'S', seq: 1, ack: 0, win: 1, len: 0, options: 'mss 1460' }], [{ tNs: '1', text: 'n' }]);
    expect(svg).not.toMatch(/font-size=|style=/);
  });

  it('fluid: no fixed page width, the ladder fills its figure and scales with its viewBox', async () => {
    for (const [name, html] of await pages()) {
      const css = styleOf(html);
      expect(css, name).not.toMatch(/(?:^|[;{\s])(?:max-)?width\s*:\s*\d+(?:\.\d+)?px/);
    }
    const html = renderHtml(await sampleReportJson());
    expect(styleOf(html)).toMatch(/svg\.ladder \{[^}]*width: 100%;[^}]*height: auto/);
    expect(html).toMatch(/<svg class="ladder"[^>]* viewBox="0 0 1000 \d+"/);
  });

  it('each finding marker in a ladder links to its card; ids are unique', async () => {
    for (const [name, html] of await pages()) {
      const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]!);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i), `${name}: duplicate ids`).toEqual([]);
      const hrefs = [...html.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]!);
      expect(hrefs.filter((h) => !ids.includes(h)), `${name}: links without a target`).toEqual([]);
      const markers = [...html.matchAll(/<a class="marker" href="#([^"]+)"><text class="note finding"[^>]*>(?:<tspan[^>]*>)?⚑ /g)].map((m) => m[1]!);
      if (name === 'matrix') continue;
      // One marker per finding card, each pointing at a card (an <article> with that id).
      const cards = [...html.matchAll(/<article class="check (?:finding|DIFFERS)" id="(finding-[^"]+)"/g)].map((m) => m[1]!);
      expect(markers.length, name).toBeGreaterThan(0);
      expect([...markers].sort()).toEqual([...cards].sort());
    }
  });

  it('times read in s or ms: never µs or ns, never thousands of ms', async () => {
    expect(['0', '40', '42000', '1500000', '12345678', '250000000', '999999999', '1500000000', '61000000000'].map((n) => humanTime(n)))
      .toEqual(['0 ms', '<0.001 ms', '0.042 ms', '1.50 ms', '12.3 ms', '250 ms', '1.000 s', '1.500 s', '61.000 s']);
    expect(humanOffset(25_000_000n)).toBe('+25.0 ms');
    expect(humanTime(-2_000_000)).toBe('-2.00 ms');
    for (const [name, html] of await pages()) {
      const text = html.replace(/<[^>]+>/g, ' ');
      expect(text, name).not.toMatch(/\d\s*(?:µs|us|ns)\b/);
      expect(text.match(/\b\d{4,}(?:\.\d+)?\s*ms\b/g) ?? [], name).toEqual([]);
    }
    // The ladder's Δt column: the gap since the previous packet, in the unit its size calls for.
    const p = { tNs: '0', src: '198.18.0.1:1000', dst: '198.18.0.2:80', flags: 'S', seq: 5, ack: 0, win: 100, len: 0, options: '' };
    const svg = svgLadder([p, { ...p, tNs: '42000', src: p.dst, dst: p.src, flags: 'S.', ack: 6 }, { ...p, tNs: '1500042000', flags: '.', seq: 6, ack: 1 }], []);
    expect([...svg.matchAll(/<text class="dt"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['+0 ms', '+0.042 ms', '+1.500 s']);
  });
});
