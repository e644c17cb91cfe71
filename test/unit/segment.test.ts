import { describe, expect, it } from 'vitest';
import { decode, encode, encodeEthernet, toSpec } from '../../src/wire/segment.js';
import { formatFlags } from '../../src/wire/flags.js';
import { native } from '../../src/wire/native.js';
import type { NativeSegmentSpec } from '../../src/wire/addon.js';
import type { DecodeResult, Segment, SegmentSpec, TcpOption } from '../../src/wire/types.js';

const base: SegmentSpec = { src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 80, seq: 1000, flags: 'S' };
const base6: SegmentSpec = { ...base, src: 'fd00:7c9::1', dst: 'fd00:7c9::2' };

function ok(r: DecodeResult): Segment {
  if (!r.ok) throw new Error(`decode failed at ${r.layer}: ${r.error}`);
  return r.segment;
}

/** The options a spec encodes to, with the NOP/EOL padding the encoder adds. */
function padded(opts: readonly TcpOption[]): TcpOption[] {
  const len = (o: TcpOption): number => {
    switch (o.kind) {
      case 'mss': return 4;
      case 'wscale': return 3;
      case 'sackOk': return 2;
      case 'sack': return 2 + 8 * o.blocks.length;
      case 'ts': return 10;
      case 'nop': case 'eol': return 1;
      case 'raw': return 2 + o.data.length;
    }
  };
  const out = [...opts];
  let n = opts.reduce((s, o) => s + len(o), 0);
  const last = opts[opts.length - 1];
  // After an EOL the padding is zero bytes, which the decoder treats as part of the EOL.
  if (last?.kind === 'eol') return out;
  while (n % 4) { out.push({ kind: 'nop' }); n++; }
  return out;
}

const norm = (opts: TcpOption[]) => opts.map((o) => (o.kind === 'raw' ? { ...o, data: Buffer.from(o.data) } : o));

