// One 4-tuple, packet by packet: each side's TCP state machine replayed roughly from what crosses the wire
// (as if captured between the two), its incarnations, and the TIME-WAIT events tcplab is about. Works on
// flat packets (Pkt) so a capture of millions can stream through it; what it keeps is bounded: the last
// few packets (context for a finding), and all packets only for connections that will be drawn.
import type { Endpoint } from '../wire/types.js';
import type { PacketRecord } from '../lab/packets.js';
import { seqAdd, seqAfterEq, seqDiff, tsBefore, tsDiff } from '../wire/seq.js';
import type { ExplainId } from '../lab/explain.js';

export type TcpState =
  | 'CLOSED' | 'LISTEN' | 'SYN-SENT' | 'SYN-RCVD' | 'ESTABLISHED' | 'FIN-WAIT-1' | 'FIN-WAIT-2'
  | 'CLOSING' | 'TIME-WAIT' | 'CLOSE-WAIT' | 'LAST-ACK';

export type FindingKind = ExplainId | 'tw-syn-unanswered';

/** A decoded TCP packet, flat: what the analysis needs and a ladder shows. Times are ns since the capture start. */
export interface Pkt {
  frame: number;
  t: number;
  iface: number;
  family: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  len: number;
  ipId: number;
  /** -1 without a timestamps option. */
  tsVal: number;
  tsEcr: number;
  /** -1 when absent. */
  mss: number;
  wscale: number;
  sackOk: boolean;
  /** Set when the packet came from a PacketRecord (analyze()); the ladder then uses it as is. */
  rec?: PacketRecord;
  /** States of [client, server] after the packet, as stateCode(c) * 16 + stateCode(s). */
  st: number;
  /** Its position among the connection's packets (0-based; set by the tracker). */
  n?: number;
}

export const STATES: readonly TcpState[] = ['CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RCVD', 'ESTABLISHED', 'FIN-WAIT-1',
  'FIN-WAIT-2', 'CLOSING', 'TIME-WAIT', 'CLOSE-WAIT', 'LAST-ACK'];
const CODE = new Map(STATES.map((s, i) => [s, i]));
export const stStates = (st: number): [TcpState, TcpState] => [STATES[st >> 4]!, STATES[st & 15]!];

