import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { numberFrames, writeCaseCapture } from '../../src/lab/capture-file.js';
import { pcapngReading } from '../../src/inspect/annotate.js';
import { renderLadder, wrap } from '../../src/lab/ladder.js';
import type { CaptureSource } from '../../src/lab/types.js';
import type { PacketRecord } from '../../src/lab/packets.js';
import { decodableFrame, readCapture } from '../../src/inspect/capture.js';
import { decode } from '../../src/wire/segment.js';
import { encode, encodeEthernet } from '../../src/wire/segment.js';

const fx = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);

async function packets(name: string): Promise<PacketRecord[]> {
  const c = await readCapture(fx(name));
  return c.frames.flatMap((fr) => {
    const d = decodableFrame(fr.linkType, fr.data);
    if ('skip' in d) return [];
    const r = decode(d.data, d.link);
    return r.ok ? [{ tsNs: fr.tsNs, dir: 'in' as const, point: 'x', segment: r.segment }] : [];
  });
}

describe('terminal ladder', () => {
  it('two columns: byte for byte what the first ladder drew (relative, absolute + narrow, colour)', async () => {
    const out: string[] = [];
    for (const f of ['veth-conn-v4.cap', 'veth-conn-v6.cap']) {
      const ps = await packets(f);
      const a = ps[0]!.segment;
      const notes = [{ tsNs: ps[2]!.tsNs + 1n, who: 'client', text: 'connect() -> 0' }];
      const cols = [{ label: 'client', addrs: [a.src] }, { label: 'server', addrs: [a.dst] }] as const;
      out.push(renderLadder(ps, notes, cols), renderLadder(ps, notes, cols, { absolute: true, width: 80 }), renderLadder(ps, notes, cols, { color: true }));
    }
    // Recorded with the two-column renderer before three columns and states were added; the narrow
    // ladder re-recorded when long labels began to wrap instead of being cut with '…'.
    expect(out.join('\n\n') + '\n').toBe(readFileSync(fx('inspect-ladder2-compat.txt'), 'utf8'));
  });

  it('three columns: client, prober (ghost address), server; arrows cross the middle bar', () => {
    const mk = (src: string, dst: string, flags: string, t: number): PacketRecord => {
      const r = decode(encode({ src, dst, sport: src.endsWith('1') ? 40000 : 80, dport: dst.endsWith('1') ? 40000 : 80, seq: 100, ack: 1, flags }), 'raw');
      if (!r.ok) throw new Error(r.error);
      return { tsNs: BigInt(t), dir: 'in', point: 'x', segment: r.segment };
    };
    const ps = [
      mk('198.18.0.1', '198.18.0.2', 'S', 1000),     // client -> server (crosses the prober)
      mk('198.18.0.99', '198.18.0.2', 'R', 2000),    // prober -> server
      mk('198.18.0.2', '198.18.0.99', '.', 3000),    // server -> prober
      mk('198.18.0.2', '198.18.0.1', 'S.', 4000),    // server -> client
    ];
    const text = renderLadder(ps, [], [
      { label: 'client', addrs: ['198.18.0.1'] },
      { label: 'prober', addrs: ['198.18.0.99'] },
      { label: 'server', addrs: ['198.18.0.2'] },
    ], { width: 90 });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/client \(198\.18\.0\.1\) .* prober \(198\.18\.0\.99\) .* server \(198\.18\.0\.2\)/);
    const rows = lines.slice(2);
    const bar = (l: string, i: number) => [...l].map((ch, k) => (/[│├┤┼▶◀]/.test(ch) ? k : -1)).filter((k) => k >= 0)[i];
    // Every row has three bars at the same places; the first arrow crosses the middle one.
    const mid = [...lines[1]!].indexOf('│', [...lines[1]!].indexOf('│') + 1);
    expect(rows[0]).toMatch(/├─ S .*┼.*▶│$/);
    expect([...rows[0]!][mid]).toBe('┼');
    expect([...rows[1]!][mid]).toBe('├');
    expect(rows[1]).toMatch(/├─ R .*▶│$/);
    expect([...rows[2]!][mid]).toBe('│');
    expect(rows[2]).toMatch(/│◀.* \. .*─┤$/);
    expect(rows[3]).toMatch(/^ *\+0\.001  │◀.*┼.* S\. .*─┤$/);
    expect(bar(rows[3]!, 0)).toBe(bar(lines[1]!, 0));
  });

  it('states beside the bars, printed where they change', async () => {
    const ps = await packets('veth-conn-v4.cap');
    const st = new Map(ps.map((p, i) => [p, [i < 2 ? 'SYN-SENT' : 'ESTABLISHED', i < 1 ? 'LISTEN' : 'ESTABLISHED'] as const]));
    const a = ps[0]!.segment;
    const text = renderLadder(ps, [], [{ label: 'client', addrs: [a.src] }, { label: 'server', addrs: [a.dst] }], { states: (p) => st.get(p) });
    // Packet rows (a long label's other lines follow its row without a time).
    const rows = text.split('\n').slice(2).filter((l) => /\+\d/.test(l));
    expect(rows[0]).toMatch(/^ +\+0\.000 +SYN-SENT ├─ S .*▶│ LISTEN$/);
    expect(rows[1]).toMatch(/┤ ESTABLISHED$/);
    expect(rows[2]).toMatch(/ESTABLISHED ├─/);
    expect(rows[3]).not.toMatch(/ESTABLISHED/);
  });

  it('rejects a ladder of one or four columns', () => {
    expect(() => renderLadder([], [], [{ label: 'a', addrs: [] }])).toThrow(RangeError);
  });
});

