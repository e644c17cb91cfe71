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
export async function counting<T>(host: NetnsHost, fn: () => Promise<T>): Promise<{ result: T; moved: Record<string, number>; d: Counters }> {
  const before = await host.counters();
  const result = await fn();
  const after = await host.counters();
  const d = delta(before, after);
  return { result, moved: changed(d), d };
}

export function sockLine(s: SocketEntry): string {
  const t = s.timer ? ` timer:${s.timer.kind},${(s.timer.remainingMs / 1000).toFixed(1)}s` : '';
  return `${s.state} ${s.local.addr}:${s.local.port} ${s.peer.addr}:${s.peer.port}${t}`;
}

/** The socket of a 4-tuple on a host (any state), or undefined. */
export async function socketOf(host: NetnsHost, local: { addr: string; port: number }, peer: { addr: string; port: number }): Promise<SocketEntry | undefined> {
  const all = await host.sockets();
  return all.find((s) => s.local.addr === local.addr && s.local.port === local.port && s.peer.addr === peer.addr && s.peer.port === peer.port);
}

/** Polls a host until the socket of a 4-tuple satisfies `pred` (or `ms` passes); returns the last look. */
export async function waitSocket(
  host: NetnsHost,
  local: { addr: string; port: number },
  peer: { addr: string; port: number },
  pred: (s: SocketEntry | undefined) => boolean,
  ms = 2000,
): Promise<SocketEntry | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await socketOf(host, local, peer);
    if (pred(s) || Date.now() > end) return s;
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

export interface Connected {
  p: Pair;
  cli: PeerClient;
  srv: PeerClient;
  lsock: number;
  /** The client's and the server's connected sockets (peer ids). */
  csock: number;
  ssock: number;
  local: { addr: string; port: number };
  remote: { addr: string; port: number };
  /** Capture point name of p.wire, for packets(). */
  point: string;
  fromClient: (r: PacketRecord) => boolean;
  fromServer: (r: PacketRecord) => boolean;
}

/** Client and server hosts with pinned sysctls, a listening server, and one established connection. */
export async function connectedPair(ctx: CaseContext, sysctls: { client?: Sysctls; server?: Sysctls }, serverPort: number): Promise<Connected> {
  const p = await pair(ctx, ['client', 'server'], { client: sysctls.client ?? {}, server: sysctls.server ?? {} }, { port: serverPort });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: serverPort, reuseAddr: true });
  const con = await cli.call('connect', { addr: p.bAddr, port: serverPort, timeoutMs: 2000 });
  const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
  const cport = con.localPort;
  return {
    p, cli, srv, lsock: l.sock, csock: con.sock, ssock: acc.sock,
    local: { addr: p.aAddr, port: cport },
    remote: { addr: p.bAddr, port: serverPort },
    point: `${p.b.name}:${p.b.iface(p.a.name).ifname}`,
    fromClient: (x) => x.segment.src === p.aAddr && x.segment.sport === cport,
    fromServer: (x) => x.segment.src === p.bAddr && x.segment.sport === serverPort && x.segment.dport === cport,
  };
}
