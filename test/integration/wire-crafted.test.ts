// Captured.crafted: a Wire tells the segments it sent itself from the kernel's (exporters such as
// packetdrill's leave the lab's own segments out). IPv4 and IPv6, a short frame (an RST: Ethernet padding
// must not hide it), and the kernel's answers never marked.
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import type { NetnsPair } from '../helpers/netns-pair.js';
import { Wire } from '../../src/wire/wire.js';
import { usePairWithListener } from './wire-helpers.js';

describe('Wire: crafted segments are marked', () => {
  requireRoot();
  let pair: NetnsPair;
  const usePair = usePairWithListener(8080);
  beforeAll(() => {
    pair = usePair();
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: our SYN and RST are crafted, the kernel's SYN-ACK is not`, async () => {
      const ghost = family === 4 ? pair.ghost : pair.ghost6;
      const target = family === 4 ? pair.ipB : pair.ip6B;
      await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { host: ghost } });
      const syn = { src: ghost, dst: target, sport: 40300 + family, dport: 8080, seq: 1000, flags: 'S' as const };
      const t0 = wire.send(syn);
      const synack = await wire.expect({ src: target, flags: { set: 'S.' } }, { since: t0, within: 2000 });
      wire.sendBatch([{ ...syn, flags: 'R', seq: 1001 }]);
      await new Promise((r) => setTimeout(r, 100));
      const ours = wire.captured.filter((p) => p.segment?.src === ghost);
      expect(ours.map((p) => [p.segment!.flags, p.crafted])).toEqual([['S', true], ['R', true]]);
      expect(synack.crafted).toBe(false);
    });
  }
});
