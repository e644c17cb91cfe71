// Cross-checks the codec against Wireshark's dissector (tshark): on segments we encode, and on real
// Linux captures in test/fixtures (made by test/fixtures/capture.sh).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, readPcap } from '../../src/wire/pcap.js';
import { decode, encode, toSpec } from '../../src/wire/segment.js';
import { parseFlags } from '../../src/wire/flags.js';
import type { LinkType, Segment, SegmentSpec, TcpOption } from '../../src/wire/types.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

const FIELDS = [
  'ip.src', 'ipv6.src', 'ip.ttl', 'ipv6.hlim', 'ip.id', 'ip.flags.df', 'ip.dsfield', 'ipv6.tclass', 'ipv6.flow',
  'ip.checksum.status', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.window_size_value',
  'tcp.urgent_pointer', 'tcp.checksum', 'tcp.checksum.status', 'tcp.option_kind', 'tcp.options.mss_val',
  'tcp.options.wscale.shift', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr', 'tcp.options.sack_le',
  'tcp.options.sack_re', 'tcp.payload',
];

type Layers = Record<string, string[] | undefined>;

function tshark(path: string): Layers[] {
  const args = ['-r', path, '-T', 'json', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
    '-o', 'tcp.relative_sequence_numbers:FALSE', ...FIELDS.flatMap((f) => ['-e', f])];
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
  return (JSON.parse(out) as Array<{ _source: { layers: Layers } }>).map((p) => p._source.layers);
}

const one = (l: Layers, f: string) => l[f]?.[0];
const num = (l: Layers, f: string) => (l[f] === undefined ? undefined : Number(l[f]![0]));
const nums = (l: Layers, f: string) => (l[f] ?? []).map(Number);
const status = (s: string | undefined) => ({ '0': 'bad', '1': 'ok', '2': 'unchecked' })[s ?? '2'];

function optionKind(o: TcpOption): number {
  return { mss: 2, wscale: 3, sackOk: 4, sack: 5, ts: 8, nop: 1, eol: 0 }[o.kind as 'mss'] ?? (o as { type: number }).type;
}

/** Everything tshark says about one packet must agree with our decode of it. */
function agree(s: Segment, l: Layers) {
  expect(one(l, s.family === 4 ? 'ip.src' : 'ipv6.src')).toBe(s.src);
  expect(num(l, s.family === 4 ? 'ip.ttl' : 'ipv6.hlim')).toBe(s.ip.ttl);
  if (s.family === 4) {
    expect(num(l, 'ip.id')).toBe(s.ip.id);
    expect(num(l, 'ip.flags.df')).toBe(s.ip.df ? 1 : 0);
    expect(num(l, 'ip.dsfield')).toBe(s.ip.tos);
    expect(status(one(l, 'ip.checksum.status'))).toBe(s.checksum.ip);
  } else {
    expect(num(l, 'ipv6.tclass')).toBe(s.ip.tos);
    expect(num(l, 'ipv6.flow')).toBe(s.ip.flowLabel);
  }
  expect(num(l, 'tcp.srcport')).toBe(s.sport);
  expect(num(l, 'tcp.dstport')).toBe(s.dport);
  expect(num(l, 'tcp.seq_raw')).toBe(s.seq);
  // tshark omits ack_raw when the ACK flag is off
  if (s.flagBits & 0x10) expect(num(l, 'tcp.ack_raw')).toBe(s.ack);
  expect(num(l, 'tcp.flags')).toBe(s.flagBits);
  expect(num(l, 'tcp.window_size_value')).toBe(s.window);
  expect(num(l, 'tcp.urgent_pointer') ?? 0).toBe(s.urg);
  expect(num(l, 'tcp.checksum')).toBe(s.checksum.tcpValue);
  expect(status(one(l, 'tcp.checksum.status'))).toBe(s.checksum.tcp);
  // tshark lists each zero padding byte after an EOL as another EOL; we report the EOL once.
  const kinds = nums(l, 'tcp.option_kind');
  const eol = kinds.indexOf(0);
  expect(eol < 0 ? kinds : kinds.slice(0, eol + 1)).toEqual(s.options.map(optionKind));
  const of = <K extends TcpOption['kind']>(k: K) => s.options.filter((o): o is Extract<TcpOption, { kind: K }> => o.kind === k);
  expect(nums(l, 'tcp.options.mss_val')).toEqual(of('mss').map((o) => o.value));
  expect(nums(l, 'tcp.options.wscale.shift')).toEqual(of('wscale').map((o) => o.shift));
  expect(nums(l, 'tcp.options.timestamp.tsval')).toEqual(of('ts').map((o) => o.val));
  expect(nums(l, 'tcp.options.timestamp.tsecr')).toEqual(of('ts').map((o) => o.ecr));
  expect(nums(l, 'tcp.options.sack_le')).toEqual(of('sack').flatMap((o) => o.blocks.map((b) => b[0])));
  expect(nums(l, 'tcp.options.sack_re')).toEqual(of('sack').flatMap((o) => o.blocks.map((b) => b[1])));
  expect((one(l, 'tcp.payload') ?? '').replace(/:/g, '')).toBe(Buffer.from(s.payload).toString('hex'));
}

