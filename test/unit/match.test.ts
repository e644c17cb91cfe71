// The BPF compiler is checked by running its programs over hand-built frames with the small interpreter
// (runBpf); the kernel runs the same programs in test/integration/wire.test.ts.
import { describe, expect, it } from 'vitest';
import { parseIp, parsePrefix, prefixContains } from '../../src/wire/addr.js';
import { compileMatch, runBpf } from '../../src/wire/bpf.js';
import { matchSegment, type Match } from '../../src/wire/match.js';
import type { Segment } from '../../src/wire/types.js';

interface F {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  /** IPv4 header option words (IHL = 5 + ipOpts). */
  ipOpts?: number;
  fragOff?: number;
}

function frame(f: F): Uint8Array {
  const s = parseIp(f.src)!;
  const d = parseIp(f.dst)!;
  const v6 = s.length === 16;
  const ipLen = v6 ? 40 : 20 + 4 * (f.ipOpts ?? 0);
  const buf = new Uint8Array(14 + ipLen + 20);
  buf.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  buf[12] = v6 ? 0x86 : 0x08;
  buf[13] = v6 ? 0xdd : 0x00;
  if (v6) {
    buf[14] = 0x60;
    buf[20] = 6;
    buf[21] = 64;
    buf.set(s, 22);
    buf.set(d, 38);
  } else {
    buf[14] = 0x40 | (ipLen / 4);
    buf[20] = (f.fragOff ?? 0) >> 8;
    buf[21] = (f.fragOff ?? 0) & 0xff;
    buf[22] = 64;
    buf[23] = 6;
    buf.set(s, 26);
    buf.set(d, 30);
    for (let i = 34; i < 14 + ipLen; i++) buf[i] = 1; // NOP options
  }
  const t = 14 + ipLen;
  buf[t] = f.sport >> 8;
  buf[t + 1] = f.sport & 0xff;
  buf[t + 2] = f.dport >> 8;
  buf[t + 3] = f.dport & 0xff;
  buf[t + 12] = 0x50;
  buf[t + 13] = f.flags;
  return buf;
}

const SYN = 0x02, ACK = 0x10, RST = 0x04;
const base: F = { src: '198.18.1.99', dst: '198.18.1.2', sport: 40000, dport: 80, flags: SYN };
const pass = (m: Match, f: Partial<F> = {}): boolean => runBpf(compileMatch(m), frame({ ...base, ...f })) > 0;

