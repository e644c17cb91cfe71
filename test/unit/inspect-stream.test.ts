// Streaming inspect: truncated files, stdin and pipes, gzip, the batch decoder against decode(), link
// layers, one-direction captures, and the aggregate findings/port reasoning on a capture of known content.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCapture, GEN } from '../../bench/gencap.js';
import { inspectFile, inspectToJson, readCapture, renderInspect } from '../../src/inspect/index.js';
import { decodableFrame } from '../../src/inspect/capture.js';
import { batchLinkOf, decodeBatch, IN_STRIDE, O, OPT, OUT_STRIDE } from '../../src/wire/batch.js';
import { decode } from '../../src/wire/segment.js';
import { Convo, twRejected, writePcap, writePcapng } from '../fixtures/inspect-synth.js';

const fx = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const cli = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'tcplab-inspectstream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kinds = (r: Awaited<ReturnType<typeof inspectFile>>) => r.findings.map((f) => f.kind);

describe('inspect: truncated captures are read up to the damage', () => {
  it('pcap cut at every byte of the last record: the frames before it, a warning with the offset', async () => {
    const buf = readFileSync(fx('inspect-twreuse.cap'));
    const all = await readCapture(fx('inspect-twreuse.cap'));
    const last = all.frames[all.frames.length - 1]!;
    const lastStart = buf.length - 16 - last.data.length;
    const p = join(dir, 'cut.cap');
    for (let n = lastStart; n < buf.length; n++) {
      writeFileSync(p, buf.subarray(0, n));
      const r = await inspectFile(p);
      expect(r.frames, `cut at ${n}`).toBe(all.frames.length - 1);
      if (n === lastStart) { expect(r.warnings).toEqual([]); continue; }
      expect(r.warnings, `cut at ${n}`).toHaveLength(1);
      expect(r.warnings[0]).toMatch(new RegExp(`^truncated: .* at byte offset ${lastStart}: read the ${all.frames.length - 1} frame\\(s\\) before it$`));
      const text = renderInspect(r);
      expect(text).toContain('warning: truncated');
      expect(text).toContain('⚑ tw-reuse ×2'); // both reopenings come before the last record
    }
  });

  it('pcapng cut at every byte of the last block', async () => {
    const buf = readFileSync(fx('inspect-twreuse.pcapng'));
    const whole = await inspectFile(fx('inspect-twreuse.pcapng'));
    const lastLen = buf.readUInt32LE(buf.length - 4);
    const p = join(dir, 'cut.pcapng');
    for (let n = buf.length - lastLen + 1; n < buf.length; n++) {
      writeFileSync(p, buf.subarray(0, n));
      const r = await inspectFile(p);
      expect(r.warnings[0], `cut at ${n}`).toMatch(/^truncated: .*at byte offset \d+: read the \d+ frame\(s\) before it$/);
      const lastIsPacket = buf.readUInt32LE(buf.length - lastLen) === 6;
      expect(r.frames).toBe(whole.frames - (lastIsPacket ? 1 : 0));
      expect(kinds(r)).toEqual(kinds(whole));
    }
  });
});

