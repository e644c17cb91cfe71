// `tcplab inspect capture.pcap`: stream any capture through the native batch decoder and one tracker per
// live 4-tuple; summarise and drop a 4-tuple a TIME-WAIT after it closed, so memory follows the number
// of connections alive at once, not the size of the file.
import type { Readable } from 'node:stream';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeBatch, O, OPT, OUT_STRIDE, SKIP_REASONS } from '../wire/batch.js';
import { connectionOf, type Connection, type Finding } from './analyze.js';
import { LINKTYPE_NAMES } from './capture.js';
import { FindingAggregator, type FindingExample, type FindingGroup } from './findings.js';
import { PortAccounting, type RateReport } from './ports.js';
import { streamCapture, type FrameBatch } from './stream.js';
import { Tracker, type Pkt, type RawFinding, type TrackerSink } from './track.js';


export interface InspectOptions {
  /** TIME-WAIT length in ms (Linux TCP_TIMEWAIT_LEN: 60000). */
  timeWaitMs?: number;
  /** Ephemeral ports a client has, for the exhaustion estimate (Linux default 32768-60999: 28232). */
  ports?: number;
  /** Connections with findings whose packets are kept for ladders (first come); default 20. */
  maxLadders?: number;
  /** Packets kept per drawn connection (a finding's packets and their context are kept beyond it); default 200. */
  maxPackets?: number;
  /** Connections kept (and drawn) whatever their findings. */
  conns?: readonly number[];
  /** Also keep the first N connections without findings; default 0. */
  maxConnections?: number;
  /** Keep every finding instance (--all), not only counts and examples. */
  all?: boolean;
  /** Read from this stream instead of the path (the path then only names it). */
  stream?: Readable;
}

export interface InspectReport {
  file: string;
  format: 'pcap' | 'pcapng';
  gzip: boolean;
  linkTypes: string[];
  frames: number;
  tcpPackets: number;
  /** Frames cut by the capture's snaplen (analysed from their headers, payload length from the IP header). */
  snapped: number;
  /** Frames that are not TCP or could not be decoded, by reason. */
  skipped: Record<string, number>;
  /** Damage in the file: reading stopped there, everything before it is analysed. */
  warnings: string[];
  firstNs?: bigint;
  lastNs?: bigint;
  /** What the `t` of findingGroups examples and allFindings counts from (ns since the epoch). */
  originNs: bigint;
  timeWaitMs: number;
  /** Connections (4-tuples while their state lived) and incarnations in all. */
  totalConnections: number;
  totalIncarnations: number;
  /** Most 4-tuples tracked at one moment (what memory follows). */
  peakLive: number;
  /** Which directions the capture holds, over all connections. */
  directions: 'both' | 'one' | 'none';
  /** The connections kept for ladders: with findings (up to maxLadders), asked for, or the first quiet ones. */
  connections: Connection[];
  /** Instances of the kept connections, plus the findings about many connections (port exhaustion). */
  findings: Finding[];
  findingGroups: FindingGroup[];
  /** Every instance with `all`. */
  allFindings?: FindingExample[];
  rates: RateReport[];
}

/** Connections drawn per finding group: the rest of the group are alike (its aggregate line counts them). */
const LADDERS_PER_GROUP = 3;
/** 4-tuples not closed but silent this long are dropped too (a capture that missed their end). */
const IDLE_NS = 300e9;

interface QEntry { tr: Tracker; gen: number; deadline: number }

/**
 * V8 grows the old generation with the allocation rate, not with what is alive: a reader that allocates a
 * small object per packet for hours ends up with a heap many times its live set (1M packets: ~220 MB RSS,
 * 10M: ~490 MB, the live set being the same ~100 MB). A full collection whenever the heap passes a bound
 * (1.5x what survived the last one, at least 160 MB) keeps the RSS flat for the cost of a few collections.
 */
