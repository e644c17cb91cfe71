// tcplab serve in headless Chromium (driven over the DevTools pipe), a real lab as root: the page loads
// with no console errors and fetches nothing but its own server; one "next" click runs one step; the
// ladder gains the arrows that step caused; verdicts appear. Screenshots at two moments go to
// .ci/artifacts/ for a person to look at. Closing the page stops the server, the lab cleaned up.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { CLI } from '../helpers/labrun.js';
import { Cdp } from '../helpers/cdp.js';
import { ARTIFACTS, findChromium } from '../helpers/chromium.js';
import { tcplabNamespaces } from '../helpers/leftovers.js';
import { readJournals } from '../../src/testbed/journal.js';
import { runIdOf } from '../../src/testbed/names.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-classroom-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let chromium = '';
let server: ChildProcess | undefined;
let browser: Cdp | undefined;

beforeAll(() => {
  chromium = findChromium();
}, 900_000);
afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('tcplab serve in Chromium', () => {
  requireRoot();

  it('loads cleanly; each next click runs one step; the ladder gains that step\'s arrows; verdicts appear', async () => {
    server = spawn(process.execPath, [CLI, 'serve', '--grace', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let serr = '';
    server.stderr!.on('data', (d: Buffer) => (serr += d.toString()));
    const exited = new Promise<number | null>((r) => server!.once('exit', (c) => r(c)));
    const url = await new Promise<string>((res) => createInterface({ input: server!.stdout! }).once('line', res));
    const origin = new URL(url).origin;

    browser = Cdp.launch(chromium, join(dir, 'profile'));
    const problems: string[] = [];
    const requests: string[] = [];
    browser.on((method, p) => {
      if (method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(p.type)) problems.push(`console.${p.type}: ${JSON.stringify(p.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description))}`);
      if (method === 'Runtime.exceptionThrown') problems.push(`exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
      if (method === 'Log.entryAdded' && ['error', 'warning'].includes(p.entry.level)) problems.push(`log: ${p.entry.text}`);
      if (method === 'Network.requestWillBeSent') requests.push(p.request.url);
      if (method === 'Network.loadingFailed' && !p.canceled) problems.push(`failed: ${p.errorText}`);
    });
    const page = await browser.page();
    for (const d of ['Runtime.enable', 'Log.enable', 'Page.enable', 'Network.enable']) await page(d);
    await page('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1700, deviceScaleFactor: 1, mobile: false });
    await page('Page.navigate', { url });

    const js = async (expr: string) => (await page('Runtime.evaluate', { expression: expr, returnByValue: true })).result.value;
    const until = async (expr: string, ms = 30_000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (await js(expr)) return;
        await sleep(100);
      }
      throw new Error(`page: not true within ${ms} ms: ${expr}\nstatus: ${await js("document.getElementById('status').textContent")}\nserver: ${serr.slice(-2000)}`);
    };
    /** A real mouse click in the middle of an element. */
    const click = async (id: string) => {
      const r = await js(`(() => { const b = document.getElementById('${id}').getBoundingClientRect(); return { x: b.x + b.width / 2, y: b.y + b.height / 2 }; })()`);
      for (const type of ['mousePressed', 'mouseReleased']) await page('Input.dispatchMouseEvent', { type, x: r.x, y: r.y, button: 'left', clickCount: 1 });
    };
    const shot = async (name: string) => {
      const png = join(ARTIFACTS, name);
      const { data } = await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
      writeFileSync(png, Buffer.from(data, 'base64'));
      expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
      expect(statSync(png).size).toBeGreaterThan(40_000); // a blank page is a few KB
    };
    const arrows = "document.querySelectorAll('#ladder line.arrow').length";
    const labels = async (): Promise<string[]> => js("[...document.querySelectorAll('#ladder g.pkt text.lbl')].map((t) => t.textContent)");
    const steps = "document.querySelectorAll('#steps li').length";
    const waitingFor = (n: number) => `document.getElementById('steptitle').textContent === 'next: step ${n}' && !document.getElementById('next').disabled`;

    // The labs are listed; choose reuse / bound-reuse0 as a teacher would, and run it.
    await until("document.getElementById('lab').options.length > 5 && document.getElementById('status').textContent === 'ready'");
    expect(await js("[...document.getElementById('lab').options].map((o) => o.value)")).toContain('timewait-syn');
    await js("(() => { const l = document.getElementById('lab'); l.value = 'reuse'; l.dispatchEvent(new Event('change')); document.getElementById('case').value = 'bound-reuse0'; })()");
    await click('run');
    await until(waitingFor(1));
    expect(await js("document.getElementById('story').textContent")).toContain('case bound-reuse0');
    expect(await js("document.getElementById('reasons').textContent")).toMatch(/Passive open/);
    expect(await js(arrows)).toBe(0);

    // One click, one step: step 1 (listen) sends nothing; step 2 is held.
    await click('next');
    await until(waitingFor(2));
    expect(await js(steps)).toBe(1);
    await sleep(500);
    expect(await js(arrows)).toBe(0);
    expect(await js("document.getElementById('sysctls').textContent")).toContain('net.ipv4.tcp_tw_reuse');
    await shot('classroom-1-step2-waiting.png');

    // Step 2 (connect, close first): the handshake and the close appear, then its verdict.
    await click('next');
    await until(waitingFor(3));
    expect(await js(steps)).toBe(2);
    const after2 = await labels();
    expect(after2.length).toBeGreaterThanOrEqual(6);
    expect(after2[0]).toMatch(/^S seq 0 /);
    expect(after2[1]).toMatch(/^S\. seq 0 ack 1 /);
    expect(after2.some((l) => l.startsWith('F'))).toBe(true);
    expect(await js("document.getElementById('ladder').textContent")).toContain('TIME-WAIT');
    expect(await js("[...document.querySelectorAll('#checks li .badge')].map((b) => b.textContent)")).toEqual(['PASS']);
    await shot('classroom-2-step2-done.png');

    // Step 3 (bind without SO_REUSEADDR) sends nothing; step 4 (the reconnect) adds a new handshake.
    await click('next');
    await until(waitingFor(4));
    expect(await labels()).toEqual(after2);
    await click('next');
    await until("document.getElementById('status').textContent.startsWith('done')", 60_000);
    const after4 = await labels();
    expect(after4.slice(0, after2.length)).toEqual(after2);
    expect(after4[after2.length]).toMatch(/^S seq 0 /);
    expect(await js("document.getElementById('verdict').textContent")).toBe('PASS');
    expect((await js("[...document.querySelectorAll('#checks li .badge')].map((b) => b.textContent)")).length).toBeGreaterThanOrEqual(4);

    expect(problems).toEqual([]);
    // Nothing but the page itself and its own server.
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) expect(r.startsWith(origin + '/')).toBe(true);
    // The watchers are real: a console error and a fetch the CSP blocks are both caught.
    await js("console.error('tcplab-boom'); const i = document.createElement('img'); i.src = 'http://198.18.0.9/x.png'; document.body.append(i);");
    await sleep(500);
    expect(problems.some((p) => p.includes('tcplab-boom'))).toBe(true);
    expect(problems.some((p) => /Content Security Policy|Refused to load/.test(p))).toBe(true);

    // Closing the page (the browser) stops the server after its grace period.
    await browser.close();
    browser = undefined;
    expect(await Promise.race([exited, sleep(20_000).then(() => 'hung')])).toBe(0);
    expect(serr).toMatch(/stopping: the page went away/);
  }, 180_000);

  it('closing the page mid-step stops the lab and removes its namespaces', async () => {
    server = spawn(process.execPath, [CLI, 'serve', '--grace', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const pid = server.pid!;
    const exited = new Promise<number | null>((r) => server!.once('exit', (c) => r(c)));
    const url = await new Promise<string>((res) => createInterface({ input: server!.stdout! }).once('line', res));
    browser = Cdp.launch(chromium, join(dir, 'profile2'));
    const page = await browser.page();
    await page('Page.navigate', { url });
    const js = async (expr: string) => (await page('Runtime.evaluate', { expression: expr, returnByValue: true })).result.value;
    for (let i = 0; i < 300 && !(await js("document.getElementById('status').textContent === 'ready'")); i++) await sleep(100);
    await js("(() => { const l = document.getElementById('lab'); l.value = 'reuse'; l.dispatchEvent(new Event('change')); document.getElementById('case').value = 'bound-reuse0'; document.getElementById('run').click(); })()");
    for (let i = 0; i < 300 && !(await js("!document.getElementById('next').disabled")); i++) await sleep(100);
    const runs = readJournals().filter((j) => j.pid === pid).map((j) => j.runId);
    const mine = () => tcplabNamespaces().filter((n) => runs.includes(runIdOf(n) ?? ''));
    expect(mine().length).toBeGreaterThan(0);
    await browser.close();
    browser = undefined;
    expect(await Promise.race([exited, sleep(20_000).then(() => 'hung')])).toBe(0);
    expect(mine()).toEqual([]);
    expect(existsSync(join('/run/tcplab', `${runs[0]}.json`))).toBe(false);
  }, 90_000);
});
