// Connections as the report shows them, and analyze(): the tracker (track.ts) over an in-memory list of
// packets (a lab case's, for ladders and --explain notes). Streaming captures go through index.ts.
import type { PacketRecord } from '../lab/packets.js';
import { tsOption } from '../lab/packets.js';
import { explain } from '../lab/explain.js';
import { formatFlags } from '../wire/flags.js';
import type { Segment, TcpOption } from '../wire/types.js';
import { stStates, Tracker, type Endpoint, type FindingKind, type IncSummary, type Pkt, type RawFinding, type TcpState, type TrackerSink } from './track.js';

export { epStr } from './track.js';
export type { Endpoint, FindingKind, TcpState } from './track.js';
export type { RateReport } from './ports.js';

/** A packet read from a capture: the lab's record plus its frame number in the file. */
export interface InspectPacket extends PacketRecord {
  frame: number;
}

export interface Finding {
  kind: FindingKind;
  /** Connection id (1-based) and incarnation number within it; 0 for findings about many connections. */
  conn: number;
  incarnation: number;
  tsNs: bigint;
  /** The endpoint the finding is about, 'addr:port'. */
  who: string;
  text: string;
  /** The packets that show it. */
  packets: InspectPacket[];
}

export interface Incarnation {
  n: number;
  startNs: bigint;
  endNs: bigint;
  packets: number;
  /** How it ended, if it did: both sides CLOSED or in TIME-WAIT. */
  closedBy?: 'FIN' | 'RST';
  closedAtNs?: bigint;
  /** States of [client, server] after the last packet. */
  finalStates: [TcpState, TcpState];
  /** Gap since the previous incarnation closed, when it had. */
  gapNs?: bigint;
}

export interface Connection {
  id: number;
  /** [client, server]: the client sent the first SYN (or, with no SYN, uses the higher port). */
  ends: [Endpoint, Endpoint];
  /** The packets kept for the ladder (all of them unless --max-packets cut some; a finding's are always kept). */
  packets: InspectPacket[];
  /** Packets of the connection in all (packets.length + those not kept). */
  totalPackets: number;
  /** Position of each kept packet among all of the connection's (gaps are packets not kept). */
  index: number[];
  /** States of [client, server] after each kept packet. */
  states: Map<PacketRecord, [TcpState, TcpState]>;
  incarnations: Incarnation[];
  /** Incarnations in all (the list above stops at 1000). */
  totalIncarnations: number;
  findings: Finding[];
  /** Incarnations whose client ended in TIME-WAIT (it closed first). */
  clientTimeWaits: number;
  /** Packets client->server and server->client. */
  directions: [number, number];
}

export interface AnalyzeOptions {
  /** How long TIME-WAIT lasts, ms (Linux: 60000, TCP_TIMEWAIT_LEN). */
  timeWaitMs?: number;
}

const EMPTY = new Uint8Array(65536);

/** The tracker's flat packet from a decoded record. */
export function pktOf(p: InspectPacket, t0: bigint): Pkt {
  const s = p.segment;
  const ts = tsOption(s);
  let mss = -1, wscale = -1, sackOk = false;
  for (const o of s.options) {
    if (o.kind === 'mss') mss = o.value;
    else if (o.kind === 'wscale') wscale = o.shift;
    else if (o.kind === 'sackOk') sackOk = true;
  }
  return {
    frame: p.frame, t: Number(p.tsNs - t0), iface: 0, family: s.family, src: s.src, dst: s.dst, sport: s.sport, dport: s.dport,
    seq: s.seq, ack: s.ack, flags: s.flagBits, win: s.window, len: s.payload.length, ipId: s.ip.id,
    tsVal: ts ? ts.val : -1, tsEcr: ts ? ts.ecr : 0, mss, wscale, sackOk, rec: p, st: 0,
  };
}

