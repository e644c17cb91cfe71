// lab:reuse: what net.ipv4.tcp_tw_reuse really does, and what happens when the peer is still in
// LAST-ACK because the client's last ACK was lost. Real kernel sockets on both sides.
import type { Lab, LabCase, CaseContext } from '../src/lab/types.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { PeerClient } from '../src/peer/client.js';
import type { LabHost } from '../src/lab/stack.js';
import { Wire } from '../src/wire/wire.js';
import { eventNs, monoMs } from '../src/lab/clock.js';
import { changed, delta, type Counters } from '../src/testbed/counters.js';
import { seqAdd, seqDiff } from '../src/wire/seq.js';
import { counting, packets, sockLine, socketOf, tcpOnly, wireSource } from '../src/lab/evidence.js';
import { pair, type Pair } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
/**
 * The client's port, one per case: on a target the cases share one kernel, and a TIME-WAIT an earlier
 * case left on a port (bound by bind() in the 'bound' cases) would change what connect() may do with it.
 */
const CLIENT_PORTS: Readonly<Record<string, number>> = { reuse0: 40000, reuse1: 40001, 'reuse1-nots': 40002, reuse2: 40003, 'bound-reuse0': 40004, 'bound-nots': 40005, lastack: 40006 };
function clientPort(ctx: CaseContext): number {
  const port = CLIENT_PORTS[ctx.caseId];
  if (port === undefined) throw new Error(`reuse: no client port for case ${ctx.caseId}`);
  return port;
}
/** How long a lab keeps retrying a reconnect that the kernel refuses: well past the 1 s reuse delay. */
const RETRY_FOR_MS = 2000;
/**
 * 'bound': the client binds the port itself (bind() with SO_REUSEADDR, then connect()).
 * 'ephemeral': the kernel picks the port in connect(); ip_local_port_range is narrowed to that one port,
 * so a reconnect must take over the TIME-WAIT's port or fail. tcp_tw_reuse only governs this path.
 */
type Mode = 'bound' | 'ephemeral';
const onePortRange = (port: number) => `${port} ${port}`;
const RETRY_EVERY_MS = 50;

interface Conn {
  mode: Mode;
  /** The client's local port (the only one in range, for 'ephemeral'). */
  port: number;
  cli: PeerClient;
  srv: PeerClient;
  lsock: number;
  cAddr: string;
  sAddr: string;
  point: string;
}

/** Server listens; both peers are real kernel sockets driven over stdio. */
async function peers(p: Pair, ctx: CaseContext, mode: Mode, port: number): Promise<Conn> {
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: SERVER_PORT, reuseAddr: true });
  await ctx.step(`server listens on ${p.bAddr}:${SERVER_PORT}`);
  return { mode, port, cli, srv, lsock: l.sock, cAddr: p.aAddr, sAddr: p.bAddr, point: p.point };
}

function connectArgs(c: Conn, reuseAddr = true) {
  const base = { addr: c.sAddr, port: SERVER_PORT, timeoutMs: 3000 };
  return c.mode === 'bound' ? { ...base, localAddr: c.cAddr, localPort: c.port, reuseAddr } : base;
}

function how(c: Conn): string {
  return c.mode === 'bound' ? `bind(${c.cAddr}:${c.port}, SO_REUSEADDR) + connect()` : `connect() with an ephemeral port (range ${onePortRange(c.port)})`;
}

/** Client connects (bound or ephemeral port), then closes first; the server closes after EOF. */
async function connectCloseFirst(ctx: CaseContext, c: Conn, opts: { beforeClientClose?: () => Promise<void> } = {}) {
  const con = await c.cli.call('connect', connectArgs(c));
  const acc = await c.srv.call('accept', { sock: c.lsock, timeoutMs: 2000 });
  ctx.note('client', `${how(c)} -> established from port ${con.localPort}`);
  if (con.localPort !== c.port) throw new Error(`the client got port ${con.localPort}, not ${c.port}: ip_local_port_range was not honoured`);
  await opts.beforeClientClose?.();
  await c.cli.call('close', { sock: con.sock });
  ctx.note('client', 'close(): the client closes first');
  const r = await c.srv.call('recv', { sock: acc.sock, timeoutMs: 2000 });
  if (!r.eof) throw new Error('server: expected EOF after the client closed');
  await c.srv.call('close', { sock: acc.sock });
  ctx.note('server', 'recv() = EOF, close()');
}