describe('tshark agrees with encode', () => {
  const v4 = { src: '198.18.3.4', dst: '198.19.255.1', sport: 51000, dport: 443 };
  const v6 = { src: '2001:2::10', dst: 'fd00:1:2::abcd', sport: 1, dport: 65535 };
  const specs: SegmentSpec[] = [
    { ...v4, seq: 0xfffffff0, flags: 'S', window: 64240, ip: { id: 4711, ttl: 1, tos: 0x10 },
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, { kind: 'ts', val: 0xdeadbeef, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }] },
    { ...v4, seq: 1, ack: 0xffffffff, flags: 'S.', window: 0, options: [{ kind: 'mss', value: 536 }] },
    { ...v4, seq: 100, ack: 200, flags: 'P.', payload: 'GET / HTTP/1.1\r\n\r\n', ip: { df: false } },
    { ...v4, seq: 100, ack: 200, flags: '.', options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[300, 400], [500, 600], [0xfffffff0, 16]] }] },
    { ...v4, seq: 5, ack: 6, flags: 'FP.U', urg: 3, payload: 'abc', checksum: 'bad' },
    { ...v4, seq: 5, flags: 'R', ipChecksum: 'bad' },
    { ...v4, seq: 5, flags: 'R.', ack: 9, checksum: 0x1234 },
    { ...v4, seq: 7, flags: ['SYN', 'ECE', 'CWR'], options: [{ kind: 'raw', type: 34, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }, { kind: 'eol' }] },
    { ...v6, seq: 42, flags: 'S', ip: { ttl: 255, tos: 0xb8, flowLabel: 0xfedcb }, options: [{ kind: 'mss', value: 1440 }, { kind: 'ts', val: 1, ecr: 2 }] },
    { ...v6, seq: 43, ack: 44, flags: 'F.', payload: new Uint8Array([0, 255, 1]), checksum: 'bad' },
  ];

  it('on seq/ack/flags/options/payload/checksum status of encoded segments', async () => {
    const p = join(dir, 'encoded.pcap');
    const w = await PcapWriter.open(p, { link: 'raw' });
    const bytes = specs.map((s) => encode(s));
    bytes.forEach((data, i) => w.write({ data, tsNs: BigInt(i) * 1000n }));
    await w.close();
    const layers = tshark(p);
    expect(layers.length).toBe(specs.length);
    specs.forEach((spec, i) => {
      const r = decode(bytes[i]!, 'raw');
      if (!r.ok) throw new Error(r.error);
      const s = r.segment;
      // the decode matches the spec...
      expect(s.seq).toBe(spec.seq);
      expect(s.flagBits).toBe(parseFlags(spec.flags));
      const { checksum: explicit, ...autoSpec } = spec;
      const right = decode(encode(autoSpec), 'raw');
      const rightValue = right.ok ? right.segment.checksum.tcpValue : -1;
      expect(s.checksum.tcp, `spec ${i}`).toBe(explicit === undefined || explicit === rightValue ? 'ok' : 'bad');
      if (explicit === 'bad') expect(s.checksum.tcpValue).not.toBe(rightValue);
      if (spec.ipChecksum === 'bad') expect(s.checksum.ip).toBe('bad');
      // ...and tshark reads the same bytes the same way
      agree(s, layers[i]!);
    });
  });
});

