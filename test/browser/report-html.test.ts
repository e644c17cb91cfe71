// The HTML report in a real browser: Debian's Chromium, headless, no network. Checks that the page
// renders (SVG ladders with arrows, checks, no console errors, nothing fetched) and saves screenshots to
// test-artifacts/ for a person to look at.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectFile, inspectToJson } from '../../src/inspect/index.js';
import { renderHtml } from '../../src/report/html.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';

const ARTIFACTS = resolve(import.meta.dirname, '..', '..', 'test-artifacts');
const dir = mkdtempSync(join(tmpdir(), 'tcplab-browser-'));
let chromium = '';

function findChromium(): string {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return '';
}

beforeAll(() => {
  chromium = findChromium();
  if (!chromium && process.getuid?.() === 0) {
    // Debian's package; the registry mirror is the only network this machine has.
    spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1)'], { stdio: 'ignore', timeout: 900_000 });
    chromium = findChromium();
  }
  if (!chromium) throw new Error('chromium is not installed: apt-get install -y chromium (the browser tests need it)');
  mkdirSync(ARTIFACTS, { recursive: true });
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function browse(file: string, mode: { dumpDom: true } | { screenshot: string; height: number }) {
  const profile = mkdtempSync(join(dir, 'profile-'));
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--no-default-browser-check', '--disable-extensions', `--user-data-dir=${profile}`,
    '--enable-logging=stderr', '--v=0', '--hide-scrollbars',
    ...('dumpDom' in mode ? ['--dump-dom'] : [`--screenshot=${mode.screenshot}`, `--window-size=1280,${mode.height}`]),
    `file://${file}`,
  ];
  const r = spawnSync(chromium, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  // Page console messages are logged as CONSOLE(...) lines; CSP blocks and failed loads say so too.
  const pageErrors = r.stderr.split('\n').filter((l) => /CONSOLE|Refused to|Uncaught|net::ERR_/.test(l));
  return { dom: r.stdout, stderr: r.stderr, status: r.status, pageErrors };
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

    const png = join(ARTIFACTS, 'report.png');
    rmSync(png, { force: true });
    const shot = browse(file, { screenshot: png, height: 3400 });
    expect(shot.pageErrors).toEqual([]);
    expect(existsSync(png)).toBe(true);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
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
    const png = join(ARTIFACTS, 'inspect.png');
    rmSync(png, { force: true });
    browse(file, { screenshot: png, height: 1700 });
    expect(statSync(png).size).toBeGreaterThan(30_000);
  });
});