/** Waits until a host shows the socket of the 4-tuple in `state`; returns its ss line. */
async function waitState(host: LabHost, local: { addr: string; port: number }, peer: { addr: string; port: number }, state: string, ms = 2000) {
  const end = monoMs() + ms;
  for (;;) {
    const s = await socketOf(host, local, peer);
    if (s?.state === state || monoMs() > end) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Attempt {
  tMs: number;
  /** When the attempt started (CLOCK_REALTIME ns, the capture clock). */
  startNs: bigint;
  code: string;
}

/**
 * Reconnects from the same local port every RETRY_EVERY_MS until one succeeds or `forMs` passes.
 * Returns every attempt's outcome ('ok' or the errno name).
 */
async function reconnect(ctx: CaseContext, c: Conn, forMs: number): Promise<{ attempts: Attempt[]; sock?: number }> {
  const t0 = monoMs();
  const attempts: Attempt[] = [];
  for (;;) {
    const startNs = eventNs();
    const r = await c.cli.try('connect', connectArgs(c));
    const tMs = Math.round(monoMs() - t0);
    attempts.push({ tMs, startNs, code: r.ok ? 'ok' : r.code });
    if (r.ok) {
      ctx.note('client', `reconnect succeeded from port ${r.localPort} after ${attempts.length} attempt(s), ${tMs} ms`);
      return { attempts, sock: r.sock };
    }
    if (tMs >= forMs || ctx.signal.aborted) break;
    await new Promise((res) => setTimeout(res, RETRY_EVERY_MS));
  }
  const codes = [...new Set(attempts.map((a) => a.code))].join(', ');
  ctx.note('client', `${attempts.length} connect() attempts over ${attempts.at(-1)!.tMs} ms: all failed with ${codes}`);
  return { attempts };
}

function summary(attempts: Attempt[]): string {
  const ok = attempts.find((a) => a.code === 'ok');
  if (ok) return 'connected';
  return [...new Set(attempts.map((a) => a.code))].join('|');
}

const isFrom = (addr: string, port: number) => (r: PacketRecord) => r.segment.src === addr && r.segment.sport === port;

/** The TIME-WAIT the client is left with, checked from its socket list. */
async function checkClientTimeWait(ctx: CaseContext, p: Pair, c: Conn) {
  const tw = await waitState(p.a, { addr: c.cAddr, port: c.port }, { addr: c.sAddr, port: SERVER_PORT }, 'TIME-WAIT');
  ctx.check({
    id: 'client-time-wait',
    stack: p.stackOf(p.a),
    title: 'the client, which closed first, holds the 4-tuple in TIME-WAIT',
    expect: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'the active closer enters TIME-WAIT (RFC 9293 §3.3.2); tcp_time_wait()' }], freebsd: [{ versions: '*', expect: 'TIME-WAIT' }] },
    observed: tw?.state ?? 'gone',
    sockets: tw ? [sockLine(tw)] : ['(no socket for the 4-tuple)'],
    packets: packets(p.wire, c.point, (r) => r.segment.flags.includes('F')),
    explain: tw?.timer ? `TIME-WAIT timer: ${(tw.timer.remainingMs / 1000).toFixed(0)} s left` : undefined,
  });
  return tw;
}

interface Setup {
  mode: Mode;
  reuse: number;
  timestamps: number;
}

/** Two hosts, the sysctls of the case pinned on the client, a listening server, a client connection closed first. */
async function setup(ctx: CaseContext, s: Setup, opts: { beforeClientClose?: (p: Pair, c: Conn) => Promise<void> } = {}) {
  const client: Record<string, string | number> = { 'net.ipv4.tcp_tw_reuse': s.reuse, 'net.ipv4.tcp_timestamps': s.timestamps };
  const port = clientPort(ctx);
  if (s.mode === 'ephemeral') client['net.ipv4.ip_local_port_range'] = onePortRange(port);
  const p = await pair(ctx, ['client', 'server'], { client, server: { 'net.ipv4.tcp_timestamps': 1 } }, { port: SERVER_PORT });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const delayMs = await reuseDelay(p.a, ctx);
  const c = await peers(p, ctx, s.mode, port);
  await ctx.step(`client: ${how(c)}, then closes first`);
  await connectCloseFirst(ctx, c, { beforeClientClose: opts.beforeClientClose && (() => opts.beforeClientClose!(p, c)) });
  await checkClientTimeWait(ctx, p, c);
  return { p, c, delayMs };
}