// --- ladders that explain themselves: width, wrapping, relative ISN, legend, frame numbers ---

const C = '198.18.0.1';
const S = '198.18.0.2';
const MAC = { c: '02:00:00:00:00:01', s: '02:00:00:00:00:02' };
const T0 = 1_700_000_000_000_000_000n;

/** A server-closes-first connection, then a new SYN 100000 above the old rcv_nxt that TIME-WAIT answers with an ACK. */
function story(): Array<{ from: 'c' | 's'; seq: number; ack: number; flags: string; opts?: boolean }> {
  return [
    { from: 'c', seq: 1000, ack: 0, flags: 'S', opts: true },
    { from: 's', seq: 5000, ack: 1001, flags: 'S.', opts: true },
    { from: 'c', seq: 1001, ack: 5001, flags: '.' },
    { from: 's', seq: 5001, ack: 1001, flags: 'F.' },
    { from: 'c', seq: 1001, ack: 5002, flags: '.' },
    { from: 'c', seq: 1001, ack: 5002, flags: 'F.' },
    { from: 's', seq: 5002, ack: 1002, flags: '.' },
    { from: 'c', seq: 101002, ack: 0, flags: 'S', opts: true },
    { from: 's', seq: 5002, ack: 1002, flags: '.' },
  ];
}

function frameOf(x: ReturnType<typeof story>[number]): Buffer {
  const [src, dst, sport, dport] = x.from === 'c' ? [C, S, 40000, 8080] : [S, C, 8080, 40000];
  const options = x.opts ? [{ kind: 'mss' as const, value: 1460 }, { kind: 'sackOk' as const }, { kind: 'ts' as const, val: 123456789, ecr: 987654321 }, { kind: 'wscale' as const, shift: 7 }] : [];
  return encodeEthernet({ src, dst, sport, dport, seq: x.seq, ack: x.ack, flags: x.flags, options }, x.from === 'c' ? { srcMac: MAC.c, dstMac: MAC.s } : { srcMac: MAC.s, dstMac: MAC.c });
}