describe('compileMatch (classic BPF over Ethernet)', () => {
  it('an empty match accepts TCP over IPv4 and IPv6 and rejects anything else', () => {
    expect(pass({})).toBe(true);
    expect(pass({}, { src: '2001:2::99', dst: '2001:2::2' })).toBe(true);
    const arp = frame(base);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(runBpf(compileMatch({}), arp)).toBe(0);
    const udp = frame(base);
    udp[23] = 17;
    expect(runBpf(compileMatch({}), udp)).toBe(0);
  });

  it('addresses, prefixes and host (either side)', () => {
    expect(pass({ src: '198.18.1.99' })).toBe(true);
    expect(pass({ src: '198.18.1.98' })).toBe(false);
    expect(pass({ dst: '198.18.0.0/15' })).toBe(true);
    expect(pass({ dst: '198.20.0.0/15' })).toBe(false);
    expect(pass({ host: '198.18.1.2' })).toBe(true);
    expect(pass({ host: '198.18.1.99' })).toBe(true);
    expect(pass({ host: '198.18.1.3' })).toBe(false);
    expect(pass({ src: '198.18.1.99', dst: '198.18.1.2' })).toBe(true);
    expect(pass({ src: '198.18.1.2', dst: '198.18.1.99' })).toBe(false);
  });

  it('IPv6 addresses, prefixes and family', () => {
    const v6 = { src: '2001:2:0:7::99', dst: '2001:2:0:7::2' };
    expect(pass({ src: '2001:2:0:7::99' }, v6)).toBe(true);
    expect(pass({ src: '2001:2:0:7::98' }, v6)).toBe(false);
    expect(pass({ dst: '2001:2::/48' }, v6)).toBe(true);
    expect(pass({ dst: '2001:3::/48' }, v6)).toBe(false);
    expect(pass({ host: '2001:2:0:7::2' }, v6)).toBe(true);
    expect(pass({ family: 6 }, v6)).toBe(true);
    expect(pass({ family: 6 })).toBe(false);
    expect(pass({ family: 4 }, v6)).toBe(false);
    expect(pass({ src: '198.18.1.99' }, v6)).toBe(false);
    expect(pass({ dport: 80 }, v6)).toBe(true);
    expect(pass({ dport: 81 }, v6)).toBe(false);
  });

  it('ports, either port, and variable IPv4 header length', () => {
    for (const ipOpts of [0, 1, 10]) {
      expect(pass({ dport: 80 }, { ipOpts })).toBe(true);
      expect(pass({ dport: 81 }, { ipOpts })).toBe(false);
      expect(pass({ sport: 40000, dport: 80 }, { ipOpts })).toBe(true);
      expect(pass({ port: 40000 }, { ipOpts })).toBe(true);
      expect(pass({ port: 80 }, { ipOpts })).toBe(true);
      expect(pass({ port: 81 }, { ipOpts })).toBe(false);
      expect(pass({ flags: { set: 'S' } }, { ipOpts })).toBe(true);
    }
  });

  it('flags set / unset', () => {
    expect(pass({ flags: { set: 'S.' } }, { flags: SYN | ACK })).toBe(true);
    expect(pass({ flags: { set: 'S.' } }, { flags: SYN })).toBe(false);
    expect(pass({ flags: { set: 'S', unset: '.' } }, { flags: SYN })).toBe(true);
    expect(pass({ flags: { set: 'S', unset: '.' } }, { flags: SYN | ACK })).toBe(false);
    expect(pass({ flags: { set: ['RST'] } }, { flags: RST | ACK })).toBe(true);
    expect(pass({ flags: { set: RST } }, { flags: SYN })).toBe(false);
  });

  it('rejects non-first fragments and truncated frames', () => {
    expect(pass({}, { fragOff: 0x10 })).toBe(false);
    expect(pass({}, { fragOff: 0x4000 })).toBe(true); // DF is not an offset
    expect(runBpf(compileMatch({ dport: 80 }), frame(base).subarray(0, 36))).toBe(0);
  });

  it('bad matches throw errors naming the field', () => {
    expect(() => compileMatch({ dport: 70000 })).toThrow(/match\.dport/);
    expect(() => compileMatch({ src: 'nope' })).toThrow(/match\.src/);
    expect(() => compileMatch({ src: '198.18.0.0/40' })).toThrow(RangeError);
    expect(() => compileMatch({ src: '198.18.0.1', dst: '2001:2::1' })).toThrow(/match\.dst/);
    expect(() => compileMatch({ flags: { set: 'Q' } })).toThrow(/match\.flags\.set/);
    expect(() => compileMatch({ dprot: 1 } as unknown as Match)).toThrow(/match\.dprot/);
    expect(() => compileMatch({ flags: { set: 'S', unset: 'S' } })).toThrow(/match\.flags/);
  });
});

describe('matchSegment', () => {
  const seg = (o: Partial<Segment>): Segment => ({
    family: 4, src: '198.18.1.2', dst: '198.18.1.99', sport: 80, dport: 40000, seq: 1, ack: 2, flagBits: SYN | ACK,
    flags: 'S.', window: 65535, urg: 0, options: [], payload: new Uint8Array(),
    ip: { ttl: 64, id: 0, df: true, tos: 0, flowLabel: 0 },
    checksum: { ip: 'ok', tcp: 'ok', tcpValue: 0 }, ipLength: 40, ...o,
  });
  it('matches exactly what the BPF pre-filter approximates', () => {
    expect(matchSegment({ src: '198.18.1.2', sport: 80, flags: { set: 'S.' } }, seg({}))).toBe(true);
    expect(matchSegment({ flags: { set: 'R' } }, seg({}))).toBe(false);
    expect(matchSegment({ flags: { unset: '.' } }, seg({}))).toBe(false);
    expect(matchSegment({ host: '198.18.1.99', port: 40000 }, seg({}))).toBe(true);
    expect(matchSegment({ dst: '198.18.0.0/15' }, seg({}))).toBe(true);
    expect(matchSegment({ family: 6 }, seg({}))).toBe(false);
    expect(matchSegment({ src: '2001:2::1' }, seg({ family: 6, src: '2001:2:0:0::1', dst: '2001:2::2' }))).toBe(true);
  });
  it('prefix helpers', () => {
    expect(prefixContains(parsePrefix('2001:2::/48', 'x'), '2001:2:0:ffff::1')).toBe(true);
    expect(prefixContains(parsePrefix('2001:2::/48', 'x'), '2001:3::1')).toBe(false);
    expect(Array.from(parseIp('::ffff:198.18.0.1')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]);
  });
});
