// The hosts a lab case runs on: a pair of hosts on one link (namespaces of this machine, or a target's
// kernel and its partner) or a stack under test with a ghost prober, with the case's sysctls pinned and
// reported and its capture registered for the ladder and the pcap.
import { Testbed } from '../testbed/testbed.js';
import type { Impairment } from '../testbed/host.js';
import type { ImpairSpec } from '../testbed/impair.js';
import { must } from '../testbed/exec.js';
import { assertSafe } from '../testbed/safety.js';
import { Wire } from '../wire/wire.js';
import type { Match } from '../wire/match.js';
import type { PeerClient } from '../peer/client.js';
import type { StackInfo } from './kernel.js';
import type { LabHost, LabTarget, TargetHost } from './stack.js';
import type { PacketRecord } from './packets.js';
import type { CaseContext } from './types.js';
import { wireSource } from './evidence.js';

export type Sysctls = Readonly<Record<string, string | number>>;

export interface Pair {
  /** The testbed of a local run (both hosts are its namespaces); undefined when one host is a target's. */
  tb?: Testbed;
  a: LabHost;
  b: LabHost;
  /** a's and b's addresses on their link. */
  aAddr: string;
  bAddr: string;
  /** Capture (and crafted sends) on one end of the link: sees both directions of every a<->b segment. */
  wire: Wire;
  /** The capture point of `wire` ('server:tcplab-...'), for packets() and ladders. */
  point: string;
  /** The host that segments crafted on `wire` reach (the far end of the link from the capture point). */
  sendsReach: LabHost;
  /** The stack a host runs: the target's for the subject on a target, else this machine's kernel. */
  stackOf(h: LabHost): StackInfo;
  /**
   * Drops what `from` sends (dir 'out') or receives ('in'). On a target the subject has no nftables of
   * ours: the rule goes on the other end of the link, the other way round (what a sends, b receives).
   */
  impair(from: LabHost, spec: ImpairSpec): Promise<Impairment>;
  /** Another address for `h` on the link (e.g. a second server address), removed with the case. */
  addAddress(h: LabHost, addr: string): Promise<void>;
}

/**
 * Two hosts on one link, sysctls pinned on each, a capture registered with the case. On this machine:
 * two fresh namespaces, the capture on `captureOn`'s end. On a target (ctx.target): the lab's subject
 * role is the target's kernel, the other role a namespace of this machine on the target's link, and the
 * capture is on this machine's end (the partner's).
 */
export async function pair(
  ctx: CaseContext,
  names: readonly [string, string],
  sysctls: { [host: string]: Sysctls },
  filter: Match = {},
  captureOn: 'a' | 'b' = 'b',
): Promise<Pair> {
  const p = ctx.target ? await targetPair(ctx, ctx.target, names, filter) : await localPair(ctx, names, filter, captureOn);
  for (const h of [p.a, p.b]) {
    for (const [k, v] of Object.entries(sysctls[h.name] ?? {})) {
      await h.sysctl.set(k, v);
      ctx.sysctl(h.name, k, await h.sysctl.get(k));
    }
  }
  return p;
}

async function localPair(ctx: CaseContext, names: readonly [string, string], filter: Match, captureOn: 'a' | 'b'): Promise<Pair> {
  const tb = ctx.use(await Testbed.create({ hosts: names, links: [names] }));
  const a = tb.host(names[0]);
  const b = tb.host(names[1]);
  const [at, other] = captureOn === 'b' ? [b, a] : [a, b];
  const ifname = at.iface(other.name).ifname;
  const wire = ctx.use(await Wire.open({ netns: at.netns, ifname, filter }));
  const point = `${at.name}:${ifname}`;
  ctx.addCapture(wireSource(wire, point));
  return { tb, a, b, aAddr: a.addr(b.name), bAddr: b.addr(a.name), wire, point, sendsReach: other, stackOf: () => ctx.stack,
    addAddress: async (h, addr) => {
      const host = h === a ? a : b;
      assertSafe('address', addr);
      await must('ip', ['-n', host.netns, 'addr', 'add', `${addr}/24`, 'dev', host.iface((h === a ? b : a).name).ifname]);
    }, impair: (from, spec) => (from === a ? a : b).impair(spec) };
}