describe('real Linux captures (test/fixtures)', () => {
  const files: Array<[string, LinkType]> = [
    ['veth-conn-v4.cap', 'ethernet'], ['veth-conn-v6.cap', 'ethernet'], ['any-conn-v4-sll.cap', 'sll'],
    ['lo-conn-v4-partial-csum.cap', 'ethernet'],
  ];
  for (const [name, link] of files) {
    it(`${name}: decode agrees with tshark and re-encodes byte for byte`, async () => {
      const f = await readPcap(fixture(name));
      expect(f.link).toBe(link);
      expect(f.resolution).toBe('ns');
      const layers = tshark(fixture(name));
      expect(f.records.length).toBe(layers.length);
      expect(f.records.length).toBeGreaterThanOrEqual(8);
      const off = link === 'sll' ? 16 : 14;
      f.records.forEach((rec, i) => {
        const r = decode(rec.data, link);
        if (!r.ok) throw new Error(`${name}#${i + 1}: ${r.error}`);
        agree(r.segment, layers[i]!);
        const ip = Buffer.from(rec.data).subarray(off, off + r.segment.ipLength);
        expect(encode(toSpec(r.segment)).equals(ip)).toBe(true);
      });
    });
  }

  it("the Linux SYN: fields, options, and 'auto' checksums reproduce the kernel's bytes", async () => {
    const f = await readPcap(fixture('veth-conn-v4.cap'));
    const frame = f.records[0]!.data;
    const r = decode(frame, 'ethernet');
    if (!r.ok) throw new Error(r.error);
    const s = r.segment;
    expect(r.warnings).toEqual([]);
    expect(s).toMatchObject({
      family: 4, src: '198.18.0.1', dst: '198.18.0.2', dport: 40404, ack: 0, flags: 'S', flagBits: 2, window: 64240,
      urg: 0, ipLength: 60, ip: { ttl: 64, df: true, tos: 0, flowLabel: 0 }, checksum: { ip: 'ok', tcp: 'ok' },
    });
    expect(s.options.map((o) => o.kind)).toEqual(['mss', 'sackOk', 'ts', 'nop', 'wscale']);
    expect(s.options[0]).toEqual({ kind: 'mss', value: 1460 });
    expect(s.options[2]).toMatchObject({ kind: 'ts', ecr: 0 });
    expect(s.payload.length).toBe(0);
    const { checksum: _drop, ...spec } = toSpec(s); // let the encoder compute both checksums
    expect(encode(spec).equals(Buffer.from(frame).subarray(14))).toBe(true);
    // the SYN-ACK acknowledges it
    const sa = decode(f.records[1]!.data, 'ethernet');
    expect(sa.ok && sa.segment.flags).toBe('S.');
    expect(sa.ok && sa.segment.ack).toBe((s.seq + 1) >>> 0);
  });

  it('loopback leaves TCP checksums partial: bad unless the capture says offloaded', async () => {
    const f = await readPcap(fixture('lo-conn-v4-partial-csum.cap'));
    for (const rec of f.records) {
      const r = decode(rec.data, 'ethernet');
      expect(r.ok && r.segment.checksum).toMatchObject({ ip: 'ok', tcp: 'bad' });
      const o = decode(rec.data, 'ethernet', { offloaded: true });
      expect(o.ok && o.segment.checksum.tcp).toBe('offloaded');
      expect(o.ok && o.warnings).toEqual([]);
    }
  });
});