describe('encode: header layout', () => {
  it('writes a plain IPv4 SYN byte for byte', () => {
    const b = encode({ ...base, ip: { id: 0x1234, ttl: 63 } });
    expect(b.toString('hex')).toBe(
      '45000028' + '12344000' + '3f06' + b.subarray(10, 12).toString('hex') + 'c6120001' + 'c6120002' +
      '9c400050' + '000003e8' + '00000000' + '5002ffff' + b.subarray(36, 38).toString('hex') + '0000',
    );
    // A known-good IPv4 header checksum for these fields, computed by hand (RFC 1071).
    let s = 0;
    for (let i = 0; i < 20; i += 2) if (i !== 10) s += b.readUInt16BE(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    expect(b.readUInt16BE(10)).toBe(~s & 0xffff);
  });

  it('writes IPv6 traffic class, flow label and hop limit', () => {
    const b = encode({ ...base6, ip: { ttl: 7, tos: 0xb8, flowLabel: 0xabcde } });
    expect(b.length).toBe(60);
    expect(b.readUInt32BE(0)).toBe((6 << 28 | 0xb8 << 20 | 0xabcde) >>> 0);
    expect(b.readUInt16BE(4)).toBe(20);
    expect(b[6]).toBe(6);
    expect(b[7]).toBe(7);
  });

  it('pads options with NOPs, or zeros after an explicit EOL', () => {
    const a = encode({ ...base, options: [{ kind: 'wscale', shift: 7 }] });
    expect(a.subarray(40).toString('hex')).toBe('03030701');
    const e = encode({ ...base, options: [{ kind: 'mss', value: 1460 }, { kind: 'eol' }] });
    expect(e.subarray(40).toString('hex')).toBe('020405b400000000');
    expect(e[32]! >> 4).toBe(7);
  });

  it('clears DF when asked and keeps the IPv4 id', () => {
    const s = ok(decode(encode({ ...base, ip: { df: false, id: 777 } }), 'raw'));
    expect(s.ip).toEqual({ ttl: 64, id: 777, df: false, tos: 0, flowLabel: 0 });
  });
});

describe('encode/decode round trip', () => {
  const optionSets: TcpOption[][] = [
    [],
    [{ kind: 'mss', value: 1460 }],
    [{ kind: 'mss', value: 0 }, { kind: 'mss', value: 65535 }],
    [{ kind: 'wscale', shift: 14 }],
    [{ kind: 'sackOk' }],
    [{ kind: 'sack', blocks: [[1, 2]] }],
    [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[0xfffffff0, 5], [10, 20], [30, 40], [50, 60]] }],
    [{ kind: 'ts', val: 0xffffffff, ecr: 0 }],
    [{ kind: 'nop' }],
    [{ kind: 'eol' }],
    [{ kind: 'raw', type: 34, data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }],
    [{ kind: 'raw', type: 254, data: new Uint8Array([0xf9, 0x89]) }, { kind: 'raw', type: 200, data: new Uint8Array() }],
    // Linux's SYN: mss, sackOk, ts, nop, wscale
    [{ kind: 'mss', value: 65495 }, { kind: 'sackOk' }, { kind: 'ts', val: 123, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
  ];

  for (const [i, options] of optionSets.entries()) {
    for (const fam of [base, base6]) {
      it(`options set ${i} over IPv${fam === base ? 4 : 6}`, () => {
        const spec: SegmentSpec = { ...fam, options, ack: 42, flags: 'S.', window: 1234, payload: 'abc' };
        const bytes = encode(spec);
        const r = decode(bytes, 'raw');
        const s = ok(r);
        expect(norm(s.options)).toEqual(norm(padded(options)));
        expect(s.seq).toBe(1000);
        expect(s.ack).toBe(42);
        expect(s.window).toBe(1234);
        expect(Buffer.from(s.payload).toString()).toBe('abc');
        expect(s.checksum.tcp).toBe('ok');
        expect(s.checksum.ip).toBe(fam === base ? 'ok' : 'unchecked');
        const unknown = options.filter((o) => o.kind === 'raw').length;
        expect(r.ok && r.warnings.length).toBe(unknown);
        expect(encode(toSpec(s)).equals(bytes)).toBe(true);
      });
    }
  }

  it('round-trips every flags byte, and the decoder notation matches formatFlags', () => {
    for (let bits = 0; bits < 256; bits++) {
      const s = ok(decode(encode({ ...base, flags: bits, urg: bits }), 'raw'));
      expect(s.flagBits).toBe(bits);
      expect(s.flags).toBe(formatFlags(bits));
      expect(s.urg).toBe(bits);
    }
  });

  it('round-trips tcpdump strings and flag-name lists', () => {
    const cases: Array<[SegmentSpec['flags'], string]> = [
      ['S', 'S'], ['S.', 'S.'], ['.S', 'S.'], ['F.', 'F.'], ['R', 'R'], ['R.', 'R.'], ['P.', 'P.'], ['FP.', 'FP.'],
      ['SEW', 'SEW'], ['.U', '.U'], ['', 'none'], [['SYN', 'ACK'], 'S.'], [['FIN', 'PSH', 'ACK'], 'FP.'], [[], 'none'],
    ];
    for (const [flags, want] of cases) expect(ok(decode(encode({ ...base, flags }), 'raw')).flags).toBe(want);
  });

  it('encodes payload strings as utf8 and binary payloads as is', () => {
    expect(Buffer.from(ok(decode(encode({ ...base, payload: 'héllo ✓' }), 'raw')).payload).toString('utf8')).toBe('héllo ✓');
    const bin = new Uint8Array(1400).map((_, i) => (i * 7) & 0xff);
    const s = ok(decode(encode({ ...base6, payload: bin }), 'raw'));
    expect(Buffer.from(s.payload).equals(Buffer.from(bin))).toBe(true);
    expect(s.ipLength).toBe(40 + 20 + 1400);
  });

  it('takes a payload view with an offset into a larger buffer', () => {
    const big = Buffer.from('xxxxHELLOyyyy');
    const s = ok(decode(encode({ ...base, payload: big.subarray(4, 9) }), 'raw'));
    expect(Buffer.from(s.payload).toString()).toBe('HELLO');
  });

  it('decodes Ethernet, 802.1Q and SLL framings of the same datagram', () => {
    const mac = { srcMac: '02:00:00:00:00:01', dstMac: '02-00-00-00-00-02' };
    const eth = encodeEthernet({ ...base, flags: 'P.', payload: 'x' }, mac);
    expect(eth.subarray(0, 14).toString('hex')).toBe('020000000002' + '020000000001' + '0800');
    const s1 = ok(decode(eth, 'ethernet'));
    expect(s1.flags).toBe('P.');
    const ip = eth.subarray(14);
    const vlan = Buffer.concat([eth.subarray(0, 12), Buffer.from('8100006408 00'.replace(/ /g, ''), 'hex'), ip]);
    expect(ok(decode(vlan, 'ethernet'))).toEqual(s1);
    const sll = Buffer.concat([Buffer.from('00000001000602000000000100000800', 'hex'), ip]);
    expect(ok(decode(sll, 'sll'))).toEqual(s1);
    // Ethernet minimum-size padding after the datagram is ignored
    const padded60 = Buffer.concat([encodeEthernet(base, mac), Buffer.alloc(6)]);
    expect(ok(decode(padded60, 'ethernet')).payload.length).toBe(0);
    const e6 = encodeEthernet(base6, mac);
    expect(e6.readUInt16BE(12)).toBe(0x86dd);
    expect(ok(decode(e6, 'ethernet')).family).toBe(6);
  });
});

describe('checksums', () => {
  it("'bad' TCP and IP checksums are detected by the decoder, and are deterministic", () => {
    for (const fam of [base, base6]) {
      for (let seq = 0; seq < 300; seq++) {
        const good = encode({ ...fam, seq });
        const bad = encode({ ...fam, seq, checksum: 'bad' });
        expect(bad.equals(encode({ ...fam, seq, checksum: 'bad' }))).toBe(true);
        const off = fam === base ? 36 : 56;
        expect(bad.readUInt16BE(off)).not.toBe(good.readUInt16BE(off));
        const r = decode(bad, 'raw');
        expect(ok(r).checksum.tcp).toBe('bad');
        expect(r.ok && r.warnings.some((w) => w.includes('tcp checksum bad'))).toBe(true);
        expect(ok(decode(good, 'raw')).checksum.tcp).toBe('ok');
      }
    }
    const r = ok(decode(encode({ ...base, ipChecksum: 'bad' }), 'raw'));
    expect(r.checksum).toMatchObject({ ip: 'bad', tcp: 'ok' });
  });

  it('an explicit checksum value is written as given', () => {
    const good = encode(base);
    const right = good.readUInt16BE(36);
    const b = encode({ ...base, checksum: 0xbeef, ipChecksum: 0x1234 });
    expect(b.readUInt16BE(36)).toBe(0xbeef);
    expect(b.readUInt16BE(10)).toBe(0x1234);
    expect(ok(decode(b, 'raw')).checksum).toEqual({ ip: 'bad', tcp: right === 0xbeef ? 'ok' : 'bad', tcpValue: 0xbeef });
    expect(ok(decode(encode({ ...base, checksum: right }), 'raw')).checksum.tcp).toBe('ok');
  });

  it("reports 'offloaded' instead of checking when the capture says so", () => {
    expect(ok(decode(encode({ ...base, checksum: 'bad' }), 'raw', { offloaded: true })).checksum.tcp).toBe('offloaded');
  });
});

describe('decoder robustness', () => {
  it('reports unknown and malformed options as warnings', () => {
    const b = encode({ ...base, options: [{ kind: 'raw', type: 2, data: new Uint8Array([1, 2, 3]) }] });
    const r = decode(b, 'raw');
    expect(r.ok && r.warnings.join()).toMatch(/kind 2 has length 5/);
    expect(ok(r).options[0]).toMatchObject({ kind: 'raw', type: 2 });
    // length byte running past the header: parsing stops with a warning
    const m = Buffer.from(encode({ ...base, options: [{ kind: 'mss', value: 1 }] }));
    m[41] = 9;
    m.writeUInt16BE(0, 36);
    const rm = decode(m, 'raw');
    expect(rm.ok && rm.warnings.join()).toMatch(/bad length 9/);
  });

  it('reports fragments, non-TCP, bad versions and short frames with the layer reached', () => {
    const frag = Buffer.from(encode(base));
    frag.writeUInt16BE(0x2000, 6);
    expect(decode(frag, 'raw')).toMatchObject({ ok: false, layer: 'ipv4', error: expect.stringMatching(/fragment/) });
    const udp = Buffer.from(encode(base));
    udp[9] = 17;
    expect(decode(udp, 'raw')).toMatchObject({ ok: false, layer: 'ipv4', error: expect.stringMatching(/protocol 17/) });
    expect(decode(Buffer.from([0x50]), 'raw')).toMatchObject({ ok: false, layer: 'none' });
    expect(decode(Buffer.alloc(10), 'ethernet')).toMatchObject({ ok: false, layer: 'none' });
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    expect(decode(arp, 'ethernet')).toMatchObject({ ok: false, layer: 'ethernet', error: expect.stringMatching(/0x0806/) });
    expect(decode(encode(base).subarray(0, 30), 'raw')).toMatchObject({ ok: false, error: expect.stringMatching(/truncated/) });
    expect(decode('nope' as unknown as Uint8Array, 'raw')).toMatchObject({ ok: false });
    expect(decode(encode(base), 'token-ring' as 'raw')).toMatchObject({ ok: false, error: expect.stringMatching(/link/) });
  });

  it('skips IPv4 options (with a warning) and checks the whole header checksum', () => {
    const b = encode({ ...base, payload: 'z' });
    const withOpts = Buffer.concat([b.subarray(0, 20), Buffer.from([1, 1, 1, 0]), b.subarray(20)]);
    withOpts[0] = 0x46;
    withOpts.writeUInt16BE(b.length + 4, 2);
    withOpts.writeUInt16BE(0, 10);
    let sum = 0;
    for (let i = 0; i < 24; i += 2) sum += withOpts.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    withOpts.writeUInt16BE(~sum & 0xffff, 10);
    const r = decode(withOpts, 'raw');
    expect(ok(r)).toMatchObject({ sport: 40000, checksum: { ip: 'ok', tcp: 'ok' }, ipLength: b.length + 4 });
    expect(r.ok && r.warnings).toEqual(['ipv4 options (4 bytes) skipped']);
    withOpts[21] = 7; // an option byte is covered by the header checksum
    expect(ok(decode(withOpts, 'raw')).checksum.ip).toBe('bad');
  });

  it('handles QinQ (802.1ad + 802.1Q) and non-IP SLL frames', () => {
    const ip = encode(base);
    const qinq = Buffer.concat([Buffer.alloc(12, 2), Buffer.from('88a80001810000020800', 'hex'), ip]);
    expect(ok(decode(qinq, 'ethernet')).seq).toBe(1000);
    const sllArp = Buffer.concat([Buffer.from('00000001000602000000000100000806', 'hex'), Buffer.alloc(28)]);
    expect(decode(sllArp, 'sll')).toMatchObject({ ok: false, layer: 'sll', error: expect.stringMatching(/0x0806/) });
  });

  it('skips IPv6 extension headers and rejects the fragment header', () => {
    const b = encode({ ...base6, payload: 'q' });
    const hbh = Buffer.from('0600000000000000', 'hex'); // next header TCP, 8 bytes, Pad1 options
    const withExt = Buffer.concat([b.subarray(0, 40), hbh, b.subarray(40)]);
    withExt[6] = 0; // hop-by-hop
    withExt.writeUInt16BE(b.readUInt16BE(4) + 8, 4);
    const s = ok(decode(withExt, 'raw'));
    expect(Buffer.from(s.payload).toString()).toBe('q');
    expect(s.checksum.tcp).toBe('ok');
    for (const ext of [43, 60]) { // routing, destination options: same 8-byte layout
      const other = Buffer.from(withExt);
      other[6] = ext;
      expect(ok(decode(other, 'raw')).sport).toBe(40000);
    }
    const udp = Buffer.from(withExt);
    udp[40] = 17;
    expect(decode(udp, 'raw')).toMatchObject({ ok: false, layer: 'ipv6', error: expect.stringMatching(/next header 17/) });
    const frag = Buffer.from(withExt);
    frag[6] = 44;
    expect(decode(frag, 'raw')).toMatchObject({ ok: false, layer: 'ipv6', error: expect.stringMatching(/fragment/) });
  });

  it('never throws on any truncation of valid frames', () => {
    const frames: Array<[Buffer, 'raw' | 'ethernet']> = [
      [encode({ ...base, options: [{ kind: 'mss', value: 1460 }, { kind: 'sack', blocks: [[1, 2], [3, 4]] }], payload: 'xyz' }), 'raw'],
      [encode({ ...base6, options: [{ kind: 'ts', val: 1, ecr: 2 }], payload: 'xyz' }), 'raw'],
      [encodeEthernet(base, { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' }), 'ethernet'],
    ];
    for (const [f, link] of frames) {
      for (let n = 0; n < f.length; n++) {
        const r = decode(f.subarray(0, n), link);
        expect(r.ok).toBe(false);
      }
      expect(decode(f, link).ok).toBe(true);
    }
  });

  it('never throws on thousands of random mutations (seeded)', () => {
    let x = 0x12345678;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8);
    const seeds = [
      encode({ ...base, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }, { kind: 'ts', val: 9, ecr: 8 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }], payload: 'hello' }),
      encode({ ...base6, options: [{ kind: 'sack', blocks: [[1, 2]] }], payload: 'hello' }),
    ];
    let oks = 0;
    for (let i = 0; i < 5000; i++) {
      const f = Buffer.from(seeds[i % 2]!);
      for (let k = 1 + (rnd() % 4); k > 0; k--) f[rnd() % f.length] = rnd() & 0xff;
      const len = rnd() % 3 === 0 ? rnd() % (f.length + 1) : f.length;
      const r = decode(f.subarray(0, len), (['raw', 'ethernet', 'sll'] as const)[rnd() % 3]!);
      expect(typeof r.ok).toBe('boolean');
      if (r.ok) {
        oks++;
        expect(r.segment.ipLength).toBeLessThanOrEqual(len);
      } else {
        expect(r.error.length).toBeGreaterThan(0);
      }
    }
    for (let i = 0; i < 2000; i++) {
      const g = Buffer.alloc(rnd() % 120).map(() => rnd() & 0xff);
      if (g.length > 0 && i % 2) g[0] = 0x45;
      expect(() => decode(g, 'raw')).not.toThrow();
    }
    expect(oks).toBeGreaterThan(100); // mutations that miss the headers still decode
  });
});

describe('encode: bad input names the field', () => {
  const cases: Array<[string, Partial<SegmentSpec> | Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp]> = [
    ['seq 2^32', { seq: 2 ** 32 }, RangeError, /^seq: must be an integer 0\.\.4294967295, got 4294967296$/],
    ['seq -1', { seq: -1 }, RangeError, /^seq:/],
    ['seq NaN', { seq: NaN }, TypeError, /^seq: .*got NaN/],
    ['seq 1.5', { seq: 1.5 }, TypeError, /^seq:/],
    ['seq string', { seq: '1' }, TypeError, /^seq: .*got '1'/],
    ['seq missing', { seq: undefined }, TypeError, /^seq: .*undefined/],
    ['ack 2^32', { ack: 2 ** 32 }, RangeError, /^ack:/],
    ['sport -1', { sport: -1 }, RangeError, /^sport:/],
    ['dport 65536', { dport: 65536 }, RangeError, /^dport:/],
    ['window 70000', { window: 70000 }, RangeError, /^window: must be an integer 0\.\.65535, got 70000/],
    ['urg Infinity', { urg: Infinity }, TypeError, /^urg:/],
    ['unknown flag letter', { flags: 'SX' }, TypeError, /^flags: unknown flag letter 'X'/],
    ['unknown flag name', { flags: ['SYN', 'NOPE'] }, TypeError, /^flags:/],
    ['flags 256', { flags: 256 }, RangeError, /^flags:/],
    ['bad src', { src: '198.18.0.300' }, TypeError, /^src:/],
    ['bad dst', { dst: 'example.com' }, TypeError, /^dst:/],
    ['mixed families', { dst: 'fd00::2' }, TypeError, /^dst: is IPv6 but src is IPv4/],
    ['ttl 256', { ip: { ttl: 256 } }, RangeError, /^ip\.ttl:/],
    ['id 65536', { ip: { id: 65536 } }, RangeError, /^ip\.id:/],
    ['tos -1', { ip: { tos: -1 } }, RangeError, /^ip\.tos:/],
    ['df string', { ip: { df: 'yes' } }, TypeError, /^ip\.df:/],
    ['flowLabel on IPv4', { ip: { flowLabel: 1 } }, TypeError, /^ip\.flowLabel: is IPv6 only/],
    ['checksum 70000', { checksum: 70000 }, RangeError, /^checksum:/],
    ['checksum word', { checksum: 'wrong' }, TypeError, /^checksum: must be 'auto', 'bad'/],
    ['ipChecksum word', { ipChecksum: 'good' }, TypeError, /^ipChecksum:/],
    ['options not array', { options: { kind: 'mss' } }, TypeError, /^options:/],
    ['option kind', { options: [{ kind: 'mss', value: 1 }, { kind: 'tfo' }] }, TypeError, /^options\[1\]\.kind:/],
    ['mss 65536', { options: [{ kind: 'mss', value: 65536 }] }, RangeError, /^options\[0\]\.value:/],
    ['wscale 256', { options: [{ kind: 'wscale', shift: 256 }] }, RangeError, /^options\[0\]\.shift:/],
    ['sack 5 blocks', { options: [{ kind: 'sack', blocks: [[1, 2], [1, 2], [1, 2], [1, 2], [1, 2]] }] }, RangeError, /^options\[0\]\.blocks: must hold 1\.\.4/],
    ['sack bad pair', { options: [{ kind: 'sack', blocks: [[1]] }] }, TypeError, /^options\[0\]\.blocks\[0\]:/],
    ['sack edge 2^32', { options: [{ kind: 'sack', blocks: [[1, 2 ** 32]] }] }, RangeError, /^options\[0\]\.blocks\[0\]\[1\]:/],
    ['ts val', { options: [{ kind: 'ts', val: -1, ecr: 0 }] }, RangeError, /^options\[0\]\.val:/],
    ['raw data 39 bytes', { options: [{ kind: 'raw', type: 99, data: new Uint8Array(39) }] }, RangeError, /^options\[0\]\.data:/],
    ['raw data string', { options: [{ kind: 'raw', type: 99, data: 'x' }] }, TypeError, /^options\[0\]\.data:/],
    ['options > 40 bytes', { options: [{ kind: 'ts', val: 1, ecr: 1 }, { kind: 'ts', val: 1, ecr: 1 }, { kind: 'ts', val: 1, ecr: 1 }, { kind: 'ts', val: 1, ecr: 1 }, { kind: 'nop' }] }, RangeError, /^options: take 41 bytes/],
    ['payload too large v4', { payload: new Uint8Array(65536 - 40) }, RangeError, /^payload: .*at most 65495/],
    ['payload type', { payload: 42 }, TypeError, /^payload:/],
    ['ip not object', { ip: 5 }, TypeError, /^ip:/],
  ];
  for (const [name, patch, cls, msg] of cases) {
    it(name, () => {
      const spec = { ...base, ...patch } as SegmentSpec;
      let err: unknown;
      try { encode(spec); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('IPv6: payload limit, id and ipChecksum are rejected by name', () => {
    expect(() => encode({ ...base6, payload: new Uint8Array(65535 - 20) })).not.toThrow();
    expect(() => encode({ ...base6, payload: new Uint8Array(65535 - 19) })).toThrow(/^payload:/);
    expect(() => encode({ ...base6, ip: { id: 1 } })).toThrow(/^ip\.id:/);
    expect(() => encode({ ...base6, ipChecksum: 'bad' })).toThrow(/^ipChecksum:/);
    expect(() => encode({ ...base6, ip: { flowLabel: 0x100000 } })).toThrow(RangeError);
    expect(() => encode({ ...base, payload: new Uint8Array(65535 - 40) })).not.toThrow();
  });

  it('the native encoder itself rejects a non-numeric flags value and a non-object spec', () => {
    expect(() => native().encode({ ...base, flags: 'S' } as unknown as NativeSegmentSpec)).toThrow(/^flags: the native encoder takes the flags byte/);
    expect(() => native().encode(null as unknown as NativeSegmentSpec)).toThrow(TypeError);
    expect(() => encode(null as unknown as SegmentSpec)).toThrow(/^spec:/);
  });
});
