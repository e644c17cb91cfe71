// Shared set-up for labs: a testbed owned by the case, sysctls pinned and reported, a capture registered.
import { Testbed } from '../src/testbed/testbed.js';
import type { NetnsHost } from '../src/testbed/host.js';
import { changed, delta, type Counters } from '../src/testbed/counters.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { Wire, type Captured } from '../src/wire/wire.js';
import type { Match } from '../src/wire/match.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import { currentTarget, type TargetHost } from '../src/targets/target.js';

export type Sysctls = Readonly<Record<string, string | number>>;

export interface Pair {
  tb: Testbed;
  a: NetnsHost;
  b: NetnsHost;
  /** a's and b's addresses on their link. */
  aAddr: string;
  bAddr: string;
  /** Capture (and crafted sends) on one end of the link: sees both directions of every a<->b segment. */
  wire: Wire;
}

/** Two hosts on one link, sysctls pinned on each, a capture on b's side registered with the case. */
export async function pair(
  ctx: CaseContext,
  names: readonly [string, string],
  sysctls: { [host: string]: Sysctls },
  filter: Match = {},
  captureOn: 'a' | 'b' = 'b',
): Promise<Pair> {
  // A lab built on two local namespaces would silently test this machine's kernel, not the target's.
  const target = currentTarget();
  if (target) throw new Error(`this lab needs two local hosts (pair()); it cannot run on target ${target.id} yet (probeServer() labs can)`);
  const tb = ctx.use(await Testbed.create({ hosts: names, links: [names] }));
  const a = tb.host(names[0]);
  const b = tb.host(names[1]);
  for (const h of [a, b]) {
    for (const [k, v] of Object.entries(sysctls[h.name] ?? {})) {
      await h.sysctl.set(k, v);
      ctx.sysctl(h.name, k, await h.sysctl.get(k));
    }
  }
  const [at, other] = captureOn === 'b' ? [b, a] : [a, b];
  const ifname = at.iface(other.name).ifname;
  const wire = ctx.use(await Wire.open({ netns: at.netns, ifname, filter }));
  ctx.addCapture(wireSource(wire, `${at.name}:${ifname}`));
  return { tb, a, b, aAddr: a.addr(b.name), bAddr: b.addr(a.name), wire };
}

/** A stack under test and a ghost prober on its link: a local namespace pair, or the current target. */
export interface Probe {
  server: TargetHost;
  /** The server's address, and the ghost address crafted segments come from. */
  sAddr: string;
  ghostAddr: string;
  wire: Wire;
  /** Capture point of `wire`. */
  point: string;
  /** A peer on the server, disposed with the case. */
  peer(): Promise<PeerClient>;
}

/**
 * The server side of a ghost-prober lab. Without a target (withTarget), a fresh namespace pair as
 * before; with one (QEMU guest, gVisor...), a probe session on it. Sysctls are pinned either way.
 */
export async function probeServer(ctx: CaseContext, sysctls: Sysctls, filter: Match = {}): Promise<Probe> {
  const target = currentTarget();
  if (!target) {
    const p = await pair(ctx, ['prober', 'server'], { server: sysctls }, filter, 'a');
    const ghost = ctx.use(await p.tb.ghost('prober', 'server'));
    return { server: p.b, sAddr: p.bAddr, ghostAddr: ghost.addr, wire: p.wire, point: `${p.a.name}:${p.a.iface('server').ifname}`, peer: () => p.b.peer() };
  }
  const s = ctx.use(await target.probe(filter));
  for (const [k, v] of Object.entries(sysctls)) {
    await s.sysctl.set(k, v);
    ctx.sysctl(s.host.name, k, await s.sysctl.get(k));
  }
  ctx.addCapture(wireSource(s.wire, s.point));
  return { server: s.host, sAddr: s.addr, ghostAddr: s.ghost, wire: s.wire, point: s.point, peer: () => s.peer() };
}

export function toRecord(p: Captured, point: string): PacketRecord | undefined {
  return p.segment ? { tsNs: p.tsNs, dir: p.dir, point, segment: p.segment } : undefined;
}

/** A Wire's capture as the runner wants it: decoded records for ladders and checks, frames for the pcap. */
export function wireSource(wire: Wire, point: string) {
  return {
    point,
    link: 'ethernet' as const,
    records: () => wire.captured.flatMap((p) => toRecord(p, point) ?? []),
    frames: () => wire.captured.map((p) => ({ data: p.data, tsNs: p.tsNs })),
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

/** Only the TCP counters of a delta (TcpExt.*, Tcp.*): what a TCP lab's evidence should show. */
export function tcpOnly(moved: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(moved).filter(([k]) => k.startsWith('TcpExt.') || k.startsWith('Tcp.')));
}
