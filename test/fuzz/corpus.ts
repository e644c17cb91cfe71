// Seeds for the fuzzer: every frame of the real captures in test/fixtures and test/fuzz/corpus (the latter
// written by `tcplab run reuse|timewait-syn|duplicate --pcap`), plus encoder output covering each option
// kind, both families and the three link types decode() knows.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePcapBuffer } from '../../src/wire/pcap.js';
import { decodableFrame, parsePcapng } from '../../src/inspect/capture.js';
import { encode } from '../../src/wire/segment.js';
import type { LinkType, SegmentSpec } from '../../src/wire/types.js';

export interface SeedFrame {
  link: LinkType;
  data: Buffer;
  origin: string;
}

export interface SeedFile {
  name: string;
  format: 'pcap' | 'pcapng';
  data: Buffer;
}

export interface Corpus {
  frames: SeedFrame[];
  files: SeedFile[];
}

const ROOT = new URL('../../', import.meta.url).pathname;
// From dist-test/test/fuzz the repository is two levels further up.
const repoRoot = (): string => (ROOT.endsWith('/dist-test/') ? ROOT.slice(0, -'dist-test/'.length) : ROOT);

export const SEED_DIRS = ['test/fixtures', 'test/fuzz/corpus'];

export function seedFiles(): SeedFile[] {
  const out: SeedFile[] = [];
  for (const dir of SEED_DIRS) {
    const abs = join(repoRoot(), dir);
    for (const name of readdirSync(abs).sort()) {
      if (!/\.(cap|pcap|pcapng)$/.test(name)) continue;
      const data = readFileSync(join(abs, name));
      out.push({ name: `${dir}/${name}`, format: data.readUInt32LE(0) === 0x0a0d0d0a ? 'pcapng' : 'pcap', data });
    }
  }
  return out;
}

function framesOf(f: SeedFile): SeedFrame[] {
  let cap: Array<{ data: Uint8Array; linkType: number }>;
  if (f.format === 'pcapng') cap = parsePcapng(f.data, f.name).frames;
  else {
    const p = parsePcapBuffer(f.data, f.name);
    cap = p.records.map((r) => ({ data: r.data, linkType: p.linkType }));
  }
  const out: SeedFrame[] = [];
  for (const fr of cap) {
    const d = decodableFrame(fr.linkType, fr.data);
    if ('skip' in d) continue;
    out.push({ link: d.link, data: Buffer.from(d.data), origin: f.name });
  }
  return out;
}

const ETH_V4 = Buffer.from('02000000000202000000000108 00'.replace(/ /g, ''), 'hex');
const ETH_V6 = Buffer.from('02000000000202000000000186dd', 'hex');
const SLL = (proto: number) => {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(4, 0); // sent by us
  b.writeUInt16BE(1, 2);
  b.writeUInt16BE(6, 4);
  b.writeUInt16BE(proto, 14);
  return b;
};

function synthSpecs(): SegmentSpec[] {
  const base = { src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 8080, seq: 1000 };
  const v6 = { src: 'fd00::1', dst: 'fd00::2', sport: 40000, dport: 8080, seq: 0xfffffff0 };
  const opts: SegmentSpec['options'][] = [
    [],
    [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, { kind: 'ts', val: 1, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
    [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6]] }],
    [{ kind: 'raw', type: 34, data: Buffer.from('0102030405060708', 'hex') }, { kind: 'eol' }],
    [{ kind: 'ts', val: 0xffffffff, ecr: 0x80000000 }, { kind: 'nop' }, { kind: 'nop' }],
  ];
  const out: SegmentSpec[] = [];
  for (const o of opts) {
    out.push({ ...base, flags: 'S', options: o });
    out.push({ ...base, flags: 'P.', ack: 5, options: o, payload: 'hello world' });
    out.push({ ...v6, flags: 'F.', options: o, ip: { flowLabel: 0xfffff, tos: 0xb8 } });
    out.push({ ...base, flags: 'R', checksum: 'bad', ipChecksum: 'bad', urg: 1, options: o });
  }
  return out;
}

export function synthFrames(): SeedFrame[] {
  const out: SeedFrame[] = [];
  for (const spec of synthSpecs()) {
    const ip = encode(spec);
    const v6 = ip[0]! >> 4 === 6;
    out.push({ link: 'raw', data: ip, origin: 'encode' });
    out.push({ link: 'ethernet', data: Buffer.concat([v6 ? ETH_V6 : ETH_V4, ip]), origin: 'encode' });
    out.push({ link: 'sll', data: Buffer.concat([SLL(v6 ? 0x86dd : 0x0800), ip]), origin: 'encode' });
  }
  return out;
}

export function buildCorpus(): Corpus {
  const files = seedFiles();
  return { files, frames: [...files.flatMap(framesOf), ...synthFrames()] };
}