/** Two capture points: the prober's end sees everything (plus an ARP frame), the server's end the last two packets. */
function sources(): CaptureSource[] {
  const a: Array<{ data: Uint8Array; tsNs: bigint; dir: 'in' | 'out' }> = [];
  const b: typeof a = [];
  story().forEach((x, i) => {
    const tsNs = T0 + BigInt(i) * 1_000_000n;
    a.push({ data: frameOf(x), tsNs, dir: x.from === 'c' ? 'out' : 'in' });
    if (i >= 7) b.push({ data: frameOf(x), tsNs: tsNs + 5000n, dir: x.from === 'c' ? 'in' : 'out' });
  });
  const arp = Buffer.alloc(42);
  arp.writeUInt16BE(0x0806, 12);
  a.splice(3, 0, { data: arp, tsNs: T0 + 2_500_000n, dir: 'out' });
  const src = (point: string, frames: typeof a): CaptureSource => ({
    point,
    link: 'ethernet',
    frames: () => frames,
    records: () => frames.flatMap((f) => {
      const r = decode(f.data, 'ethernet');
      return r.ok ? [{ tsNs: f.tsNs, dir: f.dir, point, segment: r.segment }] : [];
    }),
  });
  return [src('prober:tcplab-a', a), src('server:tcplab-b', b)];
}

