// Connection tracking for captures: groups packets by 4-tuple and incarnation, replays each side's TCP
// state machine roughly (from what crosses the wire, as if captured between the two), and points out
// the TIME-WAIT events tcplab is about.
import type { PacketRecord } from '../lab/packets.js';
import { tsOption } from '../lab/packets.js';
import { explain, type ExplainId } from '../report/explain.js';
import { seqAdd, seqAfterEq, seqDiff, tsBefore, tsDiff } from '../wire/seq.js';

export type TcpState =
  | 'CLOSED' | 'LISTEN' | 'SYN-SENT' | 'SYN-RCVD' | 'ESTABLISHED' | 'FIN-WAIT-1' | 'FIN-WAIT-2'
  | 'CLOSING' | 'TIME-WAIT' | 'CLOSE-WAIT' | 'LAST-ACK';

/** A packet read from a capture: the lab's record plus its frame number in the file. */
export interface InspectPacket extends PacketRecord {
  frame: number;
}

export type FindingKind = ExplainId | 'tw-syn-unanswered';

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
  packets: InspectPacket[];
  /** States of [client, server] after each packet. */
  states: Map<PacketRecord, [TcpState, TcpState]>;
  incarnations: Incarnation[];
  findings: Finding[];
  /** Times of the SYNs that opened incarnations (for rates). */
  synTimes: bigint[];
  /** Incarnations whose client ended in TIME-WAIT (it closed first). */
  clientTimeWaits: number;
}

export interface Endpoint {
  addr: string;
  port: number;
}