class HeapGuard {
  private gc?: () => void;
  private bound = 160e6;
  constructor() {
    try {
      setFlagsFromString('--expose-gc');
      this.gc = runInNewContext('gc') as () => void;
    } catch {
      this.gc = undefined; // no guard: memory may grow with the file, nothing else changes
    }
  }
  check(): void {
    if (!this.gc || getHeapStatistics().total_heap_size < this.bound) return;
    this.gc();
    this.bound = Math.max(160e6, getHeapStatistics().used_heap_size * 1.5);
  }
}

function ipv6(b: Buffer, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[o + i]! << 8) | b[o + i + 1]!);
  // RFC 5952: the longest run of two or more zero words becomes '::' (the first such run on a tie).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** Reads and analyses a capture. Throws CaptureFormatError (naming file and offset) for files that are not captures. */
export async function inspectFile(path: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const timeWaitMs = opts.timeWaitMs ?? 60_000;
  if (!Number.isFinite(timeWaitMs) || timeWaitMs <= 0) throw new RangeError(`timeWaitMs: must be a positive number of ms, got ${timeWaitMs}`);
  const ports = opts.ports ?? 60999 - 32768 + 1;
  if (!Number.isInteger(ports) || ports < 1 || ports > 65535) throw new RangeError(`ports: must be an integer 1..65535, got ${ports}`);
  const twNs = timeWaitMs * 1e6;
  const maxLadders = opts.maxLadders ?? 20;
  const maxPackets = opts.maxPackets ?? 200;
  const wanted = new Set(opts.conns ?? []);
  let quietBudget = opts.maxConnections ?? 0;
  let drawBudget = maxLadders;

  const portAcc = new PortAccounting(twNs);
  const agg = new FindingAggregator(opts.all === true);
  const kept: Tracker[] = [];
  /** Reported: with findings (within the ladder budget), asked for, or quiet ones allowed. */
  const shown = new Set<Tracker>();
  // Trackers kept in full from their first packet on the chance that they will have findings (whole
  // history in the ladder); one without findings gives its slot back when its state is dropped.
  const speculative = new Set<Tracker>();
  const closedQ: QEntry[] = [];
  const drawnPerGroup = new Map<string, number>();
  let qHead = 0;
  const sink: TrackerSink = {
    finding(tr: Tracker, f: RawFinding) {
      agg.add(tr, f);
      if (f.kind === 'tw-reuse') portAcc.reuse(tr, f.metric ?? 0, f.pkts[0]!.tsVal >= 0);
      if (shown.has(tr)) return;
      // Ladders for the first few connections of each group (kind, client, server:port), up to maxLadders.
      const k = `${f.kind}|${tr.ends[0].addr}|${tr.names[1]}`;
      const d = drawnPerGroup.get(k) ?? 0;
      if (drawBudget > 0 && d < LADDERS_PER_GROUP) {
        drawnPerGroup.set(k, d + 1);
        drawBudget--;
        shown.add(tr);
        if (speculative.delete(tr)) return; // kept from its first packet already
        tr.draw();
        kept.push(tr);
      }
    },
    syn: (tr, t) => portAcc.syn(tr, t),
    clientTw: (tr, t) => portAcc.clientTw(tr, t),
    clientTwEnd: (tr) => portAcc.clientTwEnd(tr),
    incDone() {},
    closed(tr) { closedQ.push({ tr, gen: ++tr.qgen, deadline: tr.lastT + twNs }); },
  };

  // Two levels keyed by endpoint (v4: address * 65536 + port, a number; v6: a string), lower endpoint first.
  const live = new Map<number | string, Map<number | string, Tracker>>();
  let nLive = 0, peakLive = 0, nextId = 0, totalIncarnations = 0;
  let tcpPackets = 0, snapped = 0, lastT = 0, firstT = Infinity, maxT = -Infinity;
  let dirs = 0; // bit 1: some connection saw both directions; bit 2: some saw one only
  const skipped: Record<string, number> = {};
  const v4names = new Map<number, string>();
  const v6names = new Map<string, string>();
  let out = new Uint32Array(16384 * OUT_STRIDE);
  let lastSweep = 0;
  const heap = new HeapGuard();

  const evict = (tr: Tracker, a: number | string, b: number | string) => {
    const inner = live.get(a);
    if (inner?.get(b) !== tr) return;
    inner.delete(b);
    if (inner.size === 0) live.delete(a);
    nLive--;
    retire(tr);
    if (speculative.delete(tr)) kept.splice(kept.indexOf(tr), 1);
  };
  const retire = (tr: Tracker) => {
    tr.finish();
    portAcc.clientTwEnd(tr);
    portAcc.count(tr);
    totalIncarnations += tr.incarnations;
    dirs |= tr.dirPackets[0] && tr.dirPackets[1] ? 1 : 2;
  };

  const housekeeping = (now: number) => {
    portAcc.expire(now);
    while (qHead < closedQ.length && closedQ[qHead]!.deadline <= now) {
      const e = closedQ[qHead++]!;
      if (e.gen !== e.tr.qgen || !e.tr.done) continue; // reopened: closed() queues it again when it closes
      if (e.tr.lastT + twNs <= now) evict(e.tr, e.tr.keyA!, e.tr.keyB!);
      else closedQ.push({ tr: e.tr, gen: ++e.tr.qgen, deadline: e.tr.lastT + twNs });
    }
    if (qHead > 65536 && qHead * 2 > closedQ.length) { closedQ.splice(0, qHead); qHead = 0; }
    if (now - lastSweep >= IDLE_NS / 2) {
      lastSweep = now;
      for (const [a, inner] of live) {
        for (const [b, tr] of inner) if (!tr.done && tr.lastT + IDLE_NS <= now) evict(tr, a, b);
      }
    }
  };

  const onBatch = (bt: FrameBatch) => {
    if (out.length < bt.n * OUT_STRIDE) out = new Uint32Array(bt.n * OUT_STRIDE);
    decodeBatch(bt.buf, bt.recs, bt.n, out);
    const buf = bt.buf;
    for (let i = 0; i < bt.n; i++) {
      const o = i * OUT_STRIDE;
      const status = out[o + O.status]!;
      if (status !== 0) {
        const why = bt.recs[i * 3 + 2] === 255 ? 'link type not supported' : SKIP_REASONS[status] ?? `status ${status}`;
        skipped[why] = (skipped[why] ?? 0) + 1;
        continue;
      }
      tcpPackets++;
      const family = out[o + O.family] as 4 | 6;
      const ao = out[o + O.addrOff]!;
      const sport = out[o + O.sport]!, dport = out[o + O.dport]!;
      let src: string, dst: string, ka: number | string, kb: number | string;
      if (family === 4) {
        const s = buf.readUInt32BE(ao), d = buf.readUInt32BE(ao + 4);
        src = v4names.get(s) ?? (v4names.set(s, `${s >>> 24}.${(s >>> 16) & 255}.${(s >>> 8) & 255}.${s & 255}`), v4names.get(s)!);
        dst = v4names.get(d) ?? (v4names.set(d, `${d >>> 24}.${(d >>> 16) & 255}.${(d >>> 8) & 255}.${d & 255}`), v4names.get(d)!);
        ka = s * 65536 + sport;
        kb = d * 65536 + dport;
      } else {
        const s = buf.toString('latin1', ao, ao + 16), d = buf.toString('latin1', ao + 16, ao + 32);
        src = v6names.get(s) ?? (v6names.set(s, ipv6(buf, ao)), v6names.get(s)!);
        dst = v6names.get(d) ?? (v6names.set(d, ipv6(buf, ao + 16)), v6names.get(d)!);
        ka = `${s}${sport}`;
        kb = `${d}${dport}`;
      }
      const bits = out[o + O.opts]!;
      if (bits & OPT.snapped || bt.origLen[i]! > bt.recs[i * 3 + 1]!) snapped++;
      const t = bt.t[i]!;
      const p: Pkt = {
        frame: bt.firstFrame + i, t, iface: bt.iface[i]!, family, src, dst, sport, dport,
        seq: out[o + O.seq]!, ack: out[o + O.ack]!, flags: out[o + O.flags]!, win: out[o + O.window]!, len: out[o + O.len]!,
        ipId: out[o + O.ipId]!, tsVal: bits & OPT.ts ? out[o + O.tsVal]! : -1, tsEcr: out[o + O.tsEcr]!,
        mss: bits & OPT.mss ? out[o + O.mss]! : -1, wscale: bits & OPT.wscale ? out[o + O.wscale]! : -1,
        sackOk: (bits & OPT.sackOk) !== 0, st: 0,
      };
      if (t < firstT) firstT = t;
      if (t > maxT) maxT = t;
      lastT = t;
      // The outer key is the endpoint with the lower port (usually the server: one inner map for all its
      // clients, not one per client port); equal ports fall back to the key order.
      const lowFirst = sport < dport || (sport === dport && ka < kb);
      const a = lowFirst ? ka : kb, b = lowFirst ? kb : ka;
      let inner = live.get(a);
      let tr = inner?.get(b);
      if (!tr) {
        tr = new Tracker(++nextId, p, twNs, sink, maxPackets);
        if (!inner) live.set(a, (inner = new Map()));
        inner.set(b, tr);
        tr.keyA = a;
        tr.keyB = b;
        if (++nLive > peakLive) peakLive = nLive;
        if (wanted.has(tr.id) || quietBudget > 0) {
          if (!wanted.has(tr.id)) quietBudget--;
          tr.draw();
          kept.push(tr);
          shown.add(tr);
        } else if (speculative.size < maxLadders) {
          tr.draw();
          kept.push(tr);
          speculative.add(tr);
        }
      }
      tr.push(p);
      if ((i & 1023) === 1023) housekeeping(lastT); // often enough that eviction follows capture time closely
    }
    housekeeping(lastT);
    heap.check();
  };

  const info = await streamCapture(opts.stream ?? path, path, onBatch);
  for (const inner of live.values()) for (const tr of inner.values()) retire(tr);
  live.clear();

  const t0 = info.t0 ?? 0n;
  const point = (p: Pkt) => info.interfaces[p.iface]?.name ?? `if${p.iface}`;
  const connections = kept.filter((tr) => shown.has(tr)).sort((a, b) => a.id - b.id).map((tr) => connectionOf(tr, t0, point));
  const rates = portAcc.reports(ports, timeWaitMs);
  const findings = connections.flatMap((c) => c.findings);
  for (const r of rates) {
    if (r.risk === 'low') continue;
    findings.push({ kind: 'port-exhaustion', conn: 0, incarnation: 0, tsNs: t0 + BigInt(Math.round(r.maxInTimeWaitAtSec * 1e9)), who: r.client, text: `${r.client} -> ${r.server}: ${r.verdict} (risk ${r.risk})`, packets: [] });
  }
  findings.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  return {
    file: path,
    format: info.format,
    gzip: info.gzip,
    linkTypes: [...new Set(info.interfaces.map((i) => LINKTYPE_NAMES[i.linkType] ?? `linktype ${i.linkType}`))],
    frames: info.frames,
    tcpPackets,
    snapped,
    skipped,
    warnings: info.warnings,
    firstNs: tcpPackets ? t0 + BigInt(Math.round(firstT)) : undefined,
    lastNs: tcpPackets ? t0 + BigInt(Math.round(maxT)) : undefined,
    originNs: t0,
    timeWaitMs,
    totalConnections: nextId,
    totalIncarnations,
    peakLive,
    directions: dirs === 0 ? 'none' : dirs & 1 ? 'both' : 'one',
    connections,
    findings,
    findingGroups: agg.list(),
    allFindings: opts.all ? agg.all : undefined,
    rates,
  };
}