const cols = [{ label: 'prober', addrs: [C] }, { label: 'server', addrs: [S] }] as const;
const visible = (l: string) => [...l.replace(/\x1b\[[0-9;]*m/g, '')].length;

function numbered() {
  const caps = sources();
  const n = numberFrames(caps);
  const packets = caps.flatMap((c) => c.records()).sort((x, y) => (x.tsNs < y.tsNs ? -1 : x.tsNs > y.tsNs ? 1 : 0));
  for (const p of packets) p.frame = n.frameOf(p);
  return { caps, n, packets };
}

describe('ladders that explain themselves', () => {
  it('fits the width by wrapping, at every width, never cutting with …', () => {
    const { packets } = numbered();
    const note = { tsNs: packets[2]!.tsNs + 1n, who: 'prober', text: 'a long note that goes on and on about tcp_timewait_state_process() and RFC 6191 section 2 until it needs several lines at any width '.repeat(2) };
    for (const width of [80, 100, 132, 160]) {
      for (const states of [undefined, () => ['ESTABLISHED', 'TIME-WAIT'] as const]) {
        const text = renderLadder(packets, [note], cols, { width, frames: true, color: true, ...(states ? { states } : {}) });
        const lines = text.split('\n');
        for (const l of lines) expect(visible(l), `${width}: ${l}`).toBeLessThanOrEqual(width);
        expect(text).not.toContain('…');
        // Nothing lost: every word of the note and of the longest label is there.
        const flat = lines.join(' ').replace(/\s+/g, ' ');
        for (const w of ['tcp_timewait_state_process()', 'several', 'mss 1460', 'TS 123456789/987654321', 'ws 7]', '(old rcv_nxt + 100000)']) expect(flat, `${width}`).toContain(w);
      }
    }
    expect(() => renderLadder(packets, [], cols, { width: 79 })).toThrow(/width: an integer of at least 80/);
  });

  it('wrap() splits on spaces, splits only words longer than a line, and drops nothing', () => {
    expect(wrap('aa bb cc dd', 5)).toEqual(['aa bb', '  cc', '  dd']);
    expect(wrap('abcdefghij', 4, 0)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrap('', 10)).toEqual(['']);
  });

  it("a new incarnation's SYN shows its ISN against the old rcv_nxt; negative numbers and it get a legend", () => {
    const { packets } = numbered();
    const text = renderLadder(packets, [], cols, { width: 140 });
    expect(text).toMatch(/S {3}seq 0 \(old rcv_nxt \+ 100000\) win/);
    // The TIME-WAIT's ACK acknowledges the old rcv_nxt: 100000 below the new ISN.
    expect(text).toMatch(/\. {3}seq 2 ack -100000 win/);
    expect(text).toMatch(/^\(old rcv_nxt ± n\): a new incarnation's ISN/m);
    expect(text).toMatch(/^negative seq\/ack: /m);
    // Below the old sequence space: a minus sign; a retransmitted SYN is no new incarnation.
    const below = packets.map((p) => (p.segment.seq === 101002 ? { ...p, segment: { ...p.segment, seq: 901 } } : p));
    expect(renderLadder(below, [], cols, { width: 140 })).toMatch(/seq 0 \(old rcv_nxt - 101\)/);
    const first = packets.slice(0, 3);
    const again = [...first, { ...first[0]!, tsNs: first[0]!.tsNs + 5_000_000n }];
    const plain = renderLadder(again, [], cols, { width: 140 });
    expect(plain).not.toContain('old rcv_nxt');
    expect(plain).not.toMatch(/^negative/m);
  });

  it('the No. column is the frame number tshark shows for the case pcapng (ARP and both ends counted)', async () => {
    const { caps, n, packets } = numbered();
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-ladder-'));
    try {
      const path = join(dir, 'case.pcapng');
      const checks = [{
        id: 'answer', title: 'what the server answers', verdict: 'PASS' as const, expected: '"ACK"', rule: 'linux *', observed: 'ACK',
        evidence: { packets: [], sockets: [], counters: {} }, packetRecords: packets.filter((p) => p.segment.seq === 5002 && p.tsNs > T0 + 7_000_000n),
      }];
      await writeCaseCapture({
        path, format: 'pcapng', title: 'tcplab test case', captures: caps, numbered: n, packets, columns: cols,
        steps: ['open', 'close', 'new SYN'], stepsAt: [T0, T0 + 3_000_000n, T0 + 7_000_000n], checks, reader: pcapngReading,
      });
      const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'frame.interface_name',
        '-e', 'tcp.seq_raw', '-e', 'tcp.flags.str', '-e', 'frame.comment'], { encoding: 'utf8', stderr: 'ignore' } as never) as unknown as string;
      const rows = new Map(out.trim().split('\n').map((l) => l.split('|')).map((f) => [Number(f[0]), f]));
      expect(rows.size).toBe(12); // 9 at the prober's end, 1 ARP, 2 at the server's
      const ladder = renderLadder(packets, [], cols, { frames: true, width: 140 }).split('\n');
      const drawn = ladder.flatMap((l) => {
        const m = /^ *(\d+) +\+[\d.]+s? .*?([SFRP.]+) +seq (\d+)/.exec(l);
        return m ? [{ frame: Number(m[1]), flags: m[2]! }] : [];
      });
      // Each segment once (the server's copies of the last two are not drawn again), in frame order.
      expect(drawn.map((d) => d.frame)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 11]);
      for (const d of drawn) {
        const t = rows.get(d.frame)!;
        expect(t[1]).toBe('prober:tcplab-a');
        const p = packets.find((q) => q.frame === d.frame)!;
        expect(Number(t[2])).toBe(p.segment.seq);
      }
      expect(rows.get(4)![2]).toBe(''); // the ARP frame: no TCP
      expect(rows.get(10)![1]).toBe('server:tcplab-b');
      // The comments: step, states, check evidence with its verdict, inspect's finding.
      expect(rows.get(1)![4]).toMatch(/^step 1: open,state after: prober SYN-SENT, server LISTEN/);
      expect(rows.get(4)![4]).toBe('step 1: open');
      expect(rows.get(5)![4]).toMatch(/^step 2: close/);
      expect(rows.get(11)![4]).toContain('step 3: new SYN');
      expect(rows.get(11)![4]).toContain('evidence for check answer (what the server answers): PASS, observed "ACK", expected "ACK"');
      expect(rows.get(12)![4]).toContain('evidence for check answer');
      expect(out).toMatch(/inspect ⚑ tw-syn-\w+/);
      // The classic format on request: the same frames, no comments.
      const classic = join(dir, 'case.pcap');
      await writeCaseCapture({ path: classic, format: 'pcap', title: 'x', captures: caps, numbered: n, packets, columns: cols, steps: [], stepsAt: [], checks });
      const c = await readCapture(classic);
      expect(c.format).toBe('pcap');
      expect(c.frames.length).toBe(12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
