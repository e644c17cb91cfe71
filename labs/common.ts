// Shared set-up for labs: a testbed owned by the case, sysctls pinned and reported, a capture registered.
import { Testbed } from '../src/testbed/testbed.js';
import type { Impairment } from '../src/testbed/host.js';
import type { ImpairSpec } from '../src/testbed/impair.js';
import type { StackInfo } from '../src/lab/kernel.js';
import type { LabHost, LabTarget, TargetHost } from '../src/lab/stack.js';
import { changed, delta, type Counters } from '../src/testbed/counters.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { Wire, type Captured } from '../src/wire/wire.js';
import type { Match } from '../src/wire/match.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import { inNetns, must } from '../src/testbed/exec.js';
import { assertSafe } from '../src/testbed/safety.js';
import { spawn } from 'node:child_process';
import { CraftedConn } from '../src/wire/crafted.js';

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

export function toRecord(p: Captured, point: string): PacketRecord | undefined {
  return p.segment ? { tsNs: p.tsNs, dir: p.dir, point, segment: p.segment, ...(p.crafted ? { crafted: true } : {}) } : undefined;
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

/** Polls a host until the socket of a 4-tuple satisfies `pred` (or `ms` passes); returns the last look. */
export async function waitSocket(
  host: Pick<TargetHost, 'sockets'>,
  local: { addr: string; port: number },
  peer: { addr: string; port: number },
  pred: (s: SocketEntry | undefined) => boolean,
  ms = 2000,
): Promise<SocketEntry | undefined> {
  const end = Date.now() + ms;
  if (!host.sockets) return undefined; // nothing to wait for on a stack without a socket table
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
    point: p.point,
    fromClient: (x) => x.segment.src === p.aAddr && x.segment.sport === cport,
    fromServer: (x) => x.segment.src === p.bAddr && x.segment.sport === serverPort && x.segment.dport === cport,
  };
}

// ---- programs in a host's namespace (HTTP servers, nginx) and HTTP over a peer socket -------------------

/** A long-running program inside a host's namespace, stopped on dispose (and killed if this process exits). */
export interface Proc extends AsyncDisposable {
  readonly pid: number;
  /** stdout and stderr lines so far. */
  readonly output: readonly string[];
  /** Resolves with the first output line matching `re` (or rejects after `ms`, or when the program exits). */
  waitFor(re: RegExp, ms: number): Promise<string>;
  readonly exitCode: number | null | undefined;
  /** SIGTERM (or `sig`), then SIGKILL after `ms` if it is still alive. */
  stop(sig?: NodeJS.Signals, ms?: number): Promise<void>;
}

/** Spawns `cmd` in the host's namespace (`ip netns exec` execs it: the pid is the program's own). */
export function spawnIn(host: Pick<LabHost, 'name' | 'netns'>, cmd: string, args: readonly string[]): Proc {
  // Programs run on this machine's hosts only; a lab puts them on the role that stays here.
  if (host.netns === undefined) throw new Error(`${host.name}: ${cmd} can only run in a namespace of this machine, not on a target`);
  const [c, a] = inNetns(host.netns, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters = new Set<() => void>();
  let exitCode: number | null | undefined;
  const onLine = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', onLine);
  child.stderr.on('data', onLine);
  const exited = new Promise<void>((res) => child.once('exit', (code) => {
    exitCode = code;
    process.off('exit', killSync);
    for (const w of [...waiters]) w();
    res();
  }));
  child.once('error', (e) => output.push(`spawn error: ${e.message}`));
  // The namespace's own clean-up kills what runs in it; this covers a crash before that.
  function killSync(): void {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.once('exit', killSync);
  const proc: Proc = {
    get pid() {
      return child.pid ?? -1;
    },
    output,
    get exitCode() {
      return exitCode;
    },
    waitFor(re, ms) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => done(() => reject(new Error(`${cmd}: no output matching ${re} within ${ms} ms; output: ${output.slice(-5).join(' | ')}`))), ms);
        const done = (f: () => void) => {
          clearTimeout(t);
          waiters.delete(check);
          f();
        };
        const check = () => {
          const hit = output.find((l) => re.test(l));
          if (hit !== undefined) done(() => resolve(hit));
          else if (exitCode !== undefined) done(() => reject(new Error(`${cmd} exited (${exitCode}) before printing ${re}; output: ${output.slice(-5).join(' | ')}`)));
        };
        waiters.add(check);
        check();
      });
    },
    async stop(sig = 'SIGTERM', ms = 2000) {
      if (exitCode !== undefined || !child.pid) return;
      child.kill(sig);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(t);
    },
    [Symbol.asyncDispose]: () => proc.stop(),
  };
  return proc;
}

/**
 * A Node HTTP server (node:http, HTTP/1.1 keep-alive as Node does it) answering every request with a small
 * text body. keepAliveTimeoutMs is how long it keeps an idle connection before closing it (Node: 5 s).
 */
const HTTP_SERVER_JS = `
const http = require('node:http');
const [addr, port, kat] = process.argv.slice(-3);
const srv = http.createServer((req, res) => {
  const body = 'hello from ' + addr + ':' + port + ' ' + req.url + '\\n';
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
srv.keepAliveTimeout = Number(kat);
srv.listen(Number(port), addr, () => console.log('listening ' + addr + ':' + port));
process.on('SIGTERM', () => process.exit(0));
`;

