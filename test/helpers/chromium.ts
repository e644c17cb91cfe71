// Debian's Chromium, headless, for the browser tests: find (or as root install) it, open a file with no
// network, and collect what the page logged. Screenshots go to .ci/artifacts/ (ignored by git) for CI to keep.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ARTIFACTS = resolve(import.meta.dirname, '..', '..', '.ci', 'artifacts');

function which(): string {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return '';
}

/** The browser's path; installs Debian's package as root when missing, else throws (never a silent skip). */
export function findChromium(): string {
  let chromium = which();
  if (!chromium && process.getuid?.() === 0) {
    // Debian's package; the registry mirror is the only network this machine has.
    spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1)'], { stdio: 'ignore', timeout: 900_000 });
    chromium = which();
  }
  if (!chromium) throw new Error('chromium is not installed: apt-get install -y chromium (the browser tests need it)');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium;
}

export type BrowseMode = { dumpDom: true; width?: number; height?: number } | { screenshot: string; width?: number; height: number };

/** Opens `file` headless in a fresh profile (under `tmp`); the page's console lines and load failures come back. */
export function browse(chromium: string, tmp: string, file: string, mode: BrowseMode) {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const size = `--window-size=${mode.width ?? 1280},${mode.height ?? 900}`;
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--no-default-browser-check', '--disable-extensions', `--user-data-dir=${profile}`,
    '--enable-logging=stderr', '--v=0', '--hide-scrollbars', size,
    ...('dumpDom' in mode ? ['--dump-dom'] : [`--screenshot=${mode.screenshot}`]),
    `file://${file}`,
  ];
  const r = spawnSync(chromium, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  // Page console messages are logged as CONSOLE(...) lines; CSP blocks and failed loads say so too.
  const pageErrors = r.stderr.split('\n').filter((l) => /CONSOLE|Refused to|Uncaught|net::ERR_/.test(l));
  return { dom: r.stdout, stderr: r.stderr, status: r.status, pageErrors };
}

/** A PNG's size from its IHDR chunk (after the 8-byte signature): [width, height]; throws if not a PNG. */
export function pngSize(file: string): [number, number] {
  const b = readFileSync(file);
  if (b.length < 24 || b.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a' || b.subarray(12, 16).toString() !== 'IHDR') {
    throw new Error(`${file} is not a PNG (${b.length} bytes)`);
  }
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}
