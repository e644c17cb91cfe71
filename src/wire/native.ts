// Loads the compiled addon. TCPLAB_ADDON overrides the path (the builds test loads both builds).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

let cached: NativeAddon | undefined;

/** The raw addon. Its functions are typed loosely here; src/wire wraps them in typed APIs. */
export function native(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!existsSync(p)) {
    throw new Error(`tcplab: the native addon is not built (${p} is missing). Run \`npm run build\` (needs python3, make, g++).`);
  }
  cached = require(p) as NativeAddon;
  return cached;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeAddon = { abiVersion: number } & Record<string, any>;
