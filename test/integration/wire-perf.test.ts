// The performance paths of the wire: Capture countOnly (the TPACKET_V3 drain used by the bench) counts
// exactly what the filter accepts without calling JS; sendBatch of 8+ packets (packed in JS, sent through
// sendPacked) delivers the same bytes and names the bad element exactly as the per-element path does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { createNetnsPair, listTcplabNetns, type NetnsPair } from '../helpers/netns-pair.js';
import { compileMatch } from '../../src/wire/bpf.js';
import { openCapture, type RawCaptured } from '../../src/wire/capture.js';
import { openPacketSender, openRawSender } from '../../src/wire/sender.js';
import { buildTcp4, waitFor } from './wire-helpers.js';

describe('wire performance paths: countOnly capture, packed sendBatch', () => {
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

  it('packed sendBatch: same bytes on the wire, in order; errors name the element; mixed families', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7300 }), onPackets: (b) => got.push(...b) });
    const raw = openRawSender({ netns: pair.a });
    const pkt = openPacketSender({ ifname: pair.ifA, netns: pair.a });
    const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
    const l2 = Buffer.concat([mac(pair.macB), mac(pair.macA), Buffer.from([0x08, 0x00])]);
    try {
      // Different lengths (with and without timestamps) and views into a bigger buffer, so offsets and lengths must be right.
      const dgrams = Array.from({ length: 20 }, (_, i) =>
        buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 2000 + i, dport: 7300, seq: i, flags: 0x10, id: i + 1, ...(i % 2 ? { tsval: i } : {}) }));
      const big = Buffer.concat([Buffer.alloc(3), ...dgrams]);
      let off = 3;
      const views = dgrams.map((d) => big.subarray(off, (off += d.length)));
      expect(raw.sendBatch(views)).toBe(20);
      expect(pkt.sendBatch(dgrams.map((d) => Buffer.concat([l2, d])))).toBe(20);
      await waitFor(() => got.length >= 40, 2000);
      for (let i = 0; i < 20; i++) {
        expect(got[i]!.data.subarray(14).equals(dgrams[i]!)).toBe(true);
        expect(got[20 + i]!.data.subarray(14).equals(dgrams[i]!)).toBe(true);
      }
      const ok = dgrams[0]!;
      const out = buildTcp4({ src: pair.ghost, dst: '8.8.8.8', sport: 1, dport: 7300, seq: 1, flags: 0x10, id: 1 });
      const list = new Array<Uint8Array>(12).fill(ok);
      list[9] = out;
      expect(() => raw.sendBatch(list)).toThrow(/dst: 8\.8\.8\.8 \(datagrams\[9\]\)/);
      list[9] = new Uint16Array(4) as unknown as Uint8Array;
      expect(() => raw.sendBatch(list)).toThrow(expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/datagrams\[9\]/) }));
      const frames = new Array<Uint8Array>(12).fill(Buffer.concat([l2, ok]));
      frames[10] = Buffer.alloc(5);
      expect(() => pkt.sendBatch(frames)).toThrow(/frames\[10\]/);
      expect(() => raw.sendBatch('nope' as unknown as Uint8Array[])).toThrow(TypeError);
      await new Promise((r) => setTimeout(r, 50));
      expect(got.length).toBe(40); // nothing of a refused batch went out
    } finally {
      cap.close();
      raw.close();
      pkt.close();
    }
  });
});