/** The reconnect is refused for RETRY_FOR_MS: no SYN leaves the client, TWRecycled does not move. */
async function expectRefused(ctx: CaseContext, p: Pair, c: Conn, title: string, because: string) {
  await ctx.step(`client reconnects the same way every ${RETRY_EVERY_MS} ms for ${RETRY_FOR_MS / 1000} s`);
  const { result: r, moved } = await counting(p.a, () => ctx.waiting('reconnect attempts (the kernel refuses them)', RETRY_FOR_MS, () => reconnect(ctx, c, RETRY_FOR_MS)));
  const tw = await socketOf(p.a, { addr: c.cAddr, port: c.port }, { addr: c.sAddr, port: SERVER_PORT });
  const synsAfter = packets(p.wire, c.point, (x) => isFrom(c.cAddr, c.port)(x) && x.segment.flags === 'S').slice(1);
  ctx.check({
    id: 'reconnect',
    stack: p.stackOf(p.a),
    title,
    expect: { linux: [{ versions: '*', expect: 'EADDRNOTAVAIL', because }] },
    observed: summary(r.attempts),
    sockets: tw ? [sockLine(tw)] : [],
    counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
    packets: synsAfter,
    explain: `${r.attempts.length} attempts over ${r.attempts.at(-1)?.tMs ?? 0} ms; ${synsAfter.length ? `${synsAfter.length} SYN(s) left the client` : 'no SYN left the client: the refusal is local'}`,
  });
}

