// Safety: no code path sends a crafted packet outside the testbed's ranges unless a flag names the target.
// Host a gets a default route through the veth to b, so a packet that slipped through WOULD arrive on b;
// b's capture proves that none did, and that the same path with a lab destination does deliver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { assertSafe } from '../../src/testbed/safety.js';
import { Wire, isLabDestination } from '../../src/wire/wire.js';
import { CraftedConn } from '../../src/wire/crafted.js';
import { openPacketSender, openRawSender } from '../../src/wire/sender.js';
import { encode, encodeEthernet } from '../../src/wire/segment.js';
import type { SegmentSpec } from '../../src/wire/types.js';

// Outside the lab ranges: public, the /15's neighbours, documentation ranges, IPv4-mapped and v6 tricks.
const OUTSIDE_V4 = ['8.8.8.8', '198.17.255.255', '198.20.0.1', '10.0.0.1', '192.168.1.1', '203.0.113.7', '0.0.0.0', '255.255.255.255'];
const OUTSIDE_V6 = ['2001:db8::1', '2001:3::1', '2001:2:1::1', 'fe80::1', 'fc00::1', '::ffff:8.8.8.8', '::'];

function refused(fn: () => unknown): RangeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/^dst: .* outside the lab ranges|^frame: only IPv4\/IPv6|^v4Subnets|^ghost|is not an IPv4\/IPv6 frame|is not an IPv4 or IPv6 datagram/);
    return e as RangeError;
  }
  throw new Error('expected a refusal, the call went through');
}