export const epStr = (e: Endpoint) => (e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`);

export interface AnalyzeOptions {
  /** How long TIME-WAIT lasts, ms (Linux: 60000, TCP_TIMEWAIT_LEN). */
  timeWaitMs?: number;
}

const SYN = 0x02, ACK = 0x10, RST = 0x04, FIN = 0x01;
const SYNCHRONIZED: ReadonlySet<TcpState> = new Set(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSING', 'CLOSE-WAIT', 'LAST-ACK']);
const DONE: ReadonlySet<TcpState> = new Set(['CLOSED', 'LISTEN', 'TIME-WAIT']);

interface Side {
  state: TcpState;
  iss?: number;
  /** Sequence number of the FIN this side sent. */
  finSeq?: number;
  /** Next sequence number this side will send (what the peer's RCV.NXT becomes). */
  nxt?: number;
  twSinceNs?: bigint;
  /** In TIME-WAIT: RCV.NXT, just past the peer's FIN (kept across the peer's new incarnation). */
  twRcvNxt?: number;
  lastTsVal?: number;
  lastTsPacket?: InspectPacket;
}

interface Pending {
  kind: 'tw' | 'reuse';
  from: 0 | 1;
  syn: InspectPacket;
  text: string;
}

const sec = (ns: bigint) => `${(Number(ns) / 1e9).toFixed(3)} s`;

/** The same packet captured twice (both ends of a link, 'any'), as the ladder decides it. */
function dupKey(p: PacketRecord): string {
  const s = p.segment;
  return `${s.src}:${s.sport}>${s.dst}:${s.dport}/${s.seq}/${s.ack}/${s.flagBits}/${s.payload.length}/${s.ip.id}/${p.tsNs / 1_000_000n}`;
}

/** Groups packets into connections (by 4-tuple, in order of first packet) and analyses each. */
export function analyze(packets: readonly InspectPacket[], opts: AnalyzeOptions = {}): Connection[] {
  const twNs = BigInt(Math.round((opts.timeWaitMs ?? 60_000) * 1e6));
  const groups = new Map<string, InspectPacket[]>();
  const seen = new Set<string>();
  const sorted = [...packets].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.frame - b.frame));
  for (const p of sorted) {
    const k = dupKey(p);
    if (seen.has(k)) continue;
    seen.add(k);
    const s = p.segment;
    const a = `${s.src}|${s.sport}`;
    const b = `${s.dst}|${s.dport}`;
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(p);
  }
  let id = 0;
  return [...groups.values()].map((g) => track(++id, g, twNs));
}

function chooseEnds(ps: readonly InspectPacket[]): [Endpoint, Endpoint] {
  const first = ps.find((p) => (p.segment.flagBits & (SYN | ACK | RST)) === SYN) ?? ps.find((p) => (p.segment.flagBits & (SYN | ACK)) === (SYN | ACK));
  const s = (first ?? ps[0]!).segment;
  const src = { addr: s.src, port: s.sport };
  const dst = { addr: s.dst, port: s.dport };
  if (first) return (first.segment.flagBits & ACK) ? [dst, src] : [src, dst];
  return s.sport >= s.dport ? [src, dst] : [dst, src];
}

function track(id: number, ps: InspectPacket[], twNs: bigint): Connection {
  const ends = chooseEnds(ps);
  const names = ends.map(epStr) as [string, string];
  const role = ['client', 'server'] as const;
  const c: Connection = { id, ends, packets: ps, states: new Map(), incarnations: [], findings: [], synTimes: [], clientTimeWaits: 0 };
  let sides: [Side, Side] = [{ state: 'CLOSED' }, { state: 'CLOSED' }];
  let inc: Incarnation | undefined;
  let pending: Pending | undefined;
  let challengeFrom: { from: 0 | 1; syn: InspectPacket } | undefined;

  const find = (kind: FindingKind, who: 0 | 1, tsNs: bigint, text: string, evidence: InspectPacket[]) =>
    c.findings.push({ kind, conn: id, incarnation: inc?.n ?? 1, tsNs, who: names[who], text, packets: evidence });
  const settle = (reply: 'SYN-ACK' | 'ACK' | 'RST' | 'none', p?: InspectPacket) => {
    if (!pending) return;
    const q = pending;
    pending = undefined;
    const ev = p ? [q.syn, p] : [q.syn];
    const ts = p?.tsNs ?? q.syn.tsNs;
    if (q.kind === 'reuse') {
      find('tw-reuse', q.from, q.syn.tsNs, `${q.text}; answered by ${reply === 'none' ? 'nothing' : reply}`, ev);
      return;
    }
    const kind: FindingKind = reply === 'SYN-ACK' ? 'tw-syn-accepted' : reply === 'ACK' ? 'tw-syn-rejected-ack' : reply === 'RST' ? 'tw-syn-rejected-rst' : 'tw-syn-unanswered';
    const outcome = reply === 'SYN-ACK' ? 'accepted (SYN-ACK)' : reply === 'none' ? 'no answer captured' : `rejected (${reply})`;
    find(kind, (1 - q.from) as 0 | 1, ts, `${q.text}: ${outcome}`, ev);
  };
  const closeInc = (ts: bigint, byRst: boolean) => {
    if (inc && inc.closedAtNs === undefined && DONE.has(sides[0].state) && DONE.has(sides[1].state)) {
      inc.closedAtNs = ts;
      inc.closedBy = byRst ? 'RST' : 'FIN';
    }
  };
  const finishInc = () => {
    if (!inc) return;
    inc.finalStates = [sides[0].state, sides[1].state];
    if (sides[0].state === 'TIME-WAIT') c.clientTimeWaits++;
  };

  for (const p of ps) {
    const s = p.segment;
    const x: 0 | 1 = s.src === ends[0].addr && s.sport === ends[0].port ? 0 : 1;
    const y: 0 | 1 = x === 0 ? 1 : 0;
    const f = s.flagBits;
    const pureSyn = (f & (SYN | ACK | RST)) === SYN;

    // A SYN after the previous incarnation closed (FIN or RST) opens a new incarnation.
    if (!inc || (pureSyn && inc.closedAtNs !== undefined)) {
      const prev = inc;
      if (prev) finishInc();
      const carried = sides.map((sd, i): Side => {
        const inTw = sd.state === 'TIME-WAIT' && sd.twSinceNs !== undefined && p.tsNs - sd.twSinceNs < twNs;
        const peerFin = sides[1 - i]!.finSeq;
        const twRcvNxt = sd.twRcvNxt ?? (peerFin === undefined ? undefined : seqAdd(peerFin, 1));
        return inTw ? { state: 'TIME-WAIT', twSinceNs: sd.twSinceNs, twRcvNxt, nxt: sd.nxt, lastTsVal: sd.lastTsVal, lastTsPacket: sd.lastTsPacket } : { state: 'CLOSED' };
      }) as [Side, Side];
      const old = sides;
      sides = carried;
      pending = undefined;
      challengeFrom = undefined;
      inc = { n: (prev?.n ?? 0) + 1, startNs: p.tsNs, endNs: p.tsNs, packets: 0, finalStates: ['CLOSED', 'CLOSED'] };
      if (prev?.closedAtNs !== undefined) inc.gapNs = p.tsNs - prev.closedAtNs;
      c.incarnations.push(inc);
      if (pureSyn) c.synTimes.push(p.tsNs);
      if (!pureSyn && !(f & SYN)) {
        // Capture started mid-connection: assume both sides synchronized.
        sides = [{ state: 'ESTABLISHED' }, { state: 'ESTABLISHED' }];
      }
      if (pureSyn && prev) {
        const tw = sides[y];
        const mine = sides[x];
        if (tw.state === 'TIME-WAIT') {
          const rcvNxt = old[x].nxt;
          const ts = tsOption(s);
          const facts: string[] = [];
          if (rcvNxt !== undefined) {
            const d = seqDiff(s.seq, rcvNxt);
            facts.push(`ISN ${d > 0 ? 'above' : 'not above'} the old RCV.NXT (${d >= 0 ? '+' : ''}${d})`);
          }
          if (ts && old[x].lastTsVal !== undefined) {
            const d = tsDiff(ts.val, old[x].lastTsVal!);
            facts.push(`TSval ${d > 0 ? 'newer than' : 'not newer than'} TS.Recent (${d >= 0 ? '+' : ''}${d})`);
          }
          pending = {
            kind: 'tw', from: x, syn: p,
            text: `SYN from ${role[x]} ${names[x]} reached ${role[y]} ${names[y]} ${sec(p.tsNs - tw.twSinceNs!)} into its TIME-WAIT (< ${sec(twNs)})${facts.length ? `, ${facts.join(', ')}` : ''}`,
          };
        } else if (mine.state === 'TIME-WAIT') {
          pending = {
            kind: 'reuse', from: x, syn: p,
            text: `${role[x]} ${names[x]} opened a new connection on the 4-tuple ${sec(p.tsNs - mine.twSinceNs!)} into its own TIME-WAIT (< ${sec(twNs)}; Linux: net.ipv4.tcp_tw_reuse, tcp_twsk_unique())`,
          };
        }
      }
    } else if (pureSyn && (sides[x].state === 'CLOSED' || sides[x].state === 'SYN-SENT') && inc.packets > 0 && sides[x].iss !== s.seq) {
      c.synTimes.push(p.tsNs); // a new attempt (new ISN) within a not-yet-closed incarnation
    }
    inc.packets++;
    inc.endNs = p.tsNs;
    const sx = sides[x];
    const sy = sides[y];

    // PAWS: TSval must not go backwards within a direction (RSTs are exempt, RFC 7323 §5.2).
    const ts = tsOption(s);
    if (ts && !(f & RST)) {
      // A SYN or SYN-ACK starts the side's timestamps afresh (a new connection may use a new offset).
      if (f & SYN) sx.lastTsVal = undefined;
      if (sx.lastTsVal !== undefined && tsBefore(ts.val, sx.lastTsVal)) {
        find('paws-reject', x, p.tsNs, `TSval ${ts.val} from ${role[x]} ${names[x]} is older than the ${sx.lastTsVal} it sent before (${tsDiff(ts.val, sx.lastTsVal)}): a receiver would drop it`, [sx.lastTsPacket!, p]);
      }
      if (sx.lastTsVal === undefined || !tsBefore(ts.val, sx.lastTsVal)) {
        sx.lastTsVal = ts.val;
        sx.lastTsPacket = p;
      }
    }
    const end = seqAdd(s.seq, s.payload.length + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0));
    // The receiver's RCV.NXT before this segment; an RST occupies no sequence space and does not move it.
    const nxtBefore = sx.nxt;
    if (!(f & RST) && (sx.nxt === undefined || seqDiff(end, sx.nxt) > 0 || pureSyn)) sx.nxt = end;

    if (f & RST) {
      if (pending && pending.from === y) settle('RST', p);
      challengeFrom = undefined;
      if (sy.state === 'TIME-WAIT') {
        // The TIME-WAIT's RCV.NXT is just past the FIN it received (a rejected SYN since then does not move it).
        const rcvNxt = sy.twRcvNxt ?? (sx.finSeq !== undefined ? seqAdd(sx.finSeq, 1) : nxtBefore);
        const off = rcvNxt === undefined ? 0 : seqDiff(s.seq, rcvNxt);
        if (off === 0) {
          find('rst-in-time-wait', y, p.tsNs, `RST from ${role[x]} ${names[x]} reached ${role[y]} ${names[y]} ${sec(p.tsNs - sy.twSinceNs!)} into TIME-WAIT: Linux ends TIME-WAIT early unless net.ipv4.tcp_rfc1337=1`, [p]);
          sy.state = 'CLOSED';
        } else {
          // Not at RCV.NXT: RFC 5961 stacks (Linux, FreeBSD, gVisor, lwIP) drop it and the TIME-WAIT stays.
          find('rst-in-time-wait', y, p.tsNs, `RST from ${role[x]} ${names[x]} reached ${role[y]} ${names[y]} ${sec(p.tsNs - sy.twSinceNs!)} into TIME-WAIT at RCV.NXT ${off > 0 ? '+' : ''}${off}: not exact, so stacks that check it keep the TIME-WAIT (4.4BSD-era code such as slirp's closes it when the RST is at or before RCV.NXT)`, [p]);
        }
      } else if (sy.state !== 'SYN-SENT' || f & ACK) {
        if (sy.state !== 'LISTEN') sy.state = 'CLOSED';
      }
      // A RST sent from SYN-SENT answers an unacceptable ACK; the sender keeps trying.
      if (sx.state !== 'SYN-SENT') sx.state = 'CLOSED';
    } else if ((f & (SYN | ACK)) === (SYN | ACK)) {
      if (pending && pending.from === y) settle('SYN-ACK', p);
      sx.state = 'SYN-RCVD';
      sx.iss = s.seq;
      if (sy.state === 'SYN-SENT') sy.state = 'ESTABLISHED';
    } else if (f & SYN) {
      if (pending && pending.from === x && pending.syn !== p) settle('none');
      if (SYNCHRONIZED.has(sy.state)) challengeFrom = { from: x, syn: p };
      if (!SYNCHRONIZED.has(sx.state)) {
        sx.state = 'SYN-SENT';
        sx.iss = s.seq;
      }
      if (sy.state === 'CLOSED') sy.state = 'LISTEN';
    } else {
      if (f & ACK) {
        if (pending && pending.from === y) settle('ACK', p);
        else if (challengeFrom && challengeFrom.from === y && SYNCHRONIZED.has(sx.state) && s.payload.length === 0) {
          find('challenge-ack', x, p.tsNs, `${role[x]} ${names[x]} (${sx.state}) answered a SYN from ${role[y]} ${names[y]} with an ACK of its current state instead of a reset`, [challengeFrom.syn, p]);
        }
        challengeFrom = undefined;
        if (sy.state === 'SYN-RCVD' && sy.iss !== undefined && seqAfterEq(s.ack, seqAdd(sy.iss, 1))) sy.state = 'ESTABLISHED';
        if (sy.finSeq !== undefined && seqAfterEq(s.ack, seqAdd(sy.finSeq, 1))) {
          if (sy.state === 'FIN-WAIT-1') sy.state = 'FIN-WAIT-2';
          else if (sy.state === 'CLOSING') { sy.state = 'TIME-WAIT'; sy.twSinceNs = p.tsNs; }
          else if (sy.state === 'LAST-ACK') sy.state = 'CLOSED';
        }
        if (sx.state === 'SYN-SENT' || sx.state === 'SYN-RCVD') sx.state = 'ESTABLISHED';
      }
      if (f & FIN) {
        const finSeq = seqAdd(s.seq, s.payload.length);
        if (sx.finSeq === finSeq) {
          if (sx.state === 'LAST-ACK') {
            find('fin-retransmit-last-ack', x, p.tsNs, `${role[x]} ${names[x]} retransmitted its FIN from LAST-ACK: the ACK of its first FIN did not arrive`, [p]);
          }
        } else {
          sx.finSeq = finSeq;
          // A FIN that does not acknowledge the peer's FIN was sent before that FIN arrived: a simultaneous
          // close (FIN-WAIT-1, and CLOSING once the peer's FIN lands), not LAST-ACK.
          const peerFinUnacked = sy.finSeq !== undefined && !((f & ACK) && seqAfterEq(s.ack, seqAdd(sy.finSeq, 1)));
          if (sx.state === 'CLOSE-WAIT') sx.state = peerFinUnacked ? 'CLOSING' : 'LAST-ACK';
          else if (sx.state === 'ESTABLISHED' || sx.state === 'SYN-RCVD') sx.state = 'FIN-WAIT-1';
        }
        if (sy.state === 'ESTABLISHED') sy.state = 'CLOSE-WAIT';
        else if (sy.state === 'FIN-WAIT-1') sy.state = 'CLOSING';
        else if (sy.state === 'FIN-WAIT-2' || sy.state === 'TIME-WAIT') { sy.state = 'TIME-WAIT'; sy.twSinceNs = p.tsNs; }
      }
    }
    closeInc(p.tsNs, (f & RST) !== 0);
    c.states.set(p, [sides[0].state, sides[1].state]);
  }
  settle('none');
  finishInc();
  return c;
}