/** A record for ladders and JSON from a flat packet (the payload bytes are not kept: zeros of its length). */
export function recordOf(p: Pkt, t0: bigint, point: string): InspectPacket {
  if (p.rec) return p.rec as InspectPacket;
  const options: TcpOption[] = [];
  if (p.mss >= 0) options.push({ kind: 'mss', value: p.mss });
  if (p.sackOk) options.push({ kind: 'sackOk' });
  if (p.tsVal >= 0) options.push({ kind: 'ts', val: p.tsVal, ecr: p.tsEcr });
  if (p.wscale >= 0) options.push({ kind: 'wscale', shift: p.wscale });
  const segment: Segment = {
    family: p.family, src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, seq: p.seq, ack: p.ack, flagBits: p.flags,
    flags: formatFlags(p.flags), window: p.win, urg: 0, options,
    payload: p.len <= EMPTY.length ? EMPTY.subarray(0, p.len) : new Uint8Array(p.len),
    ip: { ttl: 0, id: p.ipId, df: false, tos: 0, flowLabel: 0 },
    checksum: { ip: 'unchecked', tcp: 'unchecked', tcpValue: 0 },
    ipLength: (p.family === 4 ? 20 : 40) + 20 + p.len,
  };
  return { tsNs: t0 + BigInt(Math.round(p.t)), dir: 'in', point, segment, frame: p.frame };
}

/** The report's view of a tracker that was drawn (its kept packets, incarnations and findings). */
export function connectionOf(tr: Tracker, t0: bigint, point: (p: Pkt) => string): Connection {
  const recs = new Map<Pkt, InspectPacket>();
  const rec = (p: Pkt) => {
    let r = recs.get(p);
    if (!r) recs.set(p, (r = recordOf(p, t0, point(p))));
    return r;
  };
  const abs = (t: number) => t0 + BigInt(Math.round(t));
  const kept = tr.kept ?? [];
  const states = new Map<PacketRecord, [TcpState, TcpState]>();
  for (const p of kept) states.set(rec(p), stStates(p.st));
  const inc = (i: IncSummary): Incarnation => ({
    n: i.n, startNs: abs(i.start), endNs: abs(i.end), packets: i.packets, closedBy: i.closedBy,
    closedAtNs: i.closedAt === undefined ? undefined : abs(i.closedAt), finalStates: i.finalStates,
    gapNs: i.gap === undefined ? undefined : BigInt(Math.round(i.gap)),
  });
  const finding = (f: RawFinding): Finding => ({
    kind: f.kind, conn: tr.id, incarnation: f.inc, tsNs: abs(f.t), who: tr.names[f.who], text: f.text, packets: f.pkts.map(rec),
  });
  return {
    id: tr.id, ends: tr.ends, packets: kept.map(rec), totalPackets: tr.packets, index: kept.map((p) => p.n ?? 0), states, incarnations: (tr.incs ?? []).map(inc),
    totalIncarnations: tr.incarnations, findings: (tr.keptFindings ?? []).map(finding), clientTimeWaits: tr.clientTimeWaits,
    directions: [...tr.dirPackets],
  };
}

const quietSink: TrackerSink = { finding() {}, syn() {}, clientTw() {}, clientTwEnd() {}, incDone() {}, closed() {} };

/** Groups packets into connections (by 4-tuple, in order of first packet) and analyses each; keeps everything. */
export function analyze(packets: readonly InspectPacket[], opts: AnalyzeOptions = {}): Connection[] {
  const twNs = Math.round((opts.timeWaitMs ?? 60_000) * 1e6);
  const sorted = [...packets].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.frame - b.frame));
  const t0 = sorted[0]?.tsNs ?? 0n;
  const trackers = new Map<string, Tracker>();
  for (const p of sorted) {
    const s = p.segment;
    const a = `${s.src}|${s.sport}`;
    const b = `${s.dst}|${s.dport}`;
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    const q = pktOf(p, t0);
    let tr = trackers.get(key);
    if (!tr) {
      trackers.set(key, (tr = new Tracker(trackers.size + 1, q, twNs, quietSink)));
      tr.draw();
    }
    tr.push(q);
  }
  return [...trackers.values()].map((tr) => {
    tr.finish();
    return connectionOf(tr, t0, (p) => (p.rec as InspectPacket).point);
  });
}

/** The explanation for a finding kind (the unanswered case has its own words). */
export function findingExplanation(kind: FindingKind): { title: string; text: string; rules: readonly string[] } {
  if (kind === 'tw-syn-unanswered') {
    return {
      title: 'SYN on a 4-tuple in TIME-WAIT, no answer',
      text: 'No answer to the SYN was captured: a stack may drop a SYN that fails PAWS (TSval older than TS.Recent) ' +
        'silently, or the answer took another path.',
      rules: ['RFC 7323 §5', 'RFC 6191', 'tcp_timewait_state_process()'],
    };
  }
  return explain(kind);
}