async function targetPair(ctx: CaseContext, target: LabTarget, names: readonly [string, string], filter: Match): Promise<Pair> {
  if (!names.includes(ctx.subject)) throw new Error(`lab ${ctx.labId}: subject '${ctx.subject}' is not one of this pair's hosts (${names.join(', ')})`);
  if (!target.partner) throw new Error(`${target.id}: two-host labs cannot run there (no partner link)`);
  const partnerName = names[0] === ctx.subject ? names[1] : names[0];
  const s = ctx.use(await target.partner({ subject: ctx.subject, partner: partnerName }, filter));
  ctx.addCapture(wireSource(s.wire, s.point));
  ctx.note(undefined, `${ctx.subject}: ${s.subjectStack.os} ${s.subjectStack.release} on ${target.id} (on trial); ${partnerName}: this machine's ${s.partnerStack.os} ${s.partnerStack.release}`);
  const subjectFirst = names[0] === ctx.subject;
  const [a, b] = subjectFirst ? [s.subject, s.partner] : [s.partner, s.subject];
  const [aAddr, bAddr] = subjectFirst ? [s.subjectAddr, s.partnerAddr] : [s.partnerAddr, s.subjectAddr];
  const flip = (d: ImpairSpec['dir']): ImpairSpec['dir'] => (d === 'out' ? 'in' : 'out');
  return {
    a, b, aAddr, bAddr, wire: s.wire, point: s.point, sendsReach: s.subject,
    stackOf: (h) => (h === s.subject ? s.subjectStack : s.partnerStack),
    addAddress: async (h, addr) => {
      if (h !== s.partner) throw new Error(`${h.name}: a second address can only be added on this machine's end of the target's link`);
      await s.partner.addAddress(addr);
    },
    // What the subject sends out, the partner receives (and the other way): same match, other hook.
    impair: (from, spec) => (from === s.partner ? s.partner.impair(spec) : s.partner.impair({ ...spec, dir: flip(spec.dir) })),
  };
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
 * The server side of a ghost-prober lab. Without a target (ctx.target), a fresh namespace pair as
 * before; with one (QEMU guest, gVisor...), a probe session on it. Sysctls are pinned either way.
 */
export async function probeServer(ctx: CaseContext, sysctls: Sysctls, filter: Match = {}): Promise<Probe> {
  const target = ctx.target;
  if (!target) {
    const p = await pair(ctx, ['prober', 'server'], { server: sysctls }, filter, 'a');
    const ghost = ctx.use(await p.tb!.ghost('prober', 'server'));
    return { server: p.b, sAddr: p.bAddr, ghostAddr: ghost.addr, wire: p.wire, point: p.point, peer: () => p.b.peer() };
  }
  const s = ctx.use(await target.probe(filter));
  for (const [k, v] of Object.entries(sysctls)) {
    await s.sysctl.set(k, v);
    ctx.sysctl(s.host.name, k, await s.sysctl.get(k));
  }
  ctx.addCapture(wireSource(s.wire, s.point));
  return { server: s.host, sAddr: s.addr, ghostAddr: s.ghost, wire: s.wire, point: s.point, peer: () => s.peer() };
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
  return connectOn(ctx, p, serverPort);
}

/** On a pair made already (a = client, b = server): the ladder's columns, peers, a listener and one connection. */
export async function connectOn(ctx: CaseContext, p: Pair, serverPort: number, timeoutMs = 2000): Promise<Connected> {
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: serverPort, reuseAddr: true });
  const con = await cli.call('connect', { addr: p.bAddr, port: serverPort, timeoutMs });
  const acc = await srv.call('accept', { sock: l.sock, timeoutMs });
  const cport = con.localPort;
  return {
    p, cli, srv, lsock: l.sock, csock: con.sock, ssock: acc.sock,
    local: { addr: p.aAddr, port: cport },
    remote: { addr: p.bAddr, port: serverPort },
    point: p.point,
    fromClient: (x) => x.segment.src === p.aAddr && x.segment.sport === cport,
    fromServer: (x) => x.segment.src === p.bAddr && x.segment.sport === serverPort && x.segment.dport === cport,
  };
}

// ---- programs in a host's namespace (HTTP servers, nginx) and HTTP over a peer socket -------------------
