// Wire against real kernels: ghost-address handshakes from namespace a to a listener in b (IPv4, IPv6),
// expect/expectNone/packets(), the destination guard, offload flags, and a cross-check with raw-socket.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import type { NetnsPair } from '../helpers/netns-pair.js';
import { Wire, ExpectTimeoutError, type Captured } from '../../src/wire/wire.js';
import { encode } from '../../src/wire/segment.js';
import { readPcap } from '../../src/wire/pcap.js';
import type { SegmentSpec, TcpOption } from '../../src/wire/types.js';
import { usePairWithListener } from './wire-helpers.js';

const tsOf = (opts: readonly TcpOption[] | undefined): { val: number; ecr: number } | undefined =>
  opts?.find((o): o is Extract<TcpOption, { kind: 'ts' }> => o.kind === 'ts');

describe('Wire', () => {
  requireRoot();
  let pair: NetnsPair;
  const usePair = usePairWithListener(8080);
  beforeAll(() => {
    pair = usePair();
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: ghost SYN -> SYN-ACK (ack ISN+1, TSecr = our TSval); closed port -> RST-ACK; a stays silent`, async () => {
      const ghost = family === 4 ? pair.ghost : pair.ghost6;
      const target = family === 4 ? pair.ipB : pair.ip6B;
      await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { host: ghost } });
      const isn = 0x7fff_fff0 + family;
      const syn: SegmentSpec = {
        src: ghost, dst: target, sport: 40100 + family, dport: 8080, seq: isn, flags: 'S', window: 64240,
        options: [{ kind: 'mss', value: 1400 }, { kind: 'sackOk' }, { kind: 'ts', val: 123456789, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
        ...(family === 4 ? { ip: { id: 77 } } : { ip: { flowLabel: 0x12345 } }),
      };
      const t0 = wire.send(syn);
      const synack = await wire.expect({ src: target, sport: 8080, dport: syn.sport, flags: { set: 'S.' } }, { since: t0, within: 2000 });
      expect(synack.dir).toBe('in');
      expect(synack.segment!.ack).toBe(isn + 1);
      expect(tsOf(synack.segment!.options)?.ecr).toBe(123456789);
      expect(synack.segment!.checksum.tcp).toBe('ok');

      const t1 = wire.send({ ...syn, sport: 40200 + family, dport: 8081, seq: 1000 });
      const rst = await wire.expect({ src: target, sport: 8081, flags: { set: 'R' } }, { since: t1 });
      expect(rst.segment!.flags).toBe('R.');
      expect(rst.segment!.ack).toBe(1001);

      // No RST (or anything else) from a's kernel: the only packets leaving a are the two we sent.
      await wire.expectNone({ src: ghost, flags: { set: 'R' } }, { for: 300, since: t0 });
      const out = wire.captured.filter((p) => p.dir === 'out');
      expect(out.map((p) => p.segment?.flags)).toEqual(['S', 'S']);
      // Both directions, kernel timestamps increasing along the exchange.
      const order = [out[0]!, synack, out[1]!, rst];
      for (let i = 1; i < order.length; i++) expect(order[i]!.tsNs).toBeGreaterThan(order[i - 1]!.tsNs);
      expect(wire.captured.every((p) => p.tsSource === 'kernel' && p.link === 'ethernet' && p.ifname === pair.ifA)).toBe(true);
      // What we sent is what was captured.
      expect(out[0]!.data.subarray(14).equals(encode(syn))).toBe(true);
      expect(wire.stats()).toMatchObject({ sent: 2, dropped: 0 });
    });
  }

  it('writePcap: what was captured reads back identically and tshark agrees on the exchange', async () => {
    await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { host: pair.ghost, port: 40500 } });
    const t0 = wire.send({ src: pair.ghost, dst: pair.ipB, sport: 40500, dport: 8080, seq: 3_000_000_000, flags: 'S', ip: { id: 1 } });
    await wire.expect({ flags: { set: 'S.' } }, { since: t0 });
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-wire-'));
    try {
      const file = join(dir, 'x.pcap');
      expect(await wire.writePcap(file)).toBe(wire.captured.length);
      const back = await readPcap(file);
      expect(back.records.map((r) => [Buffer.from(r.data).toString('hex'), r.tsNs])).toEqual(
        wire.captured.map((p) => [p.data.toString('hex'), p.tsNs]),
      );
      const lines = execFileSync('tshark', ['-r', file, '-o', 'tcp.relative_sequence_numbers:FALSE', '-T', 'fields',
        '-e', 'ip.src', '-e', 'tcp.flags.str', '-e', 'tcp.ack'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^${pair.ghost.replace(/\./g, '\\.')}\\t.*S.*\\t0?$`));
      expect(lines[1]).toMatch(new RegExp(`^${pair.ipB.replace(/\./g, '\\.')}\\t.*A.*S.*\\t3000000001$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses destinations outside the lab ranges unless allowAnyDestination', async () => {
    await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA });
    const spec: SegmentSpec = { src: pair.ghost, dst: '8.8.8.8', sport: 1, dport: 53, seq: 1, flags: 'S' };
    expect(() => wire.send(spec)).toThrow(RangeError);
    expect(() => wire.send(spec)).toThrow(/dst: 8\.8\.8\.8.*allowAnyDestination/);
    expect(() => wire.send(encode(spec))).toThrow(/dst: 8\.8\.8\.8/);
    expect(() => wire.sendBatch([{ ...spec, dst: pair.ipB }, spec])).toThrow(/sendBatch\[1\]/);
    expect(() => wire.sendTemplate({ ...spec, dst: '2001:db8::1', src: '2001:2::1' }, 10)).toThrow(/dst: 2001:db8/);
    expect(() => wire.sendFrame(Buffer.concat([Buffer.alloc(12), Buffer.from([8, 0]), encode(spec)]))).toThrow(/dst: 8\.8\.8\.8/);
    expect(wire.stats().sent).toBe(0); // the refused batch sent nothing either
    // Lab ranges pass the guard (loopback and ULA included).
    expect(() => wire.sendBatch([])).not.toThrow();
  });

  it('expect() times out with a clear error listing what was seen; expectNone() fails on a match', async () => {
    // port 40300 only: the listener in b keeps retransmitting SYN-ACKs to the ghost from earlier tests.
    await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { host: pair.ghost, port: 40300 } });
    const t0 = wire.now();
    wire.send({ src: pair.ghost, dst: pair.ipB, sport: 40300, dport: 8081, seq: 9, flags: 'S', ip: { id: 1 } });
    const err = await wire.expect({ flags: { set: 'F' } }, { within: 300, since: t0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExpectTimeoutError);
    expect((err as Error).message).toMatch(/no packet matching "tcp flags F" on tcplab-va within 300 ms/);
    expect((err as Error).message).toMatch(/out .*\.40300 > .*\.8081: S /);
    expect((err as Error).message).toMatch(/in .*\.8081 > .*\.40300: R\. /);
    expect((err as ExpectTimeoutError).seen.length).toBe(2);
    await expect(wire.expectNone({ flags: { set: 'R' } }, { for: 200, since: t0 })).rejects.toThrow(/expectNone: saw a packet matching "tcp flags R"/);
    expect(() => wire.expect({ dport: -1 })).toThrow(/match\.dport/);
  });

  it('packets(): several consumers each see every packet from the moment they start, in order', async () => {
    await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { src: pair.ghost, dport: 7500 } });
    const ac = new AbortController();
    const collect = async (it: AsyncIterable<Captured>, n: number): Promise<number[]> => {
      const seqs: number[] = [];
      for await (const p of it) {
        seqs.push(p.segment!.seq);
        if (seqs.length === n) break;
      }
      return seqs;
    };
    const first = collect(wire.packets(), 6);
    const second = collect(wire.packets({ signal: ac.signal }), 100);
    const mk = (seq: number): SegmentSpec => ({ src: pair.ghost, dst: pair.ipB, sport: 5, dport: 7500, seq, flags: '.', ip: { id: 1 } });
    wire.sendBatch([1, 2, 3].map(mk));
    await wire.expect({ dport: 7500 }, { since: 0n });
    await new Promise((r) => setTimeout(r, 50));
    const late = collect(wire.packets(), 3);
    wire.sendBatch([4, 5, 6].map(mk));
    expect(await first).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await late).toEqual([4, 5, 6]);
    await wire.expect({ dport: 7500 }, { since: 0n });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    expect(await second).toEqual([1, 2, 3, 4, 5, 6]); // ended by the signal, nothing lost
  });

  it('marks kernel-sent packets with offloaded checksums instead of calling them bad', async () => {
    execFileSync('ip', ['netns', 'exec', pair.b, 'ethtool', '-K', pair.ifB, 'tx', 'on'], { stdio: 'ignore' });
    try {
      await using wire = await Wire.open({ netns: pair.b, ifname: pair.ifB, filter: { host: pair.ghost, sport: 8080 }, sendFrom: { netns: pair.a } });
      const t0 = wire.send({ src: pair.ghost, dst: pair.ipB, sport: 40400, dport: 8080, seq: 1, flags: 'S', ip: { id: 1 } });
      const synack = await wire.expect({ flags: { set: 'S.' } }, { since: t0 });
      expect(synack.dir).toBe('out');
      expect(synack.csumOffloaded).toBe(true);
      expect(synack.segment!.checksum.tcp).toBe('offloaded');
    } finally {
      execFileSync('ip', ['netns', 'exec', pair.b, 'ethtool', '-K', pair.ifB, 'tx', 'off'], { stdio: 'ignore' });
    }
  });

  it('a segment sent through the raw-socket package is captured and decoded identically to ours', async () => {
    await using wire = await Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { src: pair.ghost, dport: 7600 } });
    const spec: SegmentSpec = {
      src: pair.ghost, dst: pair.ipB, sport: 44444, dport: 7600, seq: 0xdeadbeef, ack: 0x01020304, flags: 'P.',
      window: 1234, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: 1, ecr: 2 }], payload: 'hello', ip: { id: 4242, ttl: 33 },
    };
    const bytes = encode(spec);
    const rawSocketDir = createRequire(import.meta.url).resolve('raw-socket');
    const script =
      `const raw=require(${JSON.stringify(rawSocketDir)});const s=raw.createSocket({protocol:raw.Protocol.TCP});` +
      's.setOption(raw.SocketLevel.IPPROTO_IP,raw.SocketOption.IP_HDRINCL,1);' +
      `const b=Buffer.from('${bytes.toString('hex')}','hex');` +
      `s.send(b,0,b.length,'${pair.ipB}',(e)=>{if(e){console.error(e);process.exit(1)}s.close();});`;
    const t0 = wire.now();
    execFileSync('ip', ['netns', 'exec', pair.a, process.execPath, '-e', script], { stdio: 'inherit' });
    const theirs = await wire.expect({ dport: 7600 }, { since: t0 });
    const t1 = wire.send(spec);
    const ours = await wire.expect({ dport: 7600 }, { since: t1 });
    expect(theirs).not.toBe(ours);
    expect(ours.data.equals(theirs.data)).toBe(true);
    expect(ours.segment).toEqual(theirs.segment);
    expect(ours.segment).toMatchObject({ seq: 0xdeadbeef, ack: 0x01020304, flags: 'P.', window: 1234, ipLength: bytes.length });
    expect(Buffer.from(ours.segment!.payload).toString()).toBe('hello');
  });

  it('close: double close is safe, use after close and pending expects fail with ERR_CLOSED, iterators end', async () => {
    const wire = await Wire.open({ netns: pair.a, ifname: pair.ifA });
    const pending = wire.expect({ dport: 1 }, { within: 5000 });
    const iter = wire.packets()[Symbol.asyncIterator]();
    const next = iter.next();
    wire.close();
    wire.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(next).resolves.toEqual({ done: true, value: undefined });
    expect(() => wire.send({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 1, seq: 1, flags: 'S' })).toThrow(
      expect.objectContaining({ code: 'ERR_CLOSED' }),
    );
    expect(() => wire.stats()).toThrow(/closed/);
    await wire[Symbol.asyncDispose]();
  });

  it('bad interface names and namespaces give clear errors', async () => {
    await expect(Wire.open({ netns: pair.a, ifname: 'tcplab-nope' })).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(Wire.open({ netns: 'tcplab-missing-ns', ifname: pair.ifA })).rejects.toThrow(/ENOENT.*tcplab-missing-ns/);
    await expect(Wire.open({ netns: pair.a, ifname: 'x'.repeat(16) })).rejects.toThrow(/ifname/);
    await expect(Wire.open({ netns: pair.a } as never)).rejects.toThrow(TypeError);
    await expect(Wire.open({ netns: pair.a, ifname: pair.ifA, filter: { port: 70000 } })).rejects.toThrow(/match\.port/);
    await expect(Wire.open({ netns: pair.a, ifname: pair.ifA, sendFrom: { netns: pair.a, device: 'tcplab-nope' } })).rejects.toMatchObject({ code: 'ENODEV' });
  });
});