/** The reconnect succeeds: when, with which ISN, and counted as a recycled TIME-WAIT. */
async function expectReused(ctx: CaseContext, p: Pair, c: Conn, delay: { minMs: number; maxMs: number; because: string; immediate?: boolean }, reconnectFor: number) {
  await ctx.step(`client reconnects the same way every ${RETRY_EVERY_MS} ms until the kernel lets it`);
  const { result: r, moved } = await counting(p.a, () => ctx.waiting('reconnecting until the kernel allows it', reconnectFor, () => reconnect(ctx, c, reconnectFor)));
  const fromClient = isFrom(c.cAddr, c.port);
  const serverFin = packets(p.wire, c.point, (x) => isFrom(c.sAddr, SERVER_PORT)(x) && x.segment.flags.includes('F'))[0];
  const clientFin = packets(p.wire, c.point, (x) => fromClient(x) && x.segment.flags.includes('F'))[0];
  const newSyn = packets(p.wire, c.point, (x) => fromClient(x) && x.segment.flags === 'S')[1];
  ctx.check({
    id: 'reconnect',
    stack: p.stackOf(p.a),
    title: 'the reconnect takes over the TIME-WAIT 4-tuple',
    expect: { linux: [{ versions: '*', expect: 'connected', because: delay.because }] },
    observed: summary(r.attempts),
    packets: newSyn ? [newSyn] : [],
    counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
    explain: `attempts: ${r.attempts.slice(-3).map((a) => `${a.tMs} ms ${a.code}`).join(', ')}${r.attempts.length > 3 ? ` (${r.attempts.length} in all)` : ''}`,
  });
  ctx.check({
    id: 'tw-recycled',
    stack: p.stackOf(p.a),
    title: 'TcpExt.TWRecycled counts the takeover',
    expect: { linux: [{ versions: '*', expect: 1, because: '__inet_check_established() increments LINUX_MIB_TIMEWAITRECYCLED when tcp_twsk_unique() lets it take a TIME-WAIT' }] },
    observed: moved['TcpExt.TWRecycled'] ?? 0,
    counters: tcpOnly(moved),
  });
  if (serverFin && newSyn && delay.immediate) {
    // "At once" is about the kernel, not our clock: the very first attempt must succeed.
    const waited = Math.round(Number(newSyn.tsNs - serverFin.tsNs) / 1e6);
    ctx.check({
      id: 'reuse-delay',
      stack: p.stackOf(p.a),
      title: 'the takeover needs no waiting: the first reconnect attempt succeeds',
      expect: { linux: [{ versions: '*', expect: 1, because: delay.because }] },
      observed: r.attempts.findIndex((a) => a.code === 'ok') + 1,
      packets: [serverFin, newSyn],
      explain: `the reusing SYN left ${waited} ms after the server's FIN (the lab's own socket-list checks came in between)`,
    });
  } else if (serverFin && newSyn) {
    const waited = Math.round(Number(newSyn.tsNs - serverFin.tsNs) / 1e6);
    ctx.check({
      id: 'reuse-delay',
      stack: p.stackOf(p.a),
      title: "when the takeover comes, counted from the server's FIN (the last timestamp the TIME-WAIT saw)",
      expect: {
        linux: [
          { versions: '>=6.14', expect: { atLeast: 1000 }, because: DELAY_SYSCTL },
          // +100 ms: the client's kernel stamps the FIN a little after our capture saw it, and the SYN leaves after connect() returns.
          { versions: '<6.14', expect: { between: [0, 1100] }, because: DELAY_TICK },
        ],
      },
      observed: waited,
      packets: [serverFin, newSyn],
      explain: `the reusing SYN left ${waited} ms after the server's FIN; the client polled every ${RETRY_EVERY_MS} ms`,
    });
    // The upper side is about the kernel too, not about how busy this machine is: the first attempt
    // that started once the delay (and its granularity) had passed must succeed.
    // +5 ms: the client's kernel stamps the FIN a little after our capture saw it leave, in whole ms.
    const due = serverFin.tsNs + BigInt(delay.maxMs + 5) * 1_000_000n;
    // An attempt that started just before `due` may reach connect() after it and succeed: then it counts.
    const first = r.attempts.find((a) => a.startNs >= due) ?? r.attempts.find((a) => a.code === 'ok');
    ctx.check({
      id: 'reuse-when-due',
      stack: p.stackOf(p.a),
      title: `the first attempt after the delay${delay.maxMs > delay.minMs ? ` (and its ${delay.maxMs - delay.minMs} ms granularity)` : ''} succeeds`,
      expect: { linux: [{ versions: '*', expect: 'ok', because: delay.because }] },
      observed: first?.code ?? 'no attempt after the delay',
      packets: [serverFin, newSyn],
      explain: first ? `attempt at +${Number((first.startNs - serverFin.tsNs) / 1_000_000n)} ms after the FIN` : undefined,
    });
  }
  if (clientFin && newSyn) {
    ctx.check({
      id: 'reuse-isn',
      stack: p.stackOf(p.a),
      title: "the reusing SYN's ISN is the old connection's snd_nxt + 65537",
      expect: { linux: [{ versions: '*', expect: 65537, because: 'tcp_twsk_unique(): write_seq = tw_snd_nxt + 65535 + 2, so the new sequence space starts above the old one' }] },
      observed: seqDiff(newSyn.segment.seq, seqAdd(clientFin.segment.seq, 1)),
      packets: [clientFin, newSyn],
    });
  }
  return { attempts: r.attempts, moved, newSyn };
}

async function hasReuseDelaySysctl(h: LabHost): Promise<boolean> {
  try {
    await h.sysctl.get('net.ipv4.tcp_tw_reuse_delay');
    return true;
  } catch {
    return false;
  }
}

/** The reuse delay, pinned to 1000 ms where net.ipv4.tcp_tw_reuse_delay exists (else the next tick of a 1 Hz clock). */
async function reuseDelay(h: LabHost, ctx: CaseContext): Promise<{ ms: number; grainMs: number }> {
  if (await hasReuseDelaySysctl(h)) {
    await h.sysctl.set('net.ipv4.tcp_tw_reuse_delay', 1000);
    ctx.sysctl(h.name, 'net.ipv4.tcp_tw_reuse_delay', await h.sysctl.get('net.ipv4.tcp_tw_reuse_delay'));
    return { ms: 1000, grainMs: 0 };
  }
  ctx.note(h.name, 'net.ipv4.tcp_tw_reuse_delay does not exist on this kernel: reuse waits for the next tick of the 1 Hz clock (0-1 s)');
  return { ms: 0, grainMs: 1000 };
}