/** Connections per (client addr, server addr, server port) and what that rate means for ephemeral ports. */
export interface RateReport {
  client: string;
  server: string;
  connections: number;
  distinctClientPorts: number;
  spanSec: number;
  perSecAvg: number;
  perSecPeak: number;
  /** Most connections opened within any TIME-WAIT-long window: ports a client-closes-first pattern holds. */
  maxInTimeWait: number;
  /** Of those connections, how many ended with the client in TIME-WAIT (it closed first). */
  clientTimeWaits: number;
  ports: number;
  /** maxInTimeWait / ports. */
  usage: number;
  risk: 'low' | 'medium' | 'high' | 'exhausted';
}

export function rates(conns: readonly Connection[], opts: { timeWaitMs: number; ports: number }): RateReport[] {
  const twNs = BigInt(Math.round(opts.timeWaitMs * 1e6));
  const groups = new Map<string, { times: bigint[]; ports: Set<number>; tw: number; client: string; server: string }>();
  for (const c of conns) {
    if (!c.synTimes.length) continue;
    const [cl, sv] = c.ends;
    const server = epStr(sv);
    const key = `${cl.addr}>${server}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { times: [], ports: new Set(), tw: 0, client: cl.addr, server }));
    g.times.push(...c.synTimes);
    g.ports.add(cl.port);
    g.tw += c.clientTimeWaits;
  }
  const window = (times: bigint[], w: bigint) => {
    let best = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= w) j++;
      best = Math.max(best, i - j + 1);
    }
    return best;
  };
  return [...groups.values()].map((g) => {
    const times = g.times.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const spanSec = Number(times[times.length - 1]! - times[0]!) / 1e9;
    const maxInTimeWait = window(times, twNs);
    const usage = maxInTimeWait / opts.ports;
    return {
      client: g.client,
      server: g.server,
      connections: times.length,
      distinctClientPorts: g.ports.size,
      spanSec: +spanSec.toFixed(3),
      perSecAvg: +(times.length / Math.max(spanSec, 1)).toFixed(2),
      perSecPeak: window(times, 1_000_000_000n),
      maxInTimeWait,
      clientTimeWaits: g.tw,
      ports: opts.ports,
      usage: +usage.toFixed(4),
      risk: usage >= 1 ? 'exhausted' : usage >= 0.5 ? 'high' : usage >= 0.1 ? 'medium' : 'low',
    };
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
