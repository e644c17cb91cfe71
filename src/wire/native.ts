// Loads the compiled addon and checks it is the one this code was written against (src/wire/addon.ts).
// TCPLAB_ADDON overrides the path (the builds test loads both builds; .ci/sanitize the ASan one).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ABI_VERSION, ADDON_EXPORTS, type NativeAddon } from './addon.js';
import { LAYOUT_HASH } from './layout.js';

export type { NativeAddon } from './addon.js';

const require = createRequire(import.meta.url);

/** The package root: the nearest folder upwards holding package.json (works from src/ and dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('tcplab: cannot find the package root (package.json + binding.gyp)');
    dir = up;
  }
}

/**
 * TCPLAB_ADDON, else the local build (build/Release, what `npm run build` makes), else the prebuilt N-API
 * binary shipped in the package (prebuilds/linux-x64, made by prebuildify on `npm pack`).
 */
export function addonPath(): string {
  const fromEnv = process.env.TCPLAB_ADDON;
  if (fromEnv) return resolve(fromEnv);
  const root = packageRoot();
  const built = join(root, 'build', 'Release', 'tcplab.node');
  const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'tcplab.node');
  return existsSync(built) || !existsSync(prebuilt) ? built : prebuilt;
}

/**
 * The addon's exports checked against the declared interface: an old build (other ABI, other record
 * layouts, a missing export) would otherwise fail later as garbage fields or "not a function".
 */
export function checkAddon(addon: unknown, path: string): NativeAddon {
  const fix = `it is stale or from another version of tcplab; rebuild it: \`npm run build:native\``;
  if (addon === null || typeof addon !== 'object') throw new Error(`tcplab: ${path} is not the tcplab addon; ${fix}`);
  const a = addon as Record<string, unknown>;
  if (a.abiVersion !== ABI_VERSION) {
    throw new Error(`tcplab: the native addon ${path} has abiVersion ${String(a.abiVersion)}, this code needs ${ABI_VERSION}: ${fix}`);
  }
  if (a.layoutHash !== LAYOUT_HASH) {
    const got = typeof a.layoutHash === 'number' ? `0x${a.layoutHash.toString(16)}` : 'none';
    throw new Error(`tcplab: the native addon ${path} has record layout ${got}, src/wire/layout.ts has 0x${LAYOUT_HASH.toString(16)} (native/layout.json): ${fix}`);
  }
  for (const [name, type] of Object.entries(ADDON_EXPORTS)) {
    if (typeof a[name] !== type) throw new Error(`tcplab: the native addon ${path} has no ${type} ${name}: ${fix}`);
  }
  return addon as NativeAddon;
}

let cached: NativeAddon | undefined;

/** The raw addon, checked on first use. src/wire wraps it in typed APIs. */
export function native(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!existsSync(p)) {
    throw new Error(`tcplab: the native addon is not built (${p} is missing). Run \`npm run build\` (needs python3, make, g++).`);
  }
  cached = checkAddon(require(p), p);
  return cached;
}