// Linux 6.14 (commits 19ce8cd30465 "tcp: Measure TIME-WAIT reuse delay with millisecond precision" and
// ca6a6f93867a "tcp: Add sysctl to configure TIME-WAIT reuse delay") made the delay tcp_tw_reuse_delay ms
// after the TIME-WAIT's last timestamp; before, tcp_twsk_unique() let a TIME-WAIT go once the 1 Hz
// ktime_get_seconds() clock was past tw_ts_recent_stamp: anywhere from 0 to 1 s.
const DELAY_SYSCTL = 'tcp_twsk_unique(): with tcp_tw_reuse, reuse once net.ipv4.tcp_tw_reuse_delay (1000 ms) has passed since the last timestamp (Linux >= 6.14, commits 19ce8cd30465, ca6a6f93867a)';
const DELAY_TICK = 'tcp_twsk_unique(): with tcp_tw_reuse, reuse once time_after32(ktime_get_seconds(), tw_ts_recent_stamp): the next tick of a 1 Hz clock after the last timestamp, 0-1 s (Linux < 6.14)';

function delayRule(d: { ms: number; grainMs: number }) {
  return { minMs: d.ms, maxMs: d.ms + d.grainMs, because: d.grainMs ? DELAY_TICK : DELAY_SYSCTL };
}

const boundReuse0: LabCase = {
  id: 'bound-reuse0',
  title: 'a port the client binds itself (SO_REUSEADDR) takes over its TIME-WAIT at once, even with tcp_tw_reuse=0',
  async run(ctx) {
    const { p, c } = await setup(ctx, { mode: 'bound', reuse: 0, timestamps: 1 });
    await ctx.step('client binds the port again without SO_REUSEADDR');
    const r = await c.cli.try('connect', connectArgs(c, false));
    ctx.note('client', `bind() without SO_REUSEADDR -> ${r.ok ? 'ok' : `${r.code} (${r.syscall ?? ''})`}`);
    const tw = await socketOf(p.a, { addr: c.cAddr, port: c.port }, { addr: c.sAddr, port: SERVER_PORT });
    ctx.check({
      id: 'bind-without-reuseaddr',
      stack: p.stackOf(p.a),
      title: 'bind() to the port without SO_REUSEADDR while it is in TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'EADDRINUSE', because: 'inet_csk_bind_conflict(): a TIME-WAIT keeps its bind bucket; only SO_REUSEADDR on both sockets passes' }] },
      observed: r.ok ? 'ok' : r.code,
      sockets: tw ? [sockLine(tw)] : [],
    });
    await expectReused(ctx, p, c, {
      minMs: 0,
      maxMs: 0,
      immediate: true,
      because: 'tcp_twsk_unique(): when the application bound the port itself (no twp), a TIME-WAIT with a timestamp is taken over at once; tcp_tw_reuse is only consulted for ephemeral ports',
    }, RETRY_FOR_MS);
  },
};

const boundNoTs: LabCase = {
  id: 'bound-nots',
  title: '...but not without timestamps: a bound port stays blocked while TIME-WAIT lives',
  async run(ctx) {
    const { p, c } = await setup(ctx, { mode: 'bound', reuse: 0, timestamps: 0 });
    await expectRefused(ctx, p, c, 'reconnect from the bound port (timestamps off)', 'tcp_twsk_unique(): without a timestamp (tw_ts_recent_stamp 0) a TIME-WAIT is never taken over');
  },
};

const reuse0: LabCase = {
  id: 'reuse0',
  title: 'tcp_tw_reuse=0: an ephemeral port stays blocked while TIME-WAIT lives',
  async run(ctx) {
    const { p, c } = await setup(ctx, { mode: 'ephemeral', reuse: 0, timestamps: 1 });
    await expectRefused(ctx, p, c, 'reconnect with the only ephemeral port in TIME-WAIT (tcp_tw_reuse=0)', '__inet_hash_connect(): the only port in range is in TIME-WAIT and tcp_twsk_unique() may not take it over');
  },
};

const reuse1: LabCase = {
  id: 'reuse1',
  title: 'tcp_tw_reuse=1 with timestamps: the port is reused once the reuse delay has passed',
  async run(ctx) {
    const { p, c, delayMs } = await setup(ctx, { mode: 'ephemeral', reuse: 1, timestamps: 1 });
    await expectReused(ctx, p, c, delayRule(delayMs), delayMs.ms + delayMs.grainMs + RETRY_FOR_MS);
  },
};

