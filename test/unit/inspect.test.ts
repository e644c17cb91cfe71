import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectFile, inspectToJson, readCapture, renderInspect, type InspectReport } from '../../src/inspect/index.js';
import { EXPLAIN } from '../../src/lab/explain.js';
import { renderHtml } from '../../src/report/html.js';
import { challenge, Convo, lastAck, many, paws, pcapngBuffer, twRejected, writePcap, writePcapng } from '../fixtures/inspect-synth.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function run(v: Convo, opts?: Parameters<typeof inspectFile>[1]): Promise<InspectReport> {
  const p = join(dir, `c${++n}.pcap`);
  await writePcap(p, v.frames);
  // These look at connections with no findings too: ask for them (the default draws only findings').
  return inspectFile(p, { maxConnections: 5, ...opts });
}
const kinds = (r: InspectReport) => r.findings.map((f) => f.kind);

describe('inspect: TIME-WAIT events from synthetic captures', () => {
  it('SYN rejected by a TIME-WAIT ACK, RST kills TIME-WAIT, retransmitted SYN accepted', async () => {
    const r = await run(twRejected());
    expect(kinds(r)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    const [c] = r.connections;
    expect(c!.incarnations.map((i) => [i.n, i.closedBy ?? null, ...i.finalStates])).toEqual([
      [1, 'FIN', 'CLOSED', 'TIME-WAIT'],
      [2, null, 'ESTABLISHED', 'ESTABLISHED'],
    ]);
    const f = r.findings[0]!;
    expect(f.who).toBe('198.18.2.2:80');
    expect(f.text).toMatch(/0\.999 s into its TIME-WAIT/);
    expect(f.text).toMatch(/ISN not above the old RCV.NXT \(-100006\)/);
    expect(f.text).toMatch(/TSval not newer than TS.Recent \(-10002\)/);
    expect(f.packets.map((p) => p.frame)).toEqual([9, 10]);
    expect(r.findings[1]!.packets.map((p) => p.frame)).toEqual([11]);
    // The server's states along the way: TIME-WAIT until the RST, then a fresh handshake.
    expect(c!.packets.map((p) => c!.states.get(p)![1]).slice(7)).toEqual(
      ['TIME-WAIT', 'TIME-WAIT', 'TIME-WAIT', 'CLOSED', 'LISTEN', 'SYN-RCVD', 'ESTABLISHED']);
  });

  it('the same SYN after TIME-WAIT has ended is no finding', async () => {
    const r = await run(twRejected(), { timeWaitMs: 500 });
    expect(kinds(r)).toEqual([]);
  });

  it('a SYN in ESTABLISHED draws a challenge ACK; the RST closes; the next SYN opens incarnation 2', async () => {
    const r = await run(challenge());
    expect(kinds(r)).toEqual(['challenge-ack']);
    expect(r.findings[0]!.text).toMatch(/server 198\.18\.2\.2:80 \(ESTABLISHED\) answered a SYN/);
    const incs = r.connections[0]!.incarnations;
    expect(incs.map((i) => i.closedBy ?? null)).toEqual(['RST', null]);
    expect(incs[1]!.gapNs).toBe(999_800_000n);
  });

  it('simultaneous close: FIN-WAIT-1 -> CLOSING -> TIME-WAIT on both sides', async () => {
    const v = new Convo();
    const { cn, sn } = v.open(1000, 2000);
    v.c('F.', cn, sn).s('F.', sn, cn).c('.', cn + 1, sn + 1).s('.', sn + 1, cn + 1);
    const r = await run(v);
    const c = r.connections[0]!;
    expect(c.packets.slice(5).map((p) => c.states.get(p))).toEqual([
      ['FIN-WAIT-1', 'CLOSE-WAIT'], ['CLOSING', 'CLOSING'], ['CLOSING', 'TIME-WAIT'], ['TIME-WAIT', 'TIME-WAIT'],
    ]);
    expect(kinds(r)).toEqual([]);
  });

  it('a FIN retransmitted from LAST-ACK', async () => {
    const r = await run(lastAck());
    expect(kinds(r)).toEqual(['fin-retransmit-last-ack']);
    expect(r.findings[0]!.who).toBe('198.18.2.2:80');
    expect(r.connections[0]!.incarnations[0]!.finalStates).toEqual(['TIME-WAIT', 'CLOSED']);
  });

  it('TSval going backwards (PAWS)', async () => {
    const r = await run(paws());
    expect(kinds(r)).toEqual(['paws-reject']);
    expect(r.findings[0]!.text).toMatch(/TSval 69000 .* older than the 70001/);
  });

  it('a new incarnation may restart timestamps: no PAWS finding for its SYN-ACK', async () => {
    const v = new Convo();
    const { cn, sn } = v.open(1_000_000, 5_000_000, 50_000);
    v.s('F.', sn, cn, { ts: [55_002, 50_001] }).c('F.', cn, sn + 1, { ts: [50_002, 55_002] }).s('.', sn + 1, cn + 1, { ts: [55_003, 50_002] });
    v.at(1000).c('S', 2_000_000, 0, { ts: [51_000, 0] }).s('S.', 100, 2_000_001, { ts: [7, 51_000] }).c('.', 2_000_001, 101, { ts: [51_000, 7] });
    v.s('P.', 101, 2_000_001, { len: 3, ts: [8, 51_000] });
    const r = await run(v);
    expect(kinds(r)).toEqual(['tw-syn-accepted']);
    expect(r.findings[0]!.text).toMatch(/ISN above the old RCV.NXT \(\+999994\), TSval newer than TS.Recent \(\+998\): accepted \(SYN-ACK\)/);
  });

  it('connection rates and the port exhaustion estimate', async () => {
    const r = await run(many(200, 10_000), { ports: 300, maxConnections: 0 });
    expect(r.totalConnections).toBe(200);
    const [x] = r.rates;
    expect(x).toMatchObject({ client: '198.18.2.1', server: '198.18.2.2:80', connections: 200, distinctClientPorts: 200, perSecPeak: 20, maxInTimeWait: 200, clientTimeWaits: 200, reusedInTimeWait: 0, risk: 'high' });
    expect(x!.usage).toBeCloseTo(200 / 300, 3);
    expect(x!.verdict).toMatch(/at most 200 port\(s\) in TIME-WAIT at once = 66\.7% of 300: exhaustion is near/);
    expect(kinds(r)).toEqual(['port-exhaustion']);
    // Big captures stay readable: no connection is listed or drawn without a finding or being asked for.
    const text = renderInspect(r);
    expect(text.match(/^== connection \d/gm)).toBeNull();
    expect(text).not.toContain('Δt(ms)');
    const asked = await run(many(200, 10_000), { ports: 300, maxConnections: 0, conns: [7, 9] });
    expect(renderInspect(asked, { conns: [7, 9] }).match(/Δt\(ms\)/g)).toHaveLength(2);
    const html = renderHtml(inspectToJson(asked, { conns: [7] }));
    expect(html.match(/<svg class="ladder"/g)).toHaveLength(1);
    // With the default 28232 ports the same traffic is no risk.
    const low = await run(many(200, 10_000));
    expect(low.rates[0]!.risk).toBe('low');
    expect(kinds(low)).toEqual([]);
  });

  it('renders states, findings and rules; JSON is plain data', async () => {
    const r = await run(twRejected());
    const text = renderInspect(r, { explain: true });
    expect(text).toMatch(/FIN-WAIT-1/);
    expect(text).toMatch(/── incarnation 2, 0\.999 s after incarnation 1 closed ──/);
    expect(text).toMatch(/⚑ tw-syn-rejected-ack \+1\.000 s \(frames 9, 10\)/);
    expect(text).toContain(EXPLAIN['tw-syn-rejected-ack'].rules.join('; '));
    expect(text).toContain(EXPLAIN['rst-in-time-wait'].rules.join('; '));
    const j = JSON.parse(JSON.stringify(inspectToJson(r)));
    expect(j.schema).toBe('tcplab.inspect/1');
    expect(j.findings.map((f: { kind: string }) => f.kind)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    expect(j.findings[0].frames).toEqual([9, 10]);
    expect(j.findings[0].rule).toContain('tcp_timewait_state_process() -> TCP_TW_ACK');
    expect(j.connections[0].packets[0]).toMatchObject({ frame: 1, flags: 'S', states: ['SYN-SENT', 'LISTEN'], tNs: '0' });
  });

  it('rejects bad options with a RangeError naming the field', async () => {
    await expect(inspectFile('/nonexistent', { timeWaitMs: -1 })).rejects.toThrow(/timeWaitMs/);
    await expect(inspectFile('/nonexistent', { ports: 0 })).rejects.toThrow(/ports/);
  });
});

describe('inspect: pcapng', () => {
  const variants = [
    { name: 'little-endian µs (no if_tsresol)', o: {} },
    { name: 'big-endian ns', o: { bigEndian: true, tsresol: 9 } },
    { name: 'little-endian 2^-30 s', o: { tsresol: 0x80 | 30 } },
    { name: 'big-endian ms, ethernet', o: { bigEndian: true, tsresol: 3, linkType: 1, prefix: (d: Buffer) => Buffer.concat([Buffer.from('0200000000020200000000010800', 'hex'), d]) } },
    { name: 'linux cooked v2', o: { linkType: 276, tsresol: 9, prefix: (d: Buffer) => Buffer.concat([Buffer.from('0800' + '0000' + '00000003' + '0001' + '04' + '06' + '0200000000010000', 'hex'), d]) } },
    { name: 'BSD loopback', o: { linkType: 0, tsresol: 9, prefix: (d: Buffer) => Buffer.concat([Buffer.from([2, 0, 0, 0]), d]) } },
  ];
  for (const { name, o } of variants) {
    it(`${name}: same findings as the pcap`, async () => {
      const p = join(dir, `v${++n}.pcapng`);
      writePcapng(p, twRejected().frames, o);
      const r = await inspectFile(p);
      expect(r.format).toBe('pcapng');
      expect(r.tcpPackets).toBe(14);
      expect(kinds(r)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
      const unit = o.tsresol === 3 ? 1_000_000n : o.tsresol === undefined ? 1000n : 1n;
      const gap = r.connections[0]!.incarnations[1]!.startNs - r.connections[0]!.incarnations[0]!.startNs;
      expect(gap - (gap % unit)).toBe(1_000_000_000n);
    });
  }

  it('two sections of different byte order and link type in one file', async () => {
    const frames = twRejected().frames;
    const p = join(dir, 'two-sections.pcapng');
    const eth = (d: Buffer) => Buffer.concat([Buffer.from('0200000000020200000000010800', 'hex'), d]);
    writeFileSync(p, Buffer.concat([
      pcapngBuffer(frames.slice(0, 9), { tsresol: 9 }),
      pcapngBuffer(frames.slice(9), { bigEndian: true, linkType: 1, prefix: eth }),
    ]));
    const f = await readCapture(p);
    expect(f.interfaces.map((i) => i.linkType)).toEqual([101, 1]);
    expect(f.frames.map((x) => x.iface)).toEqual([...Array(9).fill(0), ...Array(5).fill(1)]);
    const r = await inspectFile(p);
    expect(r.linkTypes).toEqual(['raw', 'ethernet']);
    expect(kinds(r)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
  });

  it('simple packet blocks (no timestamps) still decode', async () => {
    const p = join(dir, 'spb.pcapng');
    writePcapng(p, paws().frames, { simple: true });
    const r = await inspectFile(p);
    expect(r.tcpPackets).toBe(paws().frames.length);
    expect(kinds(r)).toEqual(['paws-reject']);
  });
});
