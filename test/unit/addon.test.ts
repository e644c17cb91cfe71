// The addon against its declared interface (src/wire/addon.ts) and the shared record layouts
// (native/layout.json -> native/layout.h + src/wire/layout.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ABI_VERSION, ADDON_EXPORTS } from '../../src/wire/addon.js';
import { BatchOutStride, LAYOUT_HASH } from '../../src/wire/layout.js';
import { addonPath, checkAddon, native, packageRoot } from '../../src/wire/native.js';

const require = createRequire(import.meta.url);
const GEN = join(packageRoot(), 'scripts', 'gen-layout.mjs');

describe('native addon interface', () => {
  it('the build exports exactly the declared functions, with their types', () => {
    const raw = require(addonPath()) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(Object.keys(ADDON_EXPORTS).sort());
    for (const [name, type] of Object.entries(ADDON_EXPORTS)) expect(typeof raw[name], name).toBe(type);
    expect(native().abiVersion).toBe(ABI_VERSION);
  });

  it('a stale addon is refused with an error naming the fix', () => {
    const good = require(addonPath()) as Record<string, unknown>;
    const fix = /rebuild it: `npm run build:native`/;
    expect(() => checkAddon({ ...good, abiVersion: ABI_VERSION + 1 }, '/x/tcplab.node')).toThrow(/abiVersion 2, this code needs 1/);
    expect(() => checkAddon({ ...good, abiVersion: 0 }, '/x/tcplab.node')).toThrow(fix);
    expect(() => checkAddon({ ...good, layoutHash: 1 }, '/x/tcplab.node')).toThrow(/record layout 0x1, src\/wire\/layout.ts has/);
    const { decodeBatch: _gone, ...noBatch } = good;
    expect(() => checkAddon(noBatch, '/x/tcplab.node')).toThrow(/has no function decodeBatch: .*npm run build:native/);
    expect(() => checkAddon(undefined, '/x/tcplab.node')).toThrow(fix);
    expect(checkAddon(good, '/x/tcplab.node')).toBe(good);
  });
});

describe('shared record layouts', () => {
  it('native/layout.h and src/wire/layout.ts are generated from native/layout.json (not stale)', () => {
    // exits 1 naming the stale file
    execFileSync(process.execPath, [GEN, '--check'], { stdio: 'pipe' });
  });

  it('the staleness check fails on a hand-edited generated file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-layout-'));
    try {
      for (const f of ['native/layout.json', 'native/layout.h', 'src/wire/layout.ts']) {
        mkdirSync(join(dir, dirname(f)), { recursive: true });
        copyFileSync(join(packageRoot(), f), join(dir, f));
      }
      writeFileSync(join(dir, 'native/layout.h'), readFileSync(join(dir, 'native/layout.h'), 'utf8').replace('sport = 1,', 'sport = 2,'));
      const r = spawnSync(process.execPath, [GEN, '--check', '--root', dir], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/native\/layout.h: stale against native\/layout.json; run `npm run gen:layout`/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the built addon uses the same layouts as this TypeScript', () => {
    expect(native().layoutHash).toBe(LAYOUT_HASH);
    expect(native().batchOutStride).toBe(BatchOutStride);
  });
});
