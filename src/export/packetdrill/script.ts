// A recorded lab case (its subject's peer calls and the packets at its capture point) as a packetdrill
// script: the subject's syscalls, inbound segments to inject and the kernel's outbound answers, each
// at the time it happened in the real run (packetdrill's --tolerance_usecs decides how close is close).
import type { CaseResult } from '../../lab/result.js';
import type { PacketRecord } from '../../lab/packets.js';
import type { PeerCallRecord } from '../../peer/record.js';
import { SeqSpace } from './seqspace.js';
import { segmentLine } from './segment-line.js';
import { SyscallMapper } from './syscalls.js';
import { ACK_WINDOW_NS, DEFER_NS, finAckRace } from './finack.js';
import { renderScript } from './render.js';

export interface ScriptOptions {
  /** packetdrill's --tolerance_usecs (absolute slack per event). */
  toleranceUsecs: number;
  /** packetdrill's --tolerance_percent (slack as a share of the gap since the previous event). */
  tolerancePercent: number;
}

export const DEFAULT_SCRIPT_OPTIONS: ScriptOptions = { toleranceUsecs: 10_000, tolerancePercent: 25 };

export interface CaseSource {
  labId: string;
  subject: string;
  kernel: string;
  case: Pick<CaseResult, 'id' | 'title' | 'verdict' | 'columns' | 'sysctls' | 'packets' | 'peerCalls' | 'checks' | 'steps'>;
}

export type ExportResult = { ok: true; script: string; events: number } | { ok: false; why: string };

export interface Event {
  tNs: bigint;
  order: number;
  lines: string[];
  /** A blocking syscall's return (packetdrill's `+start...end`). */
  endNs?: bigint;
  /** An acting syscall's answer (see SyscallLines.answeredNs). */
  answeredNs?: bigint;
  /** Printed before the lines, untimed. */
  comment?: string;
}

/** Which addresses are the subject's: its ladder column (labelled 'server', 'client (prober)' ...). */
function subjectAddrs(src: CaseSource): string[] | undefined {
  const col = src.case.columns?.find((c) => c.label === src.subject || c.label.startsWith(`${src.subject} `));
  return col ? [...col.addrs] : undefined;
}

/** The peer process on the subject host: the one that listened (or connected) on a subject address. */
function subjectPeer(calls: readonly PeerCallRecord[], addrs: readonly string[]): number | undefined {
  const owns = (c: PeerCallRecord) =>
    (c.op === 'listen' && addrs.includes(String(c.args.addr))) ||
    (c.op === 'connect' && c.result.ok === true && addrs.includes(String(c.result.localAddr)));
  return calls.find(owns)?.peer;
}