export async function nodeHttpServer(ctx: CaseContext, host: Pick<LabHost, 'name' | 'netns'>, addr: string, port: number, keepAliveTimeoutMs = 5000): Promise<Proc> {
  const p = ctx.use(spawnIn(host, process.execPath, ['-e', HTTP_SERVER_JS, addr, String(port), String(keepAliveTimeoutMs)]));
  await p.waitFor(/^listening /, 5000);
  return p;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after the response (read to EOF). */
  eof: boolean;
}

/** Sends one request on a peer's connected socket and reads one response (Content-Length, else to EOF). */
export async function httpExchange(peer: PeerClient, sock: number, request: string, timeoutMs = 3000): Promise<HttpResponse> {
  await peer.call('send', { sock, data: request, timeoutMs });
  let buf = '';
  let eof = false;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const head = buf.indexOf('\r\n\r\n');
    if (head >= 0) {
      const lines = buf.slice(0, head).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
      const body = buf.slice(head + 4);
      if ((len !== undefined && Buffer.byteLength(body) >= len) || eof) return { status, headers, body, eof };
    } else if (eof) {
      throw new Error(`http: connection closed before a full response header (${buf.length} bytes)`);
    }
    const left = end - Date.now();
    if (left <= 0) throw new Error(`http: no complete response within ${timeoutMs} ms (${buf.length} bytes so far)`);
    const r = await peer.call('recv', { sock, max: 65536, timeoutMs: left });
    buf += r.data;
    if (r.eof) eof = true;
  }
}

/** After a response read to its Content-Length: waits briefly for the server's FIN; true when it came. */
export async function readEof(peer: PeerClient, sock: number, timeoutMs: number): Promise<boolean> {
  const r = await peer.try('recv', { sock, max: 65536, timeoutMs });
  return r.ok && r.eof;
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

export const FIN_ACK = 'a TIME-WAIT acknowledges a retransmitted FIN (RFC 9293 §3.10.7.4, TIME-WAIT: "acknowledge it, and restart the 2 MSL timeout")';

/** What the stack answers to a retransmission of the prober's FIN: a live TIME-WAIT ACKs it, a closed 4-tuple RSTs. */
function finProbeState(reply: PacketRecord | undefined): string {
  const r = classifyReply(reply);
  return r === 'ACK' ? 'TIME-WAIT' : r === 'RST' ? 'gone' : `unknown (${r} to the FIN)`;
}

export interface Liveness {
  state: string;
  sockets: string[];
  packets: PacketRecord[];
}

/** Is the server's TIME-WAIT still there? Its socket table says so where it has one; elsewhere its answer to a retransmitted FIN. */
export async function liveness(ctx: CaseContext, p: Probe, conn: CraftedConn, finSeq: number, local: Endpoint, remote: Endpoint, fromServer: (x: PacketRecord) => boolean, waitMs = 150): Promise<Liveness> {
  if (p.server.sockets) {
    const s = await socketOf(p.server, local, remote);
    return { state: s?.state ?? 'gone', sockets: [sockLineOr(s)], packets: [] };
  }
  const since = conn.send('F.', { seq: finSeq }); // with the connection's next timestamp, if it has them
  await ctx.sleep(waitMs);
  const fin = packets(p.wire, p.point, (x) => x.tsNs >= since && x.segment.src === p.ghostAddr && x.segment.flags.includes('F'))[0];
  const reply = packets(p.wire, p.point, (x) => x.tsNs >= since && fromServer(x))[0];
  return { state: finProbeState(reply), sockets: [`(no socket table: asked with a retransmitted FIN, seq ${finSeq}; ${FIN_ACK}, a closed 4-tuple answers RST)`], packets: [fin, reply].filter((x): x is PacketRecord => !!x) };
}

export type Endpoint = { addr: string; port: number };

export interface CraftedClient {
  /** The server application's peer, and its accepted socket. */
  srv: PeerClient;
  sock: number;
  /** The ghost prober as a scripted client, connected. */
  conn: CraftedConn;
  synAck: Captured;
}

/** The server application listens on the stack under test and a crafted client (the ghost prober) connects to it. */
export async function connectCrafted(ctx: CaseContext, p: Probe, o: { port: number; sport: number; isn: number; tsval?: number }): Promise<CraftedClient> {
  ctx.setColumns([{ label: 'client (prober)', addrs: [p.ghostAddr] }, { label: 'server', addrs: [p.sAddr] }]);
  const srv = await p.peer();
  const l = await srv.call('listen', { addr: p.sAddr, port: o.port, reuseAddr: true });
  const ts = o.tsval === undefined ? '' : `, offering timestamps from TSval ${o.tsval}`;
  ctx.step(`server listens on ${p.sAddr}:${o.port}; the client is a crafted prober at ghost address ${p.ghostAddr}${ts}`);
  const conn = new CraftedConn(p.wire, { src: p.ghostAddr, dst: p.sAddr, sport: o.sport, dport: o.port, isn: o.isn, ...(o.tsval === undefined ? {} : { tsval: o.tsval }) });
  const synAck = await conn.connect();
  const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
  return { srv, sock: acc.sock, conn, synAck };
}