const reuse1NoTs: LabCase = {
  id: 'reuse1-nots',
  title: 'tcp_tw_reuse=1 without timestamps: no reuse at all',
  async run(ctx) {
    const { p, c } = await setup(ctx, { mode: 'ephemeral', reuse: 1, timestamps: 0 });
    const syn = packets(p.wire, c.point, (x) => isFrom(c.cAddr, c.port)(x) && x.segment.flags === 'S')[0];
    ctx.check({
      id: 'no-timestamps',
      stack: p.stackOf(p.a),
      title: "the client's SYN carried no timestamp option",
      expect: { linux: [{ versions: '*', expect: false, because: 'net.ipv4.tcp_timestamps=0 on the client' }] },
      observed: syn ? syn.segment.options.some((o) => o.kind === 'ts') : null,
      packets: syn ? [syn] : [],
    });
    await expectRefused(ctx, p, c, 'reconnect (tcp_tw_reuse=1, timestamps off)', 'tcp_twsk_unique(): reuse needs a timestamp from the peer (tw_ts_recent_stamp)');
  },
};

const reuse2: LabCase = {
  id: 'reuse2',
  title: 'tcp_tw_reuse=2 (the default): reuse for loopback traffic only',
  async run(ctx) {
    const { p, c, delayMs } = await setup(ctx, { mode: 'ephemeral', reuse: 2, timestamps: 1 });
    await expectRefused(ctx, p, c, 'reconnect over the veth (tcp_tw_reuse=2)', 'tcp_twsk_unique(): reuse=2 counts only when the TIME-WAIT is bound to lo or uses a loopback address');

    await ctx.step('the same experiment over loopback inside the client host (127.0.0.1)');
    // A guest's loopback cannot be captured from here: there the socket table and TWRecycled are the evidence.
    const loPoint = `${p.a.name}:lo`;
    const lo = p.a.netns === undefined ? undefined : ctx.use(await Wire.open({ netns: p.a.netns, ifname: 'lo', filter: { port: SERVER_PORT } }));
    if (lo) ctx.addCapture(wireSource(lo, loPoint));
    else ctx.note(p.a.name, 'loopback traffic inside the target is not captured (no interface of ours sees it)');
    const peer = await p.a.peer();
    const lsock = (await peer.call('listen', { addr: '127.0.0.1', port: SERVER_PORT, reuseAddr: true })).sock;
    const lc: Conn = { mode: 'ephemeral', port: c.port, cli: peer, srv: peer, lsock, cAddr: '127.0.0.1', sAddr: '127.0.0.1', point: loPoint };
    await connectCloseFirst(ctx, lc);
    const tw = await waitState(p.a, { addr: '127.0.0.1', port: c.port }, { addr: '127.0.0.1', port: SERVER_PORT }, 'TIME-WAIT');
    const { result: r, moved } = await counting(p.a, () => reconnect(ctx, lc, delayMs.ms + delayMs.grainMs + RETRY_FOR_MS));
    ctx.check({
      id: 'loopback-reconnect',
      stack: p.stackOf(p.a),
      title: 'over loopback the same reconnect succeeds once the reuse delay has passed',
      expect: { linux: [{ versions: '*', expect: 'connected', because: delayRule(delayMs).because }] },
      observed: summary(r.attempts),
      sockets: tw ? [sockLine(tw)] : [],
      counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
      packets: lo ? packets(lo, loPoint, (x) => x.segment.flags === 'S') : [],
      explain: `succeeded after ${r.attempts.at(-1)?.tMs ?? 0} ms`,
    });
  },
};

