// What a case shows as evidence: a Wire's capture as packet records (and frames for the pcap), counter
// deltas around a step, socket-table lines, and the small classifiers checks use to name what happened.
import type { Captured, Wire } from '../wire/wire.js';
import { changed, delta, type Counters } from '../testbed/counters.js';
import type { SocketEntry } from '../testbed/ss.js';
import { monoMs } from './clock.js';
import type { PacketRecord } from './packets.js';
import type { TargetHost } from './stack.js';

export function toRecord(p: Captured, point: string): PacketRecord | undefined {
  return p.segment ? { tsNs: p.tsNs, dir: p.dir, point, segment: p.segment, ...(p.crafted ? { crafted: true } : {}) } : undefined;
}

/** A Wire's capture as the runner wants it: decoded records for ladders and checks, frames for the pcap. */
export function wireSource(wire: Wire, point: string) {
  return {
    point,
    link: 'ethernet' as const,
    records: () => wire.captured.flatMap((p) => toRecord(p, point) ?? []),
    frames: () => wire.captured.map((p) => ({ data: p.data, tsNs: p.tsNs, dir: p.dir })),
  };
}

/** Records of the captured packets that satisfy a predicate, in time order. */
export function packets(wire: Wire, point: string, pred: (r: PacketRecord) => boolean = () => true): PacketRecord[] {
  return wire.captured.flatMap((p) => toRecord(p, point) ?? []).filter(pred);
}

/** Counter deltas of a host around an async step: what moved, as 'TcpExt.TWRecycled' -> n. */
export async function counting<T>(host: Pick<TargetHost, 'counters'>, fn: () => Promise<T>): Promise<{ result: T; moved: Record<string, number>; d: Counters }> {
  // A stack without counters (slirp, lwIP) moves none.
  const read = async () => (host.counters ? host.counters() : { TcpExt: {}, IpExt: {}, Tcp: {}, Ip: {} });
  const before = await read();
  const result = await fn();
  const after = await read();
  const d = delta(before, after);
  return { result, moved: changed(d), d };
}

export function sockLine(s: SocketEntry): string {
  const t = s.timer ? ` timer:${s.timer.kind},${(s.timer.remainingMs / 1000).toFixed(1)}s` : '';
  return `${s.state} ${s.local.addr}:${s.local.port} ${s.peer.addr}:${s.peer.port}${t}`;
}

/** The socket of a 4-tuple on a host (any state), or undefined (also when the host shows no socket table). */
export async function socketOf(host: Pick<TargetHost, 'sockets'>, local: { addr: string; port: number }, peer: { addr: string; port: number }): Promise<SocketEntry | undefined> {
  if (!host.sockets) return undefined;
  const all = await host.sockets();
  return all.find((s) => s.local.addr === local.addr && s.local.port === local.port && s.peer.addr === peer.addr && s.peer.port === peer.port);
}

/** Polls a host until the socket of a 4-tuple satisfies `pred` (or `ms` passes); returns the last look. */
export async function waitSocket(
  host: Pick<TargetHost, 'sockets'>,
  local: { addr: string; port: number },
  peer: { addr: string; port: number },
  pred: (s: SocketEntry | undefined) => boolean,
  ms = 2000,
): Promise<SocketEntry | undefined> {
  const end = monoMs() + ms;
  if (!host.sockets) return undefined; // nothing to wait for on a stack without a socket table
  for (;;) {
    const s = await socketOf(host, local, peer);
    if (pred(s) || monoMs() > end) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A socket's ss line, or a placeholder saying there is none. */
export function sockLineOr(s: SocketEntry | undefined, who = ''): string {
  const w = who ? `${who} ` : '';
  return s ? `${w}${sockLine(s)}` : `${w}(no socket for the 4-tuple)`;
}

/** Only the TCP counters of a delta (TcpExt.*, Tcp.*): what a TCP lab's evidence should show. */
export function tcpOnly(moved: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(moved).filter(([k]) => k.startsWith('TcpExt.') || k.startsWith('Tcp.')));
}

/** A one-word name for how a host answered a segment: nothing, RST, SYN-ACK, ACK (or the flags). */
export function classifyReply(r: PacketRecord | undefined): string {
  if (!r) return 'nothing';
  const f = r.segment.flags;
  if (f.includes('R')) return 'RST';
  if (f === 'S.') return 'SYN-ACK';
  if (f.includes('.')) return 'ACK';
  return f;
}

/** Connections in a capture: the first SYN of each 4-tuple, in order. */
export function connectionsOf(recs: readonly PacketRecord[]): PacketRecord[] {
  return recs.filter((r) => r.segment.flags === 'S');
}

/** Per connection (keyed by the client's port), which side sent the first FIN: 'client' | 'server'. */
export function firstFinBy(recs: readonly PacketRecord[], clientAddr: string): Map<number, { by: 'client' | 'server'; fin: PacketRecord }> {
  const out = new Map<number, { by: 'client' | 'server'; fin: PacketRecord }>();
  for (const r of recs) {
    const s = r.segment;
    if (!s.flags.includes('F')) continue;
    const fromClient = s.src === clientAddr;
    const port = fromClient ? s.sport : s.dport;
    if (!out.has(port)) out.set(port, { by: fromClient ? 'client' : 'server', fin: r });
  }
  return out;
}

/**
 * Ports (client side) of connections closed simultaneously: the second FIN does not acknowledge the first,
 * so both ends went FIN-WAIT-1 -> CLOSING -> TIME-WAIT (RFC 9293 §3.6) and both hold a TIME-WAIT.
 */
export function simultaneousCloses(recs: readonly PacketRecord[], clientAddr: string): Set<number> {
  const first = new Map<number, PacketRecord>();
  const out = new Set<number>();
  for (const r of recs) {
    const s = r.segment;
    if (!s.flags.includes('F')) continue;
    const port = s.src === clientAddr ? s.sport : s.dport;
    const f = first.get(port);
    if (!f) {
      first.set(port, r);
      continue;
    }
    if (f.segment.src === s.src) continue; // a retransmission of the same side's FIN
    const finEnd = (f.segment.seq + f.segment.payload.length + 1) >>> 0;
    if (!(s.flagBits & 0x10) || ((s.ack - finEnd) | 0) < 0) out.add(port);
  }
  return out;
}