describe('safety: crafted packets stay inside the lab ranges', () => {
  requireRoot();
  let tb: Testbed;
  let wa: Wire; // sender on a
  let wb: Wire; // capture on b
  let a: string;
  let b: string;
  let mac: { srcMac: string; dstMac: string };
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: ['a', 'b'] });
    a = tb.host('a').addr();
    b = tb.host('b').addr();
    await tb.host('a').exec('ip', ['route', 'add', 'default', 'via', b]);
    wa = await Wire.open({ ifname: tb.host('a').iface().ifname, netns: tb.host('a').netns });
    wb = await Wire.open({ ifname: tb.host('b').iface().ifname, netns: tb.host('b').netns });
    mac = { srcMac: tb.host('a').iface().mac, dstMac: tb.host('b').iface().mac };
  }, 30_000);
  afterAll(async () => {
    await wa?.[Symbol.asyncDispose]();
    await wb?.[Symbol.asyncDispose]();
    await tb?.dispose();
  });
  const seg = (dst: string, sport = 40000): SegmentSpec => ({ src: dst.includes(':') ? 'fd00::1' : a, dst, sport, dport: 9, seq: 1, flags: 'S' });
  const v4seg = (dst: string, sport = 40000): SegmentSpec => ({ src: a, dst, sport, dport: 9, seq: 1, flags: 'S' });

  it('the range check itself: lab ranges in, everything else out', () => {
    for (const d of ['198.18.0.1', '198.19.255.254', '127.0.0.1', '2001:2::1', '2001:2:0:ffff::1', 'fd00::1', 'fdff::1', '::1']) expect(isLabDestination(d), d).toBe(true);
    for (const d of [...OUTSIDE_V4, ...OUTSIDE_V6]) expect(isLabDestination(d), d).toBe(false);
  });

  it('Wire.send / sendBatch / sendTemplate refuse specs and ready datagrams to any outside address', () => {
    const sentBefore = wa.stats().sent;
    for (const d of [...OUTSIDE_V4, ...OUTSIDE_V6]) {
      refused(() => wa.send(seg(d)));
      refused(() => wa.sendTemplate(seg(d), 10, { seqStep: 1 }));
    }
    for (const d of OUTSIDE_V4) {
      const dgram = encode(v4seg(d));
      refused(() => wa.send(dgram));
      refused(() => wa.sendTemplate(dgram, 10));
      // one bad datagram poisons the whole batch, small (addon path) and large (packed path)
      refused(() => wa.sendBatch([v4seg(b), dgram]));
      refused(() => wa.sendBatch([...Array.from({ length: 20 }, () => encode(v4seg(b))), dgram]));
    }
    expect(wa.stats().sent).toBe(sentBefore);
  });

  it('Wire.sendFrame refuses outside IPv4/IPv6 frames and every non-IP frame (ARP, VLAN-tagged)', () => {
    for (const d of OUTSIDE_V4) refused(() => wa.sendFrame(encodeEthernet(v4seg(d), mac)));
    const arp = Buffer.alloc(42);
    Buffer.from('ffffffffffff', 'hex').copy(arp, 0);
    arp.writeUInt16BE(0x0806, 12);
    refused(() => wa.sendFrame(arp));
    const ip = encodeEthernet(v4seg('8.8.8.8'), mac);
    const vlan = Buffer.concat([ip.subarray(0, 12), Buffer.from('81000001', 'hex'), ip.subarray(12)]);
    refused(() => wa.sendFrame(vlan));
    // an IPv4 ethertype with a cut header: JS cannot read a dst, the native sender refuses it
    refused(() => wa.sendFrame(ip.subarray(0, 14 + 12)));
  });

  it('the native senders refuse on their own (a caller that skips src/wire is still stopped)', () => {
    const raw = openRawSender({ netns: tb.host('a').netns, device: tb.host('a').iface().ifname });
    const pkt = openPacketSender({ ifname: tb.host('a').iface().ifname, netns: tb.host('a').netns });
    try {
      for (const d of OUTSIDE_V4) {
        const dg = encode(v4seg(d));
        refused(() => raw.send(dg));
        refused(() => raw.sendBatch([dg]));
        refused(() => raw.sendBatch(Array.from({ length: 12 }, () => dg)));
        refused(() => raw.sendTemplate(dg, 5));
        refused(() => pkt.send(encodeEthernet(v4seg(d), mac)));
        refused(() => pkt.sendBatch(Array.from({ length: 12 }, () => encodeEthernet(v4seg(d), mac))));
      }
      for (const d of OUTSIDE_V6.filter((x) => x !== '::')) {
        const dg = encode({ ...seg(d), src: 'fd00::1' });
        refused(() => raw.send(dg));
      }
    } finally {
      raw.close();
      pkt.close();
    }
  });

  it('CraftedConn on a Wire cannot reach an outside address', async () => {
    const c = new CraftedConn(wa, { src: a, dst: '8.8.8.8', sport: 40001, dport: 80, isn: 1 });
    await expect(c.connect(200)).rejects.toBeInstanceOf(RangeError);
    expect(() => c.send('S')).toThrow(RangeError);
    expect(() => c.syn(5, null)).toThrow(RangeError);
  });

  it('Testbed ranges: subnets and ghosts outside 198.18.0.0/15 are refused without allowUnsafeAddresses', async () => {
    for (const net of ['10.0.0.0', '192.168.7.0', '198.20.0.0', '8.8.8.0']) {
      await expect(Testbed.create({ v4Subnets: [net], processHooks: false })).rejects.toThrow(/^v4Subnets\[0\]: .* allowUnsafeAddresses: true/);
    }
    expect(() => assertSafe('ghost', '8.8.8.8')).toThrow(RangeError);
    expect(() => assertSafe('ghost', '198.18.3.4')).not.toThrow();
    expect(() => assertSafe('v4Subnets[0]', '10.0.0.0', true)).not.toThrow(); // the explicit flag
  });

  it('nothing refused reached b, while the same paths with a lab destination did', async () => {
    // control: the default route and capture work, so a refused packet WOULD have been seen
    const t0 = wb.now();
    wa.send(v4seg(b, 41000));
    wa.sendBatch(Array.from({ length: 10 }, (_, i) => v4seg(b, 41001 + i)));
    wa.sendTemplate(v4seg(b, 41100), 5, { sportStep: 1 });
    wa.sendFrame(encodeEthernet(v4seg(b, 41200), mac));
    await wb.expect({ sport: 41200 }, { within: 1000, since: t0 });
    const fromUs = wb.captured.filter((p) => p.segment && p.segment.src === a && p.segment.sport >= 40000);
    const outside = fromUs.filter((p) => !isLabDestination(p.segment!.dst));
    expect(outside.map((p) => p.segment!.dst)).toEqual([]);
    expect(fromUs.filter((p) => p.segment!.sport >= 41000).length).toBe(1 + 10 + 5 + 1);
  });
});