export function exportCase(src: CaseSource, opts: ScriptOptions = DEFAULT_SCRIPT_OPTIONS): ExportResult {
  const c = src.case;
  const addrs = subjectAddrs(src);
  if (!addrs?.length) return { ok: false, why: `the case's ladder has no column for the subject '${src.subject}'` };
  const calls = c.peerCalls ?? [];
  const peer = subjectPeer(calls, addrs);
  if (peer === undefined) return { ok: false, why: `the subject (${src.subject}, ${addrs.join(', ')}) made no socket call this export saw` };
  const mine = calls.filter((k) => k.peer === peer);
  if (mine.some((k) => k.op === 'connect')) return { ok: false, why: 'the kernel socket on trial connects out (active open); the exporter writes passive-open scripts only' };
  const points = [...new Set(c.packets.map((p) => p.point))];
  if (points.length !== 1) return { ok: false, why: `the case captured at ${points.length} points (${points.join(', ')}); a script replays one link` };

  const sys = new SyscallMapper();
  const events: Event[] = [];
  let order = 0;
  try {
    for (const k of mine) {
      const s = sys.map(k);
      if (s.lines.length) events.push({ tNs: s.tNs, order: order++, lines: s.lines, ...(s.endNs !== undefined ? { endNs: s.endNs } : {}), ...(s.answeredNs !== undefined ? { answeredNs: s.answeredNs } : {}) });
    }
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
  const ports = [...new Set(sys.bindPorts)];
  if (ports.length !== 1) return { ok: false, why: `the subject listened on ${ports.length} ports; packetdrill binds one (--bind_port)` };
  const port = ports[0]!;
  const isIn = (p: PacketRecord) => addrs.includes(p.segment.dst) && p.segment.dport === port;
  const isOut = (p: PacketRecord) => addrs.includes(p.segment.src) && p.segment.sport === port;
  const pkts = c.packets.filter((p) => isIn(p) || isOut(p));
  dateSyscalls(events, pkts, isIn, isOut);
  const remotes = new Set(pkts.map((p) => (isIn(p) ? `${p.segment.src}:${p.segment.sport}` : `${p.segment.dst}:${p.segment.dport}`)));
  if (remotes.size !== 1) return { ok: false, why: `the subject talked to ${remotes.size} remote endpoints (${[...remotes].join(', ')}); packetdrill follows one socket under test` };
  if (!pkts.some(isOut)) return { ok: false, why: 'the subject sent no segment: there is nothing for a script to expect' };

  const space = new SeqSpace();
  const pktEvents: Event[] = [];
  const sorted = [...pkts].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  const race = finAckRace(sorted, mine, isIn, isOut);
  try {
    for (const p of sorted) {
      if (race && p === race.ackedBy) {
        // Either way the kernel goes, a pure ACK of the peer's FIN comes within the delayed-ACK time.
        const pure = p.segment.flags.includes('F') ? { ...p.segment, flags: p.segment.flags.replace('F', '') } : p.segment;
        const { line } = segmentLine(pure, '>', space);
        pktEvents.push({ tNs: race.fin.tsNs, endNs: race.fin.tsNs + ACK_WINDOW_NS, order: order++, lines: [line],
          comment: `the kernel ACKs the peer's FIN at once or up to 40 ms later (tcp_send_delayed_ack()), which varies between runs; the ${src.subject}'s close comes ${Number(DEFER_NS / 1_000_000n)} ms later than in the run so that the ACK is always a pure one` });
        if (pure === p.segment) continue;
      }
      if (isOut(p) && p.crafted) {
        // The lab spoke as the subject (e.g. an RST toward the client, crafted at the subject's end of
        // the link): not the kernel's segment, and packetdrill's peer needs no stand-in to receive it.
        pktEvents.push({ tNs: p.tsNs, order: order++, lines: [], comment: `the lab crafted '${p.segment.flags}' seq ${p.segment.seq} as the ${src.subject} toward its peer here: not the kernel's, left out` });
        continue;
      }
      if (isOut(p) && space.freshIsn) return { ok: false, why: 'the kernel sent more after a SYN-ACK with a fresh ISN, whose sequence numbers no script can state' };
      const { line, fresh } = segmentLine(p.segment, isIn(p) ? '<' : '>', space);
      if (fresh) {
        // A fresh ISN (secure_tcp_seq(): a hash and a clock) cannot be written down; the SYN-RECV socket
        // it belongs to can be asked for instead.
        pktEvents.push({ tNs: p.tsNs + 1_000_000n, order: order++, comment: `the kernel answers with a SYN-ACK with a fresh ISN (packetdrill cannot match one): ${line}`, lines: [`\`ss -Htn state syn-recv 'sport = :${port}' | grep -q .\``] });
        continue;
      }
      pktEvents.push({ tNs: p.tsNs, order: order++, lines: [line] });
    }
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
  if (race) {
    // Everything from the application's close on moves later (see finack.ts).
    for (const e of [...events, ...pktEvents]) {
      if (e.tNs >= race.closeAtNs && !(e.endNs !== undefined && e.tNs === race.fin.tsNs)) {
        e.tNs += DEFER_NS;
        if (e.endNs !== undefined) e.endNs += DEFER_NS;
      }
    }
  }
  const timeline = [...events, ...pktEvents].sort((a, b) => (a.tNs < b.tNs ? -1 : a.tNs > b.tNs ? 1 : a.order - b.order));
  const [remote] = remotes;

  const script = renderScript({ src, opts, port, remote: remote!, timeline });
  return { ok: true, script, events: timeline.length };
}

/**
 * Dates the subject's syscalls by the segments around them rather than by the peer's request and answer
 * (they carry the machine's latency: 11 to 44 ms measured here, beyond packetdrill's tolerance): a call
 * that acted (close, shutdown, write) at the segment it made; a call that waited (accept, recv) ends when
 * the segment it waited for came, and one that found its segment already there did not block.
 */
function dateSyscalls(events: Event[], pkts: readonly PacketRecord[], isIn: (p: PacketRecord) => boolean, isOut: (p: PacketRecord) => boolean): void {
  for (const e of events) {
    if (e.answeredNs !== undefined) {
      const sent = pkts.find((p) => isOut(p) && !p.crafted && p.tsNs >= e.tNs && p.tsNs <= e.answeredNs!);
      if (sent) e.tNs = sent.tsNs;
    }
    if (e.endNs === undefined) continue;
    const awaited = pkts.filter((p) => isIn(p) && p.tsNs >= e.tNs && p.tsNs <= e.endNs!).at(-1);
    if (awaited) e.endNs = awaited.tsNs;
    else delete e.endNs;
  }
}