describe('inspect: stdin, pipes and gzip', () => {
  it('`-` reads stdin, also gzipped', () => {
    const data = readFileSync(fx('inspect-twserver.cap'));
    for (const input of [data, gzipSync(data)]) {
      const r = spawnSync('node', [cli, 'inspect', '-', '--json'], { input, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.file).toBe('-');
      expect(j.findings.map((f: { kind: string }) => f.kind)).toEqual(['tw-syn-accepted']);
      expect(j.gzip).toBe(input !== data);
    }
  });

  it('a named pipe (what `ssh host tcpdump -w - > fifo` makes)', async () => {
    const fifo = join(dir, 'tcplab-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `cat "${fx('inspect-twreuse.pcapng')}" > "${fifo}"`]);
    const done = new Promise((res) => writer.on('close', res));
    const r = await inspectFile(fifo);
    await done;
    expect(r.format).toBe('pcapng');
    expect(kinds(r)).toEqual(['tw-reuse', 'tw-reuse']);
  });

  it('.gz files, and a gzip stream cut short', async () => {
    const gz = gzipSync(readFileSync(fx('inspect-twreject.cap')));
    const p = join(dir, 'c.pcap.gz');
    writeFileSync(p, gz);
    const r = await inspectFile(p);
    expect(r.gzip).toBe(true);
    expect(kinds(r)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    writeFileSync(p, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const cut = await inspectFile(p);
    expect(cut.warnings.join('\n')).toMatch(/gzip stream truncated/);
    expect(cut.frames).toBeGreaterThan(0);
  });
});

describe('inspect: the batch decoder', () => {
  it('agrees with decode() on every frame of the fixtures (v4, v6, ethernet, sll, sll2, snaplen-cut)', async () => {
    for (const f of ['inspect-twreject.cap', 'inspect-twreuse-sll2.pcapng', 'veth-conn-v6.cap', 'any-conn-v4-sll.cap', 'lo-conn-v4-partial-csum.cap']) {
      const cap = await readCapture(fx(f));
      const buf = Buffer.concat(cap.frames.map((x) => Buffer.from(x.data)));
      const recs = new Uint32Array(cap.frames.length * IN_STRIDE);
      let off = 0;
      cap.frames.forEach((x, i) => { recs.set([off, x.data.length, batchLinkOf(x.linkType)!], i * IN_STRIDE); off += x.data.length; });
      const out = new Uint32Array(cap.frames.length * OUT_STRIDE);
      decodeBatch(buf, recs, cap.frames.length, out);
      cap.frames.forEach((x, i) => {
        const o = i * OUT_STRIDE;
        const data = x.origLen > x.data.length ? Buffer.concat([x.data, Buffer.alloc(x.origLen - x.data.length)]) : x.data;
        const d = decodableFrame(x.linkType, data);
        if ('skip' in d) return;
        const r = decode(d.data, d.link);
        if (!r.ok) { expect(out[o + O.status], `${f} frame ${i + 1}`).not.toBe(0); return; }
        const s = r.segment;
        expect(out[o + O.status], `${f} frame ${i + 1}`).toBe(0);
        expect([out[o + O.family], out[o + O.sport], out[o + O.dport], out[o + O.seq], out[o + O.ack], out[o + O.flags], out[o + O.window], out[o + O.len]])
          .toEqual([s.family, s.sport, s.dport, s.seq, s.ack, s.flagBits, s.window, s.payload.length]);
        const ts = s.options.find((q) => q.kind === 'ts');
        expect((out[o + O.opts]! & OPT.ts) !== 0).toBe(ts !== undefined);
        if (ts && ts.kind === 'ts') expect([out[o + O.tsVal], out[o + O.tsEcr]]).toEqual([ts.val, ts.ecr]);
        expect((out[o + O.opts]! & OPT.snapped) !== 0).toBe(x.origLen > x.data.length);
      });
    }
  });

  it('records outside the buffer and junk frames are marked, never read past', () => {
    const buf = Buffer.alloc(64, 0x45);
    const recs = new Uint32Array([0, 64, 2, 60, 10, 0, 0, 0, 9, 1 << 30, 4, 2]);
    const out = new Uint32Array(4 * OUT_STRIDE);
    decodeBatch(buf, recs, 4, out);
    for (let i = 0; i < 4; i++) expect(out[i * OUT_STRIDE + O.status]).not.toBe(0);
    expect(() => decodeBatch(buf, recs, 5, out)).toThrow(RangeError);
  });
});

describe('inspect: link layers and one-direction captures', () => {
  it('802.1Q and QinQ tagged Ethernet', async () => {
    for (const tags of ['8100' + '0064', '88a8' + '0001' + '8100' + '0064']) {
      const p = join(dir, `vlan-${tags.length}.pcapng`);
      writePcapng(p, twRejected().frames, { linkType: 1, prefix: (d: Buffer) => Buffer.concat([Buffer.from('020000000002020000000001' + tags + '0800', 'hex'), d]) });
      const r = await inspectFile(p);
      expect(r.tcpPackets).toBe(14);
      expect(kinds(r)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    }
  });

  it('only one direction captured: said so, and what can be found still is', async () => {
    const v = twRejected();
    const p = join(dir, 'onedir.pcap');
    // Keep the client's packets only (a mirror port on the client's uplink, one way).
    await writePcap(p, v.frames.filter((f) => f.data.readUInt32BE(12) === 0xc6120201));
    const r = await inspectFile(p, { maxConnections: 1 });
    expect(r.directions).toBe('one');
    expect(renderInspect(r)).toMatch(/only one direction of every connection was captured/);
    expect(r.rates[0]!.directions).toBe('client->server only');
  });
});

describe('inspect: aggregated findings and port reasoning on a capture of known content', () => {
  const p = join(dir, 'gen.pcap');
  const counts = generateCapture(p, 60_000, { reusePorts: 50, exhaustionPorts: 1000 });
  const ip = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

  it('one line per kind and (client, server:port), with the right counts, spread and outcomes', async () => {
    const r = await inspectFile(p, { ports: 1000 });
    const g = (kind: string) => r.findingGroups.find((x) => x.kind === kind)!;
    expect(r.findingGroups.map((x) => x.kind).sort()).toEqual(['rst-in-time-wait', 'tw-reuse']);
    expect(g('tw-reuse')).toMatchObject({ client: ip(GEN.reuse.client), server: `${ip(GEN.reuse.server)}:80`, count: counts.reuseReopenings, connections: 50, outcomes: { 'answered by SYN-ACK': counts.reuseReopenings } });
    expect(g('tw-reuse').min).toBeCloseTo(0.5, 3);
    expect(g('tw-reuse').max).toBeCloseTo(0.5, 3);
    expect(g('rst-in-time-wait')).toMatchObject({ count: counts.rstConnections, connections: counts.rstConnections, outcomes: { 'at RCV.NXT': counts.rstConnections } });
    const text = renderInspect(r);
    expect(text).toContain(`⚑ tw-reuse ×${counts.reuseReopenings.toLocaleString('en-US')} 198.18.0.1 -> 198.18.1.1:80, 50 connection(s): reopened 0.50 s into TIME-WAIT; answered by SYN-ACK ×${counts.reuseReopenings.toLocaleString('en-US')}`);
    expect(text.split('\n').length).toBeLessThan(2500); // 60,000 packets, a few thousand findings: a readable page
    // Every instance only when asked for.
    const all = await inspectFile(p, { ports: 1000, all: true, maxLadders: 0 });
    expect(all.allFindings).toHaveLength(counts.reuseReopenings + counts.rstConnections);
    expect(renderInspect(all, { all: true }).match(/^ {3}⚑ conn /gm)).toHaveLength(counts.reuseReopenings + counts.rstConnections);
  });

  it('ports reused in TIME-WAIT are not exhaustion; every port in TIME-WAIT is', async () => {
    const r = await inspectFile(p, { ports: 1000 });
    const reuse = r.rates.find((x) => x.client === ip(GEN.reuse.client))!;
    expect(reuse).toMatchObject({ distinctClientPorts: 50, portsReusedInTimeWait: 50, reusedInTimeWait: counts.reuseReopenings, maxInTimeWait: 50, risk: 'low' });
    expect(reuse.verdict).toMatch(/^50 client port\(s\) for [\d,]+ connection\(s\); 50 port\(s\) reused while their TIME-WAIT lived .*tcp_twsk_unique\(\).*SO_REUSEADDR.*no exhaustion/);
    const ex = r.rates.find((x) => x.client === ip(GEN.exhaustion.client))!;
    expect(ex).toMatchObject({ distinctClientPorts: 1000, maxInTimeWait: 1000, reusedInTimeWait: 0, risk: 'exhausted' });
    expect(ex.verdict).toMatch(/1,000 port\(s\) in TIME-WAIT at once = the whole range of 1,000: the next connect\(\) to 198\.18\.1\.2:8080 fails with EADDRNOTAVAIL \(__inet_hash_connect\(\)/);
    const global = r.findings.filter((f) => f.conn === 0);
    expect(global.map((f) => [f.kind, f.who])).toEqual([['port-exhaustion', ip(GEN.exhaustion.client)]]);
  });

  it('state is dropped a TIME-WAIT after close: fewer 4-tuples at once than in the file', async () => {
    const r = await inspectFile(p, { ports: 1000, timeWaitMs: 1000 });
    // 1,000 exhaustion connections over 1.5 s, 1 s each in TIME-WAIT: about 670 of them at once, plus the reuse and RST ones.
    expect(r.totalConnections).toBe(1170);
    expect(r.peakLive).toBeLessThan(900);
    // The reopenings at 0.5 s are still inside a 1 s TIME-WAIT: the same counts.
    expect(r.findingGroups.find((g) => g.kind === 'tw-reuse')!.count).toBe(counts.reuseReopenings);
  });

  it('findings always drawn: a finding past --max-packets is in the ladder with its frames; same in JSON', async () => {
    const r = await inspectFile(p, { ports: 1000, maxPackets: 20 });
    const c = r.connections.find((x) => x.findings.some((f) => f.kind === 'tw-reuse'))!;
    const late = c.findings[c.findings.length - 1]!;
    const text = renderInspect(r, { maxPackets: 20, conns: [c.id] });
    for (const q of late.packets) expect(c.packets).toContain(q);
    expect(text).toContain(`⚑ tw-reuse: ${late.text.slice(0, 40)}`);
    expect(text).toMatch(/packet\(s\) not (drawn|kept)/);
    const j = inspectToJson(r, { conns: [c.id], maxPackets: 20 });
    expect(j.connections.map((x) => x.id)).toEqual([c.id]);
    const frames = new Set(j.connections[0]!.packets.map((x) => x.frame));
    for (const f of j.connections[0]!.findings) for (const fr of f.frames) expect(frames.has(fr)).toBe(true);
  });
});

it('a conversation the synthetic helpers script, IPv6 end to end', async () => {
  const v = new Convo({ addr: 'fd00::1', port: 40000 }, { addr: 'fd00::2', port: 80 });
  const { cn, sn } = v.open(1000, 2000);
  v.c('F.', cn, sn).s('F.', sn, cn + 1).c('.', cn + 1, sn + 1);
  v.at(500).c('S', 9000, 0, { ts: [2000, 0] }).s('S.', 100, 9001, { ts: [7000, 2000] });
  const p = join(dir, 'v6.pcap');
  await writePcap(p, v.frames);
  const r = await inspectFile(p);
  expect(kinds(r)).toEqual(['tw-reuse']);
  expect(r.connections[0]!.ends.map((e) => e.addr)).toEqual(['fd00::1', 'fd00::2']);
});