export type { Endpoint };
export const epStr = (e: Endpoint) => (e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`);

/** An incarnation's summary (times in ns since the capture start). */
export interface IncSummary {
  n: number;
  start: number;
  end: number;
  packets: number;
  closedBy?: 'FIN' | 'RST';
  closedAt?: number;
  finalStates: [TcpState, TcpState];
  gap?: number;
}

/** One instance of a finding, as the tracker sees it. */
export interface RawFinding {
  kind: FindingKind;
  inc: number;
  t: number;
  who: 0 | 1;
  text: string;
  pkts: Pkt[];
  /** The figure whose spread the aggregate line gives (seconds into TIME-WAIT, sequence offset, …). */
  metric?: number;
  /** A short category shown with counts in the aggregate line (the answer to a SYN, …). */
  outcome?: string;
}

/** What a tracker tells the analysis about (ports, aggregation, retention). */
export interface TrackerSink {
  finding(tr: Tracker, f: RawFinding): void;
  /** A SYN opened a new attempt. */
  syn(tr: Tracker, t: number): void;
  /** The client side entered TIME-WAIT at t / left it (reuse, RST, a new incarnation). */
  clientTw(tr: Tracker, t: number): void;
  clientTwEnd(tr: Tracker, t: number): void;
  incDone(tr: Tracker, inc: IncSummary): void;
  /** Both sides are now CLOSED or in TIME-WAIT: the 4-tuple's state may go a TIME-WAIT from now. */
  closed(tr: Tracker): void;
}

const SYN = 0x02, ACK = 0x10, RST = 0x04, FIN = 0x01;
const SYNCHRONIZED: ReadonlySet<TcpState> = new Set(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSING', 'CLOSE-WAIT', 'LAST-ACK']);
const DONE: ReadonlySet<TcpState> = new Set(['CLOSED', 'LISTEN', 'TIME-WAIT']);
/** Packets kept before a finding for context, and drawn after it past --max-packets. */
export const CONTEXT = 3;
/** Packets every live tracker remembers, so a connection drawn at its first finding still shows how it got there. */
const RING = 3;

interface Side {
  state: TcpState;
  iss?: number;
  finSeq?: number;
  nxt?: number;
  twSince?: number;
  twRcvNxt?: number;
  lastTsVal?: number;
  lastTsPacket?: Pkt;
}

interface Pending {
  kind: 'tw' | 'reuse';
  from: 0 | 1;
  syn: Pkt;
  text: string;
  into: number;
}

const sec = (ns: number) => `${(ns / 1e9).toFixed(3)} s`;
const role = ['client', 'server'] as const;

function chooseEnds(p: Pkt): [Endpoint, Endpoint] {
  const src = { addr: p.src, port: p.sport };
  const dst = { addr: p.dst, port: p.dport };
  const f = p.flags & (SYN | ACK | RST);
  if (f === SYN) return [src, dst];
  if (f === (SYN | ACK)) return [dst, src];
  return p.sport >= p.dport ? [src, dst] : [dst, src];
}

export class Tracker {
  readonly ends: [Endpoint, Endpoint];
  readonly names: [string, string];
  /** Packets seen per direction (client->server, server->client). */
  readonly dirPackets: [number, number] = [0, 0];
  packets = 0;
  incarnations = 0;
  clientTimeWaits = 0;
  findings = 0;
  lastT = 0;
  /** Kept incarnation summaries (drawn connections only, capped). */
  incs?: IncSummary[];
  /** All packets kept (drawn connections); else undefined. */
  kept?: Pkt[];
  /** Packets not kept between kept ones: shown as a gap in the ladder. */
  dropped = 0;
  /** Kept findings (drawn connections). */
  keptFindings?: RawFinding[];
  /** The client's TIME-WAIT as the port accounting counts it (ports.ts owns these). */
  clientTwActive = false;
  clientTwSince = 0;
  /** The port accounting's group of this connection (ports.ts). */
  portGroup?: object;
  /** Finding groups (findings.ts) this connection is counted in. */
  findingGroups?: Set<object>;
  /** Its keys in the live map (index.ts). */
  keyA?: number | string;
  keyB?: number | string;
  /** Eviction bookkeeping (index.ts): the generation of its queue entry. */
  qgen = 0;

  private ring: Pkt[] = [];
  /** The last two incarnations (the one before a finding is usually the one whose TIME-WAIT it is about). */
  private recentIncs: IncSummary[] = [];
  private beyond?: Map<FindingKind, number>; // created when first needed: most trackers never do
  private afterFinding = 0;
  private sides: [Side, Side] = [{ state: 'CLOSED' }, { state: 'CLOSED' }];
  private inc?: IncSummary;
  private pending?: Pending;
  private challengeFrom?: { from: 0 | 1; syn: Pkt };

  constructor(readonly id: number, first: Pkt, private readonly twNs: number, private readonly sink: TrackerSink,
    private readonly maxKept = Infinity) {
    this.ends = chooseEnds(first);
    this.names = [epStr(this.ends[0]), epStr(this.ends[1])];
  }

  /** Start keeping every packet (up to maxKept, then only findings with context). */
  draw(): void {
    if (this.kept) return;
    this.kept = [...this.ring];
    this.dropped = Math.max(0, this.packets - this.ring.length);
    this.keptFindings = [];
    this.incs = [...this.recentIncs];
  }

  /** Both sides CLOSED or in TIME-WAIT (or nothing open): the state can go once TIME-WAIT is over. */
  get done(): boolean {
    return DONE.has(this.sides[0].state) && DONE.has(this.sides[1].state);
  }

  /** The same packet captured twice (both ends of a link, 'any'): same fields within the same millisecond. */
  private isDup(p: Pkt): boolean {
    for (let i = this.ring.length - 1; i >= 0 && i >= this.ring.length - 3; i--) {
      const q = this.ring[i]!;
      if (q.sport === p.sport && q.src === p.src && q.seq === p.seq && q.ack === p.ack && q.flags === p.flags &&
        q.len === p.len && q.ipId === p.ipId && Math.floor(q.t / 1e6) === Math.floor(p.t / 1e6)) return true;
    }
    return false;
  }

  private find(kind: FindingKind, who: 0 | 1, t: number, text: string, pkts: Pkt[], metric?: number, outcome?: string) {
    const f: RawFinding = { kind, inc: this.inc?.n ?? 1, t, who, text, pkts, metric, outcome };
    this.findings++;
    this.sink.finding(this, f); // may call draw()
    // Past --max-packets a drawn connection keeps the first few instances of each kind with their packets;
    // the rest are counted in the aggregate only (a connection reopened 200 times would draw 200 of them).
    const beyond = this.kept !== undefined && this.kept.length >= this.maxKept;
    const n = beyond ? (this.beyond?.get(kind) ?? 0) : 0;
    if (beyond) (this.beyond ??= new Map()).set(kind, n + 1);
    if (this.kept && n < CONTEXT) {
      this.keptFindings!.push(f);
      // Its packets are drawn whatever --max-packets says, with the ones before it as context.
      for (const q of [...this.ring.slice(-CONTEXT), ...pkts]) if (!this.kept.includes(q)) this.kept.push(q);
      this.afterFinding = CONTEXT;
    }
  }

  private settle(reply: 'SYN-ACK' | 'ACK' | 'RST' | 'none', p?: Pkt) {
    const q = this.pending;
    if (!q) return;
    this.pending = undefined;
    const ev = p ? [q.syn, p] : [q.syn];
    const t = p?.t ?? q.syn.t;
    if (q.kind === 'reuse') {
      this.find('tw-reuse', q.from, q.syn.t, `${q.text}; answered by ${reply === 'none' ? 'nothing' : reply}`, ev, q.into / 1e9,
        `answered by ${reply === 'none' ? 'nothing' : reply}`);
      return;
    }
    const kind: FindingKind = reply === 'SYN-ACK' ? 'tw-syn-accepted' : reply === 'ACK' ? 'tw-syn-rejected-ack' : reply === 'RST' ? 'tw-syn-rejected-rst' : 'tw-syn-unanswered';
    const outcome = reply === 'SYN-ACK' ? 'accepted (SYN-ACK)' : reply === 'none' ? 'no answer captured' : `rejected (${reply})`;
    this.find(kind, (1 - q.from) as 0 | 1, t, `${q.text}: ${outcome}`, ev, q.into / 1e9, outcome);
  }

  private closeInc(t: number, byRst: boolean) {
    const inc = this.inc;
    if (inc && inc.closedAt === undefined && this.done) {
      inc.closedAt = t;
      inc.closedBy = byRst ? 'RST' : 'FIN';
      this.sink.closed(this);
    }
  }

  private finishInc() {
    const inc = this.inc;
    if (!inc) return;
    inc.finalStates = [this.sides[0].state, this.sides[1].state];
    if (this.sides[0].state === 'TIME-WAIT') this.clientTimeWaits++;
    this.sink.incDone(this, inc);
  }

  /** When the client's current TIME-WAIT began (a retransmitted FIN restarts it); undefined if not in it. */
  get clientTwStart(): number | undefined {
    const c = this.sides[0];
    return c.state === 'TIME-WAIT' ? c.twSince : undefined;
  }

  push(p: Pkt): void {
    if (this.isDup(p)) return;
    p.n = this.packets++;
    this.lastT = p.t;
    const x: 0 | 1 = p.src === this.ends[0].addr && p.sport === this.ends[0].port ? 0 : 1;
    const y: 0 | 1 = x === 0 ? 1 : 0;
    this.dirPackets[x]++;
    const f = p.flags;
    const pureSyn = (f & (SYN | ACK | RST)) === SYN;
    const twNs = this.twNs;
    let sides = this.sides;

    // A SYN after the previous incarnation closed (FIN or RST) opens a new incarnation.
    if (!this.inc || (pureSyn && this.inc.closedAt !== undefined)) {
      const prev = this.inc;
      if (prev) this.finishInc();
      const old = sides;
      const carried = sides.map((sd, i): Side => {
        const inTw = sd.state === 'TIME-WAIT' && sd.twSince !== undefined && p.t - sd.twSince < twNs;
        const peerFin = sides[1 - i]!.finSeq;
        const twRcvNxt = sd.twRcvNxt ?? (peerFin === undefined ? undefined : seqAdd(peerFin, 1));
        return inTw ? { state: 'TIME-WAIT', twSince: sd.twSince, twRcvNxt, nxt: sd.nxt, lastTsVal: sd.lastTsVal, lastTsPacket: sd.lastTsPacket } : { state: 'CLOSED' };
      }) as [Side, Side];
      // A client TIME-WAIT that expired unseen has already been counted out by the port accounting.
      if (old[0].state === 'TIME-WAIT' && carried[0].state !== 'TIME-WAIT') this.sink.clientTwEnd(this, p.t);
      sides = this.sides = carried;
      this.pending = undefined;
      this.challengeFrom = undefined;
      const inc: IncSummary = { n: (prev?.n ?? 0) + 1, start: p.t, end: p.t, packets: 0, finalStates: ['CLOSED', 'CLOSED'] };
      if (prev?.closedAt !== undefined) inc.gap = p.t - prev.closedAt;
      this.inc = inc;
      this.incarnations++;
      if (this.incs && this.incs.length < 1000) this.incs.push(inc);
      this.recentIncs.push(inc);
      if (this.recentIncs.length > 2) this.recentIncs.shift();
      if (pureSyn) this.sink.syn(this, p.t);
      if (!pureSyn && !(f & SYN)) {
        // Capture started mid-connection: assume both sides synchronized.
        sides = this.sides = [{ state: 'ESTABLISHED' }, { state: 'ESTABLISHED' }];
      }
      if (pureSyn && prev) {
        const tw = sides[y];
        const mine = sides[x];
        if (tw.state === 'TIME-WAIT') {
          const rcvNxt = old[x].nxt;
          const facts: string[] = [];
          if (rcvNxt !== undefined) {
            const d = seqDiff(p.seq, rcvNxt);
            facts.push(`ISN ${d > 0 ? 'above' : 'not above'} the old RCV.NXT (${d >= 0 ? '+' : ''}${d})`);
          }
          if (p.tsVal >= 0 && old[x].lastTsVal !== undefined) {
            const d = tsDiff(p.tsVal, old[x].lastTsVal!);
            facts.push(`TSval ${d > 0 ? 'newer than' : 'not newer than'} TS.Recent (${d >= 0 ? '+' : ''}${d})`);
          }
          const into = p.t - tw.twSince!;
          this.pending = {
            kind: 'tw', from: x, syn: p, into,
            text: `SYN from ${role[x]} ${this.names[x]} reached ${role[y]} ${this.names[y]} ${sec(into)} into its TIME-WAIT (< ${sec(twNs)})${facts.length ? `, ${facts.join(', ')}` : ''}`,
          };
        } else if (mine.state === 'TIME-WAIT') {
          const into = p.t - mine.twSince!;
          this.pending = {
            kind: 'reuse', from: x, syn: p, into,
            text: `${role[x]} ${this.names[x]} opened a new connection on the 4-tuple ${sec(into)} into its own TIME-WAIT (< ${sec(twNs)}; Linux: net.ipv4.tcp_tw_reuse, tcp_twsk_unique())`,
          };
        }
      }
    } else if (pureSyn && (sides[x].state === 'CLOSED' || sides[x].state === 'SYN-SENT') && this.inc.packets > 0 && sides[x].iss !== p.seq) {
      this.sink.syn(this, p.t); // a new attempt (new ISN) within a not-yet-closed incarnation
    }
    const inc = this.inc!;
    inc.packets++;
    inc.end = p.t;
    const sx = sides[x];
    const sy = sides[y];
    const c0 = sides[0].state;

    // PAWS: TSval must not go backwards within a direction (RSTs are exempt, RFC 7323 §5.2).
    if (p.tsVal >= 0 && !(f & RST)) {
      // A SYN or SYN-ACK starts the side's timestamps afresh (a new connection may use a new offset).
      if (f & SYN) sx.lastTsVal = undefined;
      if (sx.lastTsVal !== undefined && tsBefore(p.tsVal, sx.lastTsVal)) {
        const d = tsDiff(p.tsVal, sx.lastTsVal);
        this.find('paws-reject', x, p.t, `TSval ${p.tsVal} from ${role[x]} ${this.names[x]} is older than the ${sx.lastTsVal} it sent before (${d}): a receiver would drop it`, [sx.lastTsPacket!, p], d);
      }
      if (sx.lastTsVal === undefined || !tsBefore(p.tsVal, sx.lastTsVal)) {
        sx.lastTsVal = p.tsVal;
        sx.lastTsPacket = p;
      }
    }
    const end = seqAdd(p.seq, p.len + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0));
    // The receiver's RCV.NXT before this segment; an RST occupies no sequence space and does not move it.
    const nxtBefore = sx.nxt;
    if (!(f & RST) && (sx.nxt === undefined || seqDiff(end, sx.nxt) > 0 || pureSyn)) sx.nxt = end;

    if (f & RST) {
      if (this.pending && this.pending.from === y) this.settle('RST', p);
      this.challengeFrom = undefined;
      if (sy.state === 'TIME-WAIT') {
        // The TIME-WAIT's RCV.NXT is just past the FIN it received (a rejected SYN since then does not move it).
        const rcvNxt = sy.twRcvNxt ?? (sx.finSeq !== undefined ? seqAdd(sx.finSeq, 1) : nxtBefore);
        const off = rcvNxt === undefined ? 0 : seqDiff(p.seq, rcvNxt);
        const into = p.t - sy.twSince!;
        if (off === 0) {
          this.find('rst-in-time-wait', y, p.t, `RST from ${role[x]} ${this.names[x]} reached ${role[y]} ${this.names[y]} ${sec(into)} into TIME-WAIT: Linux ends TIME-WAIT early unless net.ipv4.tcp_rfc1337=1`, [p], into / 1e9, 'at RCV.NXT');
          sy.state = 'CLOSED';
        } else {
          // Not at RCV.NXT: RFC 5961 stacks (Linux, FreeBSD, gVisor, lwIP) drop it and the TIME-WAIT stays.
          this.find('rst-in-time-wait', y, p.t, `RST from ${role[x]} ${this.names[x]} reached ${role[y]} ${this.names[y]} ${sec(into)} into TIME-WAIT at RCV.NXT ${off > 0 ? '+' : ''}${off}: not exact, so stacks that check it keep the TIME-WAIT (4.4BSD-era code such as slirp's closes it when the RST is at or before RCV.NXT)`, [p], into / 1e9, 'not at RCV.NXT');
        }
      } else if (sy.state !== 'SYN-SENT' || f & ACK) {
        if (sy.state !== 'LISTEN') sy.state = 'CLOSED';
      }
      // A RST sent from SYN-SENT answers an unacceptable ACK; the sender keeps trying.
      if (sx.state !== 'SYN-SENT') sx.state = 'CLOSED';
    } else if ((f & (SYN | ACK)) === (SYN | ACK)) {
      if (this.pending && this.pending.from === y) this.settle('SYN-ACK', p);
      sx.state = 'SYN-RCVD';
      sx.iss = p.seq;
      if (sy.state === 'SYN-SENT') sy.state = 'ESTABLISHED';
    } else if (f & SYN) {
      if (this.pending && this.pending.from === x && this.pending.syn !== p) this.settle('none');
      if (SYNCHRONIZED.has(sy.state)) this.challengeFrom = { from: x, syn: p };
      if (!SYNCHRONIZED.has(sx.state)) {
        sx.state = 'SYN-SENT';
        sx.iss = p.seq;
      }
      if (sy.state === 'CLOSED') sy.state = 'LISTEN';
    } else {
      if (f & ACK) {
        if (this.pending && this.pending.from === y) this.settle('ACK', p);
        else if (this.challengeFrom && this.challengeFrom.from === y && SYNCHRONIZED.has(sx.state) && p.len === 0) {
          this.find('challenge-ack', x, p.t, `${role[x]} ${this.names[x]} (${sx.state}) answered a SYN from ${role[y]} ${this.names[y]} with an ACK of its current state instead of a reset`, [this.challengeFrom.syn, p], undefined, sx.state);
        }
        this.challengeFrom = undefined;
        if (sy.state === 'SYN-RCVD' && sy.iss !== undefined && seqAfterEq(p.ack, seqAdd(sy.iss, 1))) sy.state = 'ESTABLISHED';
        if (sy.finSeq !== undefined && seqAfterEq(p.ack, seqAdd(sy.finSeq, 1))) {
          if (sy.state === 'FIN-WAIT-1') sy.state = 'FIN-WAIT-2';
          else if (sy.state === 'CLOSING') { sy.state = 'TIME-WAIT'; sy.twSince = p.t; }
          else if (sy.state === 'LAST-ACK') sy.state = 'CLOSED';
        }
        if (sx.state === 'SYN-SENT' || sx.state === 'SYN-RCVD') sx.state = 'ESTABLISHED';
      }
      if (f & FIN) {
        const finSeq = seqAdd(p.seq, p.len);
        if (sx.finSeq === finSeq) {
          if (sx.state === 'LAST-ACK') {
            this.find('fin-retransmit-last-ack', x, p.t, `${role[x]} ${this.names[x]} retransmitted its FIN from LAST-ACK: the ACK of its first FIN did not arrive`, [p]);
          }
        } else {
          sx.finSeq = finSeq;
          // A FIN that does not acknowledge the peer's FIN was sent before that FIN arrived: a simultaneous
          // close (FIN-WAIT-1, and CLOSING once the peer's FIN lands), not LAST-ACK.
          const peerFinUnacked = sy.finSeq !== undefined && !((f & ACK) && seqAfterEq(p.ack, seqAdd(sy.finSeq, 1)));
          if (sx.state === 'CLOSE-WAIT') sx.state = peerFinUnacked ? 'CLOSING' : 'LAST-ACK';
          else if (sx.state === 'ESTABLISHED' || sx.state === 'SYN-RCVD') sx.state = 'FIN-WAIT-1';
        }
        if (sy.state === 'ESTABLISHED') sy.state = 'CLOSE-WAIT';
        else if (sy.state === 'FIN-WAIT-1') sy.state = 'CLOSING';
        else if (sy.state === 'FIN-WAIT-2' || sy.state === 'TIME-WAIT') { sy.state = 'TIME-WAIT'; sy.twSince = p.t; }
      }
    }
    // The port accounting follows the client's TIME-WAIT (twSince set above is when it began).
    const c1 = sides[0].state;
    if (c0 !== 'TIME-WAIT' && c1 === 'TIME-WAIT') this.sink.clientTw(this, sides[0].twSince ?? p.t);
    else if (c0 === 'TIME-WAIT' && c1 !== 'TIME-WAIT') this.sink.clientTwEnd(this, p.t);
    this.closeInc(p.t, (f & RST) !== 0);
    p.st = CODE.get(sides[0].state)! * 16 + CODE.get(sides[1].state)!;
    this.keep(p);
  }

  private keep(p: Pkt) {
    this.ring.push(p);
    if (this.ring.length > RING) this.ring.shift();
    const k = this.kept;
    if (!k) return;
    if (k.includes(p)) return;
    if (k.length < this.maxKept || this.afterFinding > 0) {
      k.push(p);
      if (this.afterFinding > 0) this.afterFinding--;
    } else {
      this.dropped++;
    }
  }

  /** The end of the capture (or of this 4-tuple's state): settle what is open. */
  finish(): void {
    this.settle('none');
    this.finishInc();
    this.inc = undefined;
    if (this.kept) this.kept.sort((a, b) => a.t - b.t || a.frame - b.frame);
  }
}
