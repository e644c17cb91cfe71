// The HTML report in a real browser: Debian's Chromium, headless, no network. Checks that the page
// renders (SVG ladders with arrows, checks, no console errors, nothing fetched), that it is made for a
// classroom (measured in the page: no text under 14 px at 1024, 1280 and 1920 px wide, the ladder
// growing with the window, every finding marker linking to its card) and saves screenshots to
// .ci/artifacts/ for a person to look at.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectFile, inspectToJson } from '../../src/inspect/index.js';
import { renderHtml } from '../../src/report/html.js';
import { matrixHtml } from '../../src/matrix/html.js';
import type { MatrixResult } from '../../src/matrix/types.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';
import { ARTIFACTS, browse as open, findChromium, pngSize, type BrowseMode } from '../helpers/chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-browser-'));
let chromium = '';

beforeAll(() => {
  chromium = findChromium();
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const browse = (file: string, mode: BrowseMode) => open(chromium, dir, file, mode);

/**
 * Measures a page as rendered: the smallest font of any visible text (HTML, and SVG text scaled by how
 * the ladder is drawn), the ladders' widths, in-page links without a target. The page's own CSP forbids
 * scripts, so the measured copy gets a CSP that allows this one inline script and nothing else.
 */
const MEASURE = `<script>
const out = { minHtml: 1e9, minHtmlAt: '', minSvg: 1e9, minSvgAt: '', svgWidths: [], markers: 0, missing: [], overflow: 0 };
for (const el of document.body.querySelectorAll('*')) {
  if (el.closest('svg') || el.tagName === 'SCRIPT') continue;
  if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  if (!el.getBoundingClientRect().width) continue; // not rendered (a closed <details>)
  const fs = parseFloat(getComputedStyle(el).fontSize);
  if (fs < out.minHtml) { out.minHtml = fs; out.minHtmlAt = el.tagName + ': ' + el.textContent.trim().slice(0, 50); }
}
for (const svg of document.querySelectorAll('svg.ladder')) {
  const w = svg.getBoundingClientRect().width;
  out.svgWidths.push(Math.round(w));
  const scale = w / svg.viewBox.baseVal.width;
  for (const t of svg.querySelectorAll('text')) {
    const fs = parseFloat(getComputedStyle(t).fontSize) * scale;
    if (fs < out.minSvg) { out.minSvg = fs; out.minSvgAt = t.getAttribute('class') + ': ' + t.textContent.slice(0, 50); }
  }
}
for (const a of document.querySelectorAll('a[href^="#"]')) {
  if (!document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)))) out.missing.push(a.getAttribute('href'));
}
out.markers = document.querySelectorAll('svg a.marker').length;
out.overflow = document.documentElement.scrollWidth - innerWidth;
const pre = document.createElement('pre'); pre.id = 'tcplab-metrics'; pre.textContent = JSON.stringify(out); document.body.append(pre);
</script>`;

interface Metrics { minHtml: number; minHtmlAt: string; minSvg: number; minSvgAt: string; svgWidths: number[]; markers: number; missing: string[]; overflow: number }

function measure(html: string, name: string, width: number): Metrics {
  const file = join(dir, `${name}-measure-${width}.html`);
  const csp = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`;
  expect(html).toContain(csp);
  writeFileSync(file, html.replace(csp, csp.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")).replace('</body>', `${MEASURE}</body>`));
  const { dom, pageErrors } = browse(file, { dumpDom: true, width, height: 900 });
  expect(pageErrors).toEqual([]);
  const m = /<pre id="tcplab-metrics">([^<]*)<\/pre>/.exec(dom);
  expect(m, 'the measuring script ran').toBeTruthy();
  if (process.env.TCPLAB_MEASURE_LOG) console.log(name, width, m![1]);
  return JSON.parse(m![1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')) as Metrics;
}

describe('HTML report in Chromium', () => {
  it('lab report: story, ladders with arrows, verdicts with evidence; no errors, nothing fetched', async () => {
    const json = await sampleReportJson();
    const html = renderHtml(json);
    // Self-contained: no scripts, no external stylesheets, images or fonts.
    expect(html).not.toMatch(/<script|<link |<img |@import|url\((?!#)/i);
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const { dom, pageErrors, status } = browse(file, { dumpDom: true });
    expect(status).toBe(0);
    expect(pageErrors).toEqual([]);
    expect(dom).toContain('A SYN meets TIME-WAIT');
    const ladders = dom.match(/<svg class="ladder"/g) ?? [];
    expect(ladders).toHaveLength(2);
    // Every packet of both cases becomes one arrow (the real capture's 20, the synthetic 14).
    expect((dom.match(/<line class="arrow"/g) ?? []).length).toBe(20 + 14);
    expect(dom).toMatch(/class="check DIFFERS"/);
    expect(dom).toMatch(/class="check PASS"/);
    expect(dom).toContain('EPERM: raw sockets need root');
    expect(dom).toContain('TcpExt.PAWSActive');
    expect(dom).toContain('href="tcplab-out/timewait-syn-newer-isn.pcap"');
    expect(dom).toContain('6.18.0-test');
    expect(dom).toContain('net.ipv4.tcp_tw_reuse');
    expect(dom).toContain('a # sign and "quotes"');
    // Each side's state and the TIME-WAIT findings, worked out from the case's packets.
    expect(dom).toMatch(/<text class="state"[^>]*>TIME-WAIT<\/text>/);
    expect(dom).toContain('⚑ tw-syn-rejected-ack: SYN on a 4-tuple in TIME-WAIT, answered by an ACK');
    expect(dom).toContain('⚑ tw-syn-accepted');
    // Each marker is a link to its finding's card, and the card links back to the ladder.
    expect(dom).toMatch(/<a class="marker" href="#finding-timewait-syn-older-isn-1"><text class="note finding"/);
    expect(dom).toContain('<article class="check finding" id="finding-timewait-syn-older-isn-1">');
    expect(dom).toContain('<a href="#case-timewait-syn-older-isn-ladder">↑ to the ladder</a>');

    const png = join(ARTIFACTS, 'report.png');
    rmSync(png, { force: true });
    const shot = browse(file, { screenshot: png, height: 3400 });
    expect(shot.pageErrors).toEqual([]);
    expect(existsSync(png)).toBe(true);
    expect(pngSize(png)).toEqual([1280, 3400]);
    expect(statSync(png).size).toBeGreaterThan(50_000); // a blank page is a few KB
    writeFileSync(join(ARTIFACTS, 'report.html'), html);
  });

  it('the console check is real: a page that logs an error and throws is caught', () => {
    const file = join(dir, 'bad.html');
    writeFileSync(file, '<!doctype html><p>x</p><script>console.error("tcplab-boom"); notDefinedAnywhere();</script>');
    const { pageErrors } = browse(file, { dumpDom: true });
    expect(pageErrors.some((l) => l.includes('tcplab-boom'))).toBe(true);
    expect(pageErrors.some((l) => l.includes('notDefinedAnywhere'))).toBe(true);
  });

  it('inspect report: states, incarnations and findings render', async () => {
    const r = await inspectFile(join(import.meta.dirname, '..', 'fixtures', 'inspect-twserver.cap'));
    const html = renderHtml(inspectToJson(r));
    const file = join(dir, 'inspect.html');
    writeFileSync(file, html);
    const { dom, pageErrors, status } = browse(file, { dumpDom: true });
    expect(status).toBe(0);
    expect(pageErrors).toEqual([]);
    expect((dom.match(/<line class="arrow"/g) ?? []).length).toBe(20);
    expect(dom).toContain('TIME-WAIT');
    expect(dom).toContain('tw-syn-accepted');
    expect(dom).toContain('tcp_timewait_state_process()');
    expect(dom).toMatch(/── incarnation 2, 1\.700 s after incarnation 1 closed ──/);
    expect(dom).toMatch(/<a class="marker" href="#finding-1-1"><text class="note finding"/);
    expect(dom).toContain('<article class="check DIFFERS" id="finding-1-1">');
    const png = join(ARTIFACTS, 'inspect.png');
    rmSync(png, { force: true });
    expect(browse(file, { screenshot: png, height: 1700 }).pageErrors).toEqual([]);
    expect(pngSize(png)).toEqual([1280, 1700]);
    expect(statSync(png).size).toBeGreaterThan(30_000);
  });
});

describe('made for a classroom (measured in Chromium)', () => {
  const pages = async (): Promise<Array<[string, string]>> => {
    const inspect = await inspectFile(join(import.meta.dirname, '..', 'fixtures', 'inspect-twserver.cap'));
    const matrix = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'matrix', 'matrix.json'), 'utf8')) as MatrixResult;
    return [['report', renderHtml(await sampleReportJson())], ['inspect', renderHtml(inspectToJson(inspect))], ['matrix', matrixHtml(matrix)]];
  };

  it('no text under 14 px at 1024, 1280 and 1920 px; the ladder grows with the window; no page-wide scroll', async () => {
    for (const [name, html] of await pages()) {
      const byWidth = [1024, 1280, 1920].map((w) => [w, measure(html, name, w)] as const);
      for (const [w, m] of byWidth) {
        expect(m.minHtml, `${name} at ${w} px: ${m.minHtmlAt}`).toBeGreaterThanOrEqual(14);
        if (m.svgWidths.length) expect(m.minSvg, `${name} at ${w} px: ${m.minSvgAt}`).toBeGreaterThanOrEqual(14 - 1e-6);
        // The page itself never scrolls sideways (a ladder or table wider than the window scrolls in its box).
        expect(m.overflow, `${name} at ${w} px`).toBeLessThanOrEqual(0);
      }
      if (name !== 'matrix') {
        const [, narrow] = byWidth[1]!;
        const [, wide] = byWidth[2]!;
        expect(narrow.svgWidths.length).toBeGreaterThan(0);
        // Fluid: at 1920 px the ladder is drawn wider than at 1280 px (no fixed page or ladder width).
        expect(wide.svgWidths[0]!).toBeGreaterThan(narrow.svgWidths[0]! + 400);
      }
    }
  });

  it('every finding marker in a ladder links to its card, and every in-page link has a target', async () => {
    for (const [name, html] of await pages()) {
      const m = measure(html, name, 1280);
      expect(m.missing, name).toEqual([]);
      if (name !== 'matrix') expect(m.markers, `${name}: finding markers`).toBeGreaterThan(0);
    }
  });
});
