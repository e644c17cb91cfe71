// Both builds of the addon (node-gyp: build/Release, cmake-js: build-cmake/Release) must load and agree.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NativeSegmentSpec } from '../../src/wire/addon.js';
import { checkAddon, packageRoot, type NativeAddon } from '../../src/wire/native.js';

const require = createRequire(import.meta.url);
const root = packageRoot();
const builds: Array<[string, string, string]> = [
  ['node-gyp', join(root, 'build', 'Release', 'tcplab.node'), 'npm run build:native'],
  ['cmake-js', join(root, 'build-cmake', 'Release', 'tcplab.node'), 'npm run build:cmake'],
];

function load(path: string, fix: string): NativeAddon {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`${fix}\` first`);
  // The declared interface, abiVersion and record layout are checked for both builds.
  return checkAddon(require(path), path);
}

const spec: NativeSegmentSpec = {
  src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 80, seq: 0xfffffffe, ack: 0, flags: 0x02, window: 64240,
  options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, { kind: 'ts', val: 7, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
};

describe('addon builds', () => {
  for (const [name, path, fix] of builds) {
    it(`${name}: encodes a SYN and decodes it back`, () => {
      const addon = load(path, fix);
      expect(addon.abiVersion).toBe(1);
      const bytes: Buffer = addon.encode(spec);
      expect(bytes.length).toBe(60);
      const r = addon.decode(bytes, 'raw');
      if (!r.ok) throw new Error(`decode failed: ${r.error}`);
      expect(r.segment).toMatchObject({
        src: spec.src, dst: spec.dst, sport: 40000, dport: 80, seq: 0xfffffffe, flags: 'S', flagBits: 2, window: 64240,
        options: spec.options, checksum: { ip: 'ok', tcp: 'ok' },
      });
      expect(() => addon.encode({ ...spec, seq: 2 ** 32 })).toThrow(RangeError);
    });
  }

  it('both builds produce the same bytes', () => {
    const [a, b] = builds.map(([, path, fix]) => load(path, fix));
    expect(Buffer.compare(a!.encode(spec), b!.encode(spec))).toBe(0);
  });
});
