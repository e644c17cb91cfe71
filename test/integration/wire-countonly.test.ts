// Capture countOnly (the TPACKET_V3 drain used by the bench): counts exactly what the filter accepts,
// calls no JS, reports drops, closes cleanly, and rejects bad options with a TypeError naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { createNetnsPair, listTcplabNetns, type NetnsPair } from '../helpers/netns-pair.js';
import { compileMatch } from '../../src/wire/match.js';
import { openCapture, openPacketSender } from '../../src/wire/netns.js';
import { buildTcp4, waitFor } from './wire-helpers.js';

describe('Capture countOnly', () => {
  requireRoot();
  let pair: NetnsPair;
  beforeAll(() => {
    pair = createNetnsPair();
  });
  afterAll(() => {
    pair?.dispose();
    expect(listTcplabNetns().filter((n) => n === pair.a || n === pair.b)).toEqual([]);
  });

  it('counts every packet the filter accepts and nothing else, without calling JS', async () => {
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7200 }), countOnly: true });
    const tx = openPacketSender({ ifname: pair.ifA, netns: pair.a });
    const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
    const frame = (dport: number) =>
      Buffer.concat([mac(pair.macB), mac(pair.macA), Buffer.from([0x08, 0x00]),
        buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1234, dport, seq: 1, flags: 0x10, id: 1 })]);
    try {
      const hit = new Array<Buffer>(250).fill(frame(7200));
      const miss = new Array<Buffer>(100).fill(frame(7201));
      for (let i = 0; i < 40; i++) {
        tx.sendBatch(hit);
        tx.sendBatch(miss);
        // Let the loop drain the ring: a V3 block is handed over every 10 ms even when partly filled, so
        // a sender that never yields would run the ring out of blocks.
        await new Promise((r) => setImmediate(r));
      }
      // Blocks are handed over when full or after the 10 ms retire timer.
      await waitFor(() => cap.stats().delivered >= 10_000, 3000);
      await new Promise((r) => setTimeout(r, 50));
      const st = cap.stats();
      expect(st.delivered).toBe(10_000);
      expect(st.received).toBe(10_000);
      expect(st.dropped).toBe(0);
      expect(st.readErrors).toBe(0);
    } finally {
      tx.close();
      cap.close();
    }
    expect(cap.closed).toBe(true);
    expect(() => cap.stats()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  it('bad options: TypeError naming the field', () => {
    expect(() => openCapture({ ifname: pair.ifB, netns: pair.b, countOnly: 'yes' as unknown as boolean })).toThrow(/countOnly/);
    expect(() => openCapture({ ifname: pair.ifB, netns: pair.b })).toThrow(/onPackets.*countOnly/);
  });
});