const lastAck: LabCase = {
  id: 'lastack',
  title: "the client's last ACK is lost: the server is still in LAST-ACK when the client reuses the 4-tuple",
  async run(ctx) {
    let fromServer!: (r: PacketRecord) => boolean;
    let srvBefore!: Counters;
    const { p, c, delayMs } = await setup(ctx, { mode: 'ephemeral', reuse: 1, timestamps: 1 }, {
      beforeClientClose: async (p, c) => {
        fromServer = isFrom(c.sAddr, SERVER_PORT);
        srvBefore = await p.b.counters();
        const synAck = packets(p.wire, c.point, (x) => fromServer(x) && x.segment.flags === 'S.')[0];
        if (!synAck) throw new Error('no SYN-ACK from the server was captured');
        // The server sends no data: its FIN has seq ISN+1, so the ACK of that FIN acks ISN+2.
        const ackOfFin = seqAdd(synAck.segment.seq, 2);
        ctx.use(await p.impair(p.a, { dir: 'out', match: { tcpFlags: 'ack-only', sport: c.port, dport: SERVER_PORT, ackSeq: ackOfFin } }));
        ctx.note('client', `nftables drops the client's pure ACKs of the server's FIN (ack ${ackOfFin})`);
      },
    });
    const fromClient = isFrom(c.cAddr, c.port);
    const la = await waitState(p.b, { addr: c.sAddr, port: SERVER_PORT }, { addr: c.cAddr, port: c.port }, 'LAST-ACK');
    const tw = await socketOf(p.a, { addr: c.cAddr, port: c.port }, { addr: c.sAddr, port: SERVER_PORT });
    ctx.check({
      id: 'server-last-ack',
      title: 'the server is stuck in LAST-ACK while the client sits in TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'LAST-ACK/TIME-WAIT', because: "the server's FIN is never acknowledged" }] },
      observed: `${la?.state ?? 'gone'}/${tw?.state ?? 'gone'}`,
      sockets: [la ? `server ${sockLine(la)}` : 'server: (none)', tw ? `client ${sockLine(tw)}` : 'client: (none)'],
    });

    await ctx.step('client reconnects (tcp_tw_reuse=1) as soon as the kernel lets it');
    const { result: r, moved } = await counting(p.a, () => reconnect(ctx, c, delayMs.ms + delayMs.grainMs + RETRY_FOR_MS));
    await ctx.sleep(100);
    const srvMoved = changed(delta(srvBefore, await p.b.counters()));

    const all = packets(p.wire, c.point);
    const serverFins = all.filter((x) => fromServer(x) && x.segment.flags.includes('F'));
    const syns = all.filter((x) => fromClient(x) && x.segment.flags === 'S');
    const newSyn = syns[1];
    ctx.check({
      id: 'fin-retransmitted',
      stack: p.stackOf(p.b),
      title: 'the server retransmits its FIN while in LAST-ACK',
      expect: {
        linux: [
          { versions: '>=6.14', expect: { atLeast: 2 }, because: 'the FIN is retransmitted on RTO (tcp_retransmit_timer, first after >= TCP_RTO_MIN 200 ms) until acknowledged, and the reuse waits tcp_tw_reuse_delay (1000 ms): at least one retransmission comes first' },
          { versions: '<6.14', expect: { atLeast: 1 }, because: 'the FIN is retransmitted on RTO (tcp_retransmit_timer, first after >= TCP_RTO_MIN 200 ms), but the reuse only waits for the next second of the 1 Hz clock (tcp_twsk_unique: ts_recent_stamp < now in s), 0-1 s after the TIME-WAIT began: the new SYN can come before the first retransmission' },
        ],
      },
      observed: serverFins.filter((f) => !newSyn || f.tsNs < newSyn.tsNs).length,
      packets: serverFins,
    });
    if (!newSyn) {
      ctx.check({ id: 'reconnect', title: 'the reconnect sends a SYN', expect: { linux: [{ versions: '*', expect: 'connected' }] }, observed: summary(r.attempts), sockets: tw ? [sockLine(tw)] : [], counters: tcpOnly(moved) });
      return;
    }
    const reply = all.find((x) => fromServer(x) && x.tsNs > newSyn.tsNs);
    const rst = all.find((x) => fromClient(x) && x.tsNs > newSyn.tsNs && x.segment.flags.includes('R'));
    const resent = syns.find((x) => x.tsNs > newSyn.tsNs && x.segment.seq === newSyn.segment.seq);
    const synAck = all.find((x) => fromServer(x) && x.segment.flags === 'S.' && x.tsNs > newSyn.tsNs);
    ctx.check({
      id: 'reply-to-syn',
      stack: p.stackOf(p.b),
      title: 'the server in LAST-ACK answers the new SYN with an ACK of the old connection (challenge ACK)',
      expect: { linux: [{ versions: '*', expect: '.', because: 'tcp_validate_incoming(): a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4)' }] },
      observed: reply?.segment.flags ?? 'nothing',
      packets: reply ? [newSyn, reply] : [newSyn],
      explain: reply ? `ack ${reply.segment.ack} acknowledges the old connection (the client's FIN), not the new SYN ${newSyn.segment.seq}` : undefined,
    });
    ctx.check({
      id: 'client-rst',
      stack: p.stackOf(p.a),
      title: 'the client in SYN-SENT answers that ACK with an RST whose seq is the ACK number',
      expect: { linux: [{ versions: '*', expect: true, because: 'tcp_rcv_synsent_state_process(): an unacceptable ACK in SYN-SENT gets a reset (RFC 9293 §3.10.7.3)' }] },
      observed: !!(rst && reply && rst.segment.seq === reply.segment.ack),
      packets: [reply, rst].filter((x): x is PacketRecord => !!x),
    });
    if (rst && resent) {
      ctx.check({
        id: 'syn-retransmit-gap',
        stack: p.stackOf(p.a),
        title: 'how soon the SYN is sent again after the RST',
        expect: {
          linux: [
            { versions: '>=5.6', expect: { between: [0, 100] }, because: 'tcp_rcv_synsent_state_process() re-arms the SYN timer to TCP_TIMEOUT_MIN after resetting an unacceptable ACK (Linux 5.6: "Reduce SYN resend delay if a suspicous ACK is received")' },
            { versions: '<5.6', expect: { between: [900, 1400] }, because: 'the SYN waits for the initial RTO of 1 s (TCP_TIMEOUT_INIT), as the 2014 article describes' },
          ],
        },
        observed: Math.round(Number(resent.tsNs - rst.tsNs) / 1e6),
        packets: [rst, resent],
      });
    }
    ctx.check({
      id: 'established',
      stack: p.stackOf(p.b),
      title: 'the retransmitted SYN opens the new connection (SYN-ACK)',
      expect: { linux: [{ versions: '*', expect: true, because: 'the RST closed the LAST-ACK socket, so the SYN reaches the listener' }] },
      observed: !!synAck,
      packets: synAck ? [synAck] : [],
      explain: synAck ? `connection established ${Math.round(Number(synAck.tsNs - newSyn.tsNs) / 1e6)} ms after the first SYN of the new connection` : undefined,
    });
    ctx.check({
      id: 'server-challenge-counted',
      stack: p.stackOf(p.b),
      title: 'the server counted the challenge ACK (TcpExt.TCPSYNChallenge)',
      expect: { linux: [{ versions: '*', expect: { atLeast: 1 }, because: 'tcp_validate_incoming() counts LINUX_MIB_TCPSYNCHALLENGE and TCPChallengeACK' }] },
      observed: srvMoved['TcpExt.TCPSYNChallenge'] ?? 0,
      counters: tcpOnly(srvMoved),
    });
    ctx.check({
      id: 'tw-recycled',
      stack: p.stackOf(p.a),
      title: "the client's TIME-WAIT was recycled (TcpExt.TWRecycled)",
      expect: { linux: [{ versions: '*', expect: 1 }] },
      observed: moved['TcpExt.TWRecycled'] ?? 0,
      counters: tcpOnly(moved),
    });
  },
};

export const reuseLab: Lab = {
  id: 'reuse',
  title: 'tcp_tw_reuse, and a peer stuck in LAST-ACK',
  summary:
    'Can a client reconnect from a local port whose previous connection is still in TIME-WAIT? With a port the ' +
    'application binds itself and with kernel-chosen (ephemeral) ports, with tcp_tw_reuse 0, 1 and 2, with and ' +
    'without timestamps, and when the server never got the last ACK and is still in LAST-ACK.',
  rfcs: ['RFC 9293 §3.6 (closing, TIME-WAIT)', 'RFC 7323 §5 (PAWS)', 'RFC 5961 §4 (challenge ACK)', 'Linux tcp_twsk_unique()'],
  sources: ['V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  roles: { all: ['client', 'server'], subject: 'client', choices: ['client', 'server'] },
  remote: 'link',
  cases: [reuse0, reuse1, reuse1NoTs, reuse2, boundReuse0, boundNoTs, lastAck],
};
