// lab:reuse: what net.ipv4.tcp_tw_reuse really does, and what happens when the peer is still in
// LAST-ACK because the client's last ACK was lost. Real kernel sockets on both sides.
import type { Lab, CaseContext } from '../src/lab/types.js';
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { PeerClient } from '../src/peer/client.js';
import type { NetnsHost } from '../src/testbed/host.js';
import { Wire } from '../src/wire/wire.js';
import { changed, delta } from '../src/testbed/counters.js';
import { seqAdd, seqDiff } from '../src/wire/seq.js';
import { counting, pair, packets, sockLine, socketOf, wireSource, type Pair } from './common.js';

const SERVER_PORT = 8080;
const CLIENT_PORT = 40000;
/** How long a lab keeps retrying a reconnect that the kernel refuses. */
const RETRY_FOR_MS = 2500;
const RETRY_EVERY_MS = 50;

interface Conn {
  cli: PeerClient;
  srv: PeerClient;
  lsock: number;
  cAddr: string;
  sAddr: string;
  point: string;
}

/** Server listens; both peers are real kernel sockets driven over stdio. */
async function peers(p: Pair, ctx: CaseContext): Promise<Conn> {
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: SERVER_PORT, reuseAddr: true });
  ctx.step(`server listens on ${p.bAddr}:${SERVER_PORT}`);
  return { cli, srv, lsock: l.sock, cAddr: p.aAddr, sAddr: p.bAddr, point: `${p.b.name}:${p.b.iface(p.a.name).ifname}` };
}

/** Client connects from a fixed port (SO_REUSEADDR), then closes first; the server closes after EOF. */
async function connectCloseFirst(ctx: CaseContext, c: Conn, opts: { beforeClientClose?: () => Promise<void> } = {}) {
  const con = await c.cli.call('connect', { addr: c.sAddr, port: SERVER_PORT, localAddr: c.cAddr, localPort: CLIENT_PORT, reuseAddr: true, timeoutMs: 2000 });
  const acc = await c.srv.call('accept', { sock: c.lsock, timeoutMs: 2000 });
  ctx.note('client', `connect() from ${c.cAddr}:${CLIENT_PORT} (SO_REUSEADDR) -> established`);
  await opts.beforeClientClose?.();
  await c.cli.call('close', { sock: con.sock });
  ctx.note('client', 'close(): the client closes first');
  const r = await c.srv.call('recv', { sock: acc.sock, timeoutMs: 2000 });
  if (!r.eof) throw new Error('server: expected EOF after the client closed');
  await c.srv.call('close', { sock: acc.sock });
  ctx.note('server', 'recv() = EOF, close()');
}

/** Waits until a host shows the socket of the 4-tuple in `state`; returns its ss line. */
async function waitState(host: NetnsHost, local: { addr: string; port: number }, peer: { addr: string; port: number }, state: string, ms = 2000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await socketOf(host, local, peer);
    if (s?.state === state || Date.now() > end) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Attempt {
  tMs: number;
  code: string;
}

/**
 * Reconnects from the same local port every RETRY_EVERY_MS until one succeeds or `forMs` passes.
 * Returns every attempt's outcome ('ok' or the errno name).
 */
async function reconnect(ctx: CaseContext, c: Conn, forMs: number, reuseAddr = true): Promise<{ attempts: Attempt[]; sock?: number }> {
  const t0 = Date.now();
  const attempts: Attempt[] = [];
  for (;;) {
    const r = await c.cli.try('connect', { addr: c.sAddr, port: SERVER_PORT, localAddr: c.cAddr, localPort: CLIENT_PORT, reuseAddr, timeoutMs: 3000 });
    const tMs = Date.now() - t0;
    attempts.push({ tMs, code: r.ok ? 'ok' : r.code });
    if (r.ok) {
      ctx.note('client', `connect() from port ${CLIENT_PORT} succeeded after ${attempts.length} attempt(s), ${tMs} ms`);
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
  const tw = await waitState(p.a, { addr: c.cAddr, port: CLIENT_PORT }, { addr: c.sAddr, port: SERVER_PORT }, 'TIME-WAIT');
  ctx.check({
    id: 'client-time-wait',
    title: 'the client, which closed first, holds the 4-tuple in TIME-WAIT',
    expect: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'the active closer enters TIME-WAIT (RFC 9293 §3.3.2); tcp_time_wait()' }], freebsd: [{ versions: '*', expect: 'TIME-WAIT' }] },
    observed: tw?.state ?? 'gone',
    sockets: tw ? [sockLine(tw)] : ['(no socket for the 4-tuple)'],
    packets: packets(p.wire, c.point, (r) => r.segment.flags.includes('F')),
    explain: tw?.timer ? `TIME-WAIT timer: ${(tw.timer.remainingMs / 1000).toFixed(0)} s left` : undefined,
  });
  return tw;
}

const NEVER: Expectation = {
  linux: [{ versions: '*', expect: 'EADDRNOTAVAIL', because: 'tcp_twsk_unique() refuses the 4-tuple, so __inet_check_established() fails the connect()' }],
};

async function refusedCase(ctx: CaseContext, reuse: number, timestamps: number, why: string) {
  const p = await pair(ctx, ['client', 'server'], {
    client: { 'net.ipv4.tcp_tw_reuse': reuse, 'net.ipv4.tcp_timestamps': timestamps },
    server: { 'net.ipv4.tcp_timestamps': 1 },
  }, { port: SERVER_PORT });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const c = await peers(p, ctx);
  ctx.step(`client connects from port ${CLIENT_PORT} and closes first`);
  await connectCloseFirst(ctx, c);
  await checkClientTimeWait(ctx, p, c);

  ctx.step(`client reconnects from port ${CLIENT_PORT} for ${RETRY_FOR_MS / 1000} s (${why})`);
  const { result: r, moved } = await counting(p.a, () => reconnect(ctx, c, RETRY_FOR_MS));
  const tw = await socketOf(p.a, { addr: c.cAddr, port: CLIENT_PORT }, { addr: c.sAddr, port: SERVER_PORT });
  const synsAfter = packets(p.wire, c.point, (x) => isFrom(c.cAddr, CLIENT_PORT)(x) && x.segment.flags === 'S').slice(1);
  ctx.check({
    id: 'reconnect',
    title: `reconnect from the same port while TIME-WAIT lives (tcp_tw_reuse=${reuse}, timestamps ${timestamps ? 'on' : 'off'})`,
    expect: NEVER,
    observed: summary(r.attempts),
    sockets: tw ? [sockLine(tw)] : [],
    counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
    packets: synsAfter,
    explain: `${r.attempts.length} attempts over ${r.attempts.at(-1)?.tMs ?? 0} ms; no SYN left the client: the refusal is local`,
  });
  return { p, c };
}

const reuse0: Lab['cases'][number] = {
  id: 'reuse0',
  title: 'tcp_tw_reuse=0: the 4-tuple stays blocked while TIME-WAIT lives',
  async run(ctx) {
    const { p, c } = await refusedCase(ctx, 0, 1, 'reuse disabled');
    ctx.step('client binds the port again without SO_REUSEADDR');
    const r = await c.cli.try('connect', { addr: c.sAddr, port: SERVER_PORT, localAddr: c.cAddr, localPort: CLIENT_PORT, reuseAddr: false, timeoutMs: 1000 });
    ctx.note('client', `bind() without SO_REUSEADDR -> ${r.ok ? 'ok' : `${r.code} (${r.syscall ?? ''})`}`);
    const tw = await socketOf(p.a, { addr: c.cAddr, port: CLIENT_PORT }, { addr: c.sAddr, port: SERVER_PORT });
    ctx.check({
      id: 'bind-without-reuseaddr',
      title: 'bind() to the port without SO_REUSEADDR while it is in TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'EADDRINUSE', because: 'inet_csk_bind_conflict(): a TIME-WAIT socket keeps its bind bucket; only SO_REUSEADDR on both sides passes' }] },
      observed: r.ok ? 'ok' : r.code,
      sockets: tw ? [sockLine(tw)] : [],
    });
  },
};

const reuse1: Lab['cases'][number] = {
  id: 'reuse1',
  title: 'tcp_tw_reuse=1 with timestamps: the port is reused once the reuse delay has passed',
  async run(ctx) {
    const p = await pair(ctx, ['client', 'server'], {
      client: { 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.tcp_timestamps': 1 },
      server: { 'net.ipv4.tcp_timestamps': 1 },
    }, { port: SERVER_PORT });
    ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
    const delayMs = await reuseDelay(p.a, ctx);
    const c = await peers(p, ctx);
    ctx.step(`client connects from port ${CLIENT_PORT} and closes first`);
    await connectCloseFirst(ctx, c);
    await checkClientTimeWait(ctx, p, c);
    ctx.step(`client reconnects from port ${CLIENT_PORT} every ${RETRY_EVERY_MS} ms until the kernel lets it`);
    const { result: r, moved } = await counting(p.a, () => reconnect(ctx, c, delayMs + RETRY_FOR_MS));
    const fromClient = isFrom(c.cAddr, CLIENT_PORT);
    const serverFin = packets(p.wire, c.point, (x) => isFrom(c.sAddr, SERVER_PORT)(x) && x.segment.flags.includes('F'))[0];
    const clientFin = packets(p.wire, c.point, (x) => fromClient(x) && x.segment.flags.includes('F'))[0];
    const syns = packets(p.wire, c.point, (x) => fromClient(x) && x.segment.flags === 'S');
    const newSyn = syns[1];
    ctx.check({
      id: 'reconnect',
      title: 'reconnect from the same port succeeds',
      expect: { linux: [{ versions: '*', expect: 'connected', because: 'tcp_twsk_unique(): with tcp_tw_reuse=1 and a timestamp from the peer, the TIME-WAIT 4-tuple may be reused' }] },
      observed: summary(r.attempts),
      packets: newSyn ? [newSyn] : [],
      counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
      explain: `attempts: ${r.attempts.map((a) => `${a.tMs}ms ${a.code}`).slice(-3).join(', ')}${r.attempts.length > 3 ? ` (${r.attempts.length} in all)` : ''}`,
    });
    ctx.check({
      id: 'tw-recycled',
      title: 'TcpExt.TWRecycled counts the reuse',
      expect: { linux: [{ versions: '*', expect: 1, because: '__inet_check_established() increments LINUX_MIB_TIMEWAITRECYCLED when it takes over a TIME-WAIT' }] },
      observed: moved['TcpExt.TWRecycled'] ?? 0,
      counters: moved,
    });
    if (serverFin && newSyn) {
      const waited = Number(newSyn.tsNs - serverFin.tsNs) / 1e6;
      const grain = delayMs % 1000 === 0 && !(await hasReuseDelaySysctl(p.a)) ? 1000 : 0;
      ctx.check({
        id: 'reuse-delay',
        title: 'the reuse comes once the delay since the last timestamp from the server has passed',
        expect: {
          linux: [{
            versions: '*',
            expect: { between: [delayMs, delayMs + grain + RETRY_EVERY_MS + 100] },
            because: grain ? 'tcp_twsk_unique(): reuse when ktime_get_seconds() > tw_ts_recent_stamp + 1 (1 s granularity)' : `tcp_twsk_unique(): reuse once net.ipv4.tcp_tw_reuse_delay (${delayMs} ms) has passed since tw_ts_recent_stamp`,
          }],
        },
        observed: Math.round(waited),
        packets: [serverFin, newSyn],
        explain: `the server's FIN (the last segment with a timestamp) came ${Math.round(waited)} ms before the reusing SYN; polling every ${RETRY_EVERY_MS} ms`,
      });
    }
    if (clientFin && newSyn) {
      const oldSndNxt = seqAdd(clientFin.segment.seq, 1);
      ctx.check({
        id: 'reuse-isn',
        title: "the reusing SYN's ISN is the old connection's snd_nxt + 65537",
        expect: { linux: [{ versions: '*', expect: 65537, because: 'tcp_twsk_unique(): write_seq = tw_snd_nxt + 65535 + 2, so the new sequence space starts above the old one' }] },
        observed: seqDiff(newSyn.segment.seq, oldSndNxt),
        packets: [clientFin, newSyn],
      });
    }
  },
};

async function hasReuseDelaySysctl(h: NetnsHost): Promise<boolean> {
  try {
    await h.sysctl.get('net.ipv4.tcp_tw_reuse_delay');
    return true;
  } catch {
    return false;
  }
}

/** The kernel's reuse delay: net.ipv4.tcp_tw_reuse_delay (ms) where it exists, else the classic 1 s. */
async function reuseDelay(h: NetnsHost, ctx: CaseContext): Promise<number> {
  if (await hasReuseDelaySysctl(h)) {
    await h.sysctl.set('net.ipv4.tcp_tw_reuse_delay', 1000);
    ctx.sysctl(h.name, 'net.ipv4.tcp_tw_reuse_delay', await h.sysctl.get('net.ipv4.tcp_tw_reuse_delay'));
    return 1000;
  }
  ctx.note(h.name, 'net.ipv4.tcp_tw_reuse_delay does not exist on this kernel: the delay is 1 s (in whole seconds)');
  return 1000;
}

const reuse1NoTs: Lab['cases'][number] = {
  id: 'reuse1-nots',
  title: 'tcp_tw_reuse=1 without timestamps: no reuse at all',
  async run(ctx) {
    const { p, c } = await refusedCase(ctx, 1, 0, 'reuse on, but no timestamps were negotiated');
    const syn = packets(p.wire, c.point, (x) => isFrom(c.cAddr, CLIENT_PORT)(x) && x.segment.flags === 'S')[0];
    ctx.check({
      id: 'no-timestamps',
      title: "the client's SYN carried no timestamp option",
      expect: { linux: [{ versions: '*', expect: false, because: 'net.ipv4.tcp_timestamps=0 on the client' }] },
      observed: syn ? syn.segment.options.some((o) => o.kind === 'ts') : null,
      packets: syn ? [syn] : [],
    });
  },
};

const reuse2: Lab['cases'][number] = {
  id: 'reuse2',
  title: 'tcp_tw_reuse=2 (the default since 5.x): reuse for loopback traffic only',
  async run(ctx) {
    const { p } = await refusedCase(ctx, 2, 1, 'reuse=2 over a veth, not loopback');
    ctx.step('the same experiment over loopback inside the client host (127.0.0.1)');
    const lo = ctx.use(await Wire.open({ netns: p.a.netns, ifname: 'lo', filter: { port: SERVER_PORT + 1 } }));
    ctx.addCapture(wireSource(lo, `${p.a.name}:lo`));
    const peer = await p.a.peer();
    const c: Conn = { cli: peer, srv: peer, lsock: (await peer.call('listen', { addr: '127.0.0.1', port: SERVER_PORT + 1, reuseAddr: true })).sock, cAddr: '127.0.0.1', sAddr: '127.0.0.1', point: `${p.a.name}:lo` };
    const con = await peer.call('connect', { addr: '127.0.0.1', port: SERVER_PORT + 1, localAddr: '127.0.0.1', localPort: CLIENT_PORT, reuseAddr: true, timeoutMs: 2000 });
    const acc = await peer.call('accept', { sock: c.lsock, timeoutMs: 2000 });
    await peer.call('close', { sock: con.sock });
    await peer.call('recv', { sock: acc.sock, timeoutMs: 2000 });
    await peer.call('close', { sock: acc.sock });
    ctx.note('client', `127.0.0.1:${CLIENT_PORT} -> 127.0.0.1:${SERVER_PORT + 1} connected and closed first`);
    const before = await waitState(p.a, { addr: '127.0.0.1', port: CLIENT_PORT }, { addr: '127.0.0.1', port: SERVER_PORT + 1 }, 'TIME-WAIT');
    const { result: r, moved } = await counting(p.a, async () => {
      const t0 = Date.now();
      for (;;) {
        const x = await peer.try('connect', { addr: '127.0.0.1', port: SERVER_PORT + 1, localAddr: '127.0.0.1', localPort: CLIENT_PORT, reuseAddr: true, timeoutMs: 2000 });
        if (x.ok || Date.now() - t0 > 1000 + RETRY_FOR_MS) return { ok: x.ok, code: x.ok ? 'connected' : x.code, ms: Date.now() - t0 };
        await new Promise((res) => setTimeout(res, RETRY_EVERY_MS));
      }
    });
    ctx.note('client', `loopback reconnect: ${r.code} after ${r.ms} ms`);
    ctx.check({
      id: 'loopback-reconnect',
      title: 'over loopback the same reconnect succeeds (reuse=2 means loopback only)',
      expect: { linux: [{ versions: '*', expect: 'connected', because: 'tcp_twsk_unique(): reuse=2 applies when the TIME-WAIT is bound to lo or uses a loopback address' }] },
      observed: r.code,
      sockets: before ? [sockLine(before)] : [],
      counters: { 'TcpExt.TWRecycled': moved['TcpExt.TWRecycled'] ?? 0 },
      packets: packets(lo, `${p.a.name}:lo`, (x) => x.segment.flags === 'S'),
    });
  },
};

const lastAck: Lab['cases'][number] = {
  id: 'lastack',
  title: "the client's last ACK is lost: the server is in LAST-ACK when the client reuses the 4-tuple",
  async run(ctx) {
    const p = await pair(ctx, ['client', 'server'], {
      client: { 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.tcp_timestamps': 1 },
      server: { 'net.ipv4.tcp_timestamps': 1 },
    }, { port: SERVER_PORT });
    ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
    await reuseDelay(p.a, ctx);
    const c = await peers(p, ctx);
    const fromServer = isFrom(c.sAddr, SERVER_PORT);
    const fromClient = isFrom(c.cAddr, CLIENT_PORT);
    ctx.step("client connects; an nftables rule on the client drops its pure ACKs of the server's FIN");
    const srvBefore = await p.b.counters();
    await connectCloseFirst(ctx, c, {
      beforeClientClose: async () => {
        const synAck = packets(p.wire, c.point, (x) => fromServer(x) && x.segment.flags === 'S.')[0];
        if (!synAck) throw new Error("no SYN-ACK from the server was captured");
        // The server sends no data: its FIN has seq ISN+1, so the ACK of that FIN acks ISN+2.
        const ackOfFin = seqAdd(synAck.segment.seq, 2);
        ctx.use(await p.a.impair({ dir: 'out', match: { tcpFlags: 'ack-only', sport: CLIENT_PORT, dport: SERVER_PORT, ackSeq: ackOfFin } }));
        ctx.note('client', `impairment: drop pure ACKs from port ${CLIENT_PORT} acking ${ackOfFin} (the server's FIN)`);
      },
    });
    const la = await waitState(p.b, { addr: c.sAddr, port: SERVER_PORT }, { addr: c.cAddr, port: CLIENT_PORT }, 'LAST-ACK');
    const tw = await waitState(p.a, { addr: c.cAddr, port: CLIENT_PORT }, { addr: c.sAddr, port: SERVER_PORT }, 'TIME-WAIT');
    ctx.check({
      id: 'server-last-ack',
      title: 'the server is stuck in LAST-ACK while the client sits in TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'LAST-ACK/TIME-WAIT', because: "the server's FIN is never acknowledged" }] },
      observed: `${la?.state ?? 'gone'}/${tw?.state ?? 'gone'}`,
      sockets: [la ? `server ${sockLine(la)}` : 'server: (none)', tw ? `client ${sockLine(tw)}` : 'client: (none)'],
    });

    ctx.step('client reconnects from the same port (tcp_tw_reuse=1) as soon as the kernel lets it');
    const { result: r, moved } = await counting(p.a, () => reconnect(ctx, c, 1000 + RETRY_FOR_MS));
    await new Promise((res) => setTimeout(res, 100));
    const srvAfter = await p.b.counters();
    const srvMoved = changed(delta(srvBefore, srvAfter));

    const all = packets(p.wire, c.point);
    const serverFins = all.filter((x) => fromServer(x) && x.segment.flags.includes('F'));
    const syns = all.filter((x) => fromClient(x) && x.segment.flags === 'S');
    const newSyn = syns[1];
    ctx.check({
      id: 'fin-retransmitted',
      title: 'the server retransmits its FIN while in LAST-ACK',
      expect: { linux: [{ versions: '*', expect: { atLeast: 2 }, because: 'the FIN is retransmitted on RTO (tcp_retransmit_timer) until acknowledged' }] },
      observed: serverFins.filter((f) => !newSyn || f.tsNs < newSyn.tsNs).length,
      packets: serverFins,
    });
    if (!newSyn) {
      ctx.check({ id: 'reconnect', title: 'the reconnect sends a SYN', expect: { linux: [{ versions: '*', expect: 'SYN sent' }] }, observed: summary(r.attempts), sockets: [], counters: moved });
      return;
    }
    const reply = all.find((x) => fromServer(x) && x.tsNs > newSyn.tsNs);
    const rst = all.find((x) => fromClient(x) && x.tsNs > newSyn.tsNs && x.segment.flags.includes('R'));
    const resent = syns.find((x) => x.tsNs > newSyn.tsNs && x.segment.seq === newSyn.segment.seq);
    const synAck = all.find((x) => fromServer(x) && x.segment.flags === 'S.' && x.tsNs > newSyn.tsNs);
    ctx.check({
      id: 'reply-to-syn',
      title: "the server in LAST-ACK answers the new SYN with an ACK of the old connection (challenge ACK)",
      expect: {
        linux: [{ versions: '*', expect: '.', because: 'tcp_validate_incoming(): a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4)' }],
        freebsd: [{ versions: '*', expect: '.' }],
      },
      observed: reply?.segment.flags ?? 'nothing',
      packets: reply ? [newSyn, reply] : [newSyn],
      explain: reply ? `ack ${reply.segment.ack} acknowledges the old connection (the client's FIN), not the new SYN ${newSyn.segment.seq}` : undefined,
    });
    ctx.check({
      id: 'client-rst',
      title: 'the client in SYN-SENT answers that ACK with an RST whose seq is the ACK number',
      expect: { linux: [{ versions: '*', expect: true, because: 'tcp_rcv_synsent_state_process(): an unacceptable ACK in SYN-SENT gets a reset (RFC 9293 §3.10.7.3)' }] },
      observed: !!(rst && reply && rst.segment.seq === reply.segment.ack),
      packets: [reply, rst].filter((x): x is PacketRecord => !!x),
    });
    if (rst && resent) {
      ctx.check({
        id: 'syn-retransmit-gap',
        title: 'the SYN is sent again soon after the RST',
        expect: {
          linux: [
            { versions: '>=5.6', expect: { between: [0, 100] }, because: 'tcp_rcv_synsent_state_process() re-arms the SYN timer to TCP_TIMEOUT_MIN after resetting an unacceptable ACK (Linux 5.6, "Reduce SYN resend delay if a suspicous ACK is received")' },
            { versions: '<5.6', expect: { between: [900, 1400] }, because: 'the SYN waits for the initial RTO of 1 s (TCP_TIMEOUT_INIT), as the 2014 article describes' },
          ],
        },
        observed: Math.round(Number(resent.tsNs - rst.tsNs) / 1e6),
        packets: [rst, resent],
      });
    }
    ctx.check({
      id: 'established',
      title: 'the retransmitted SYN opens the new connection (SYN-ACK)',
      expect: { linux: [{ versions: '*', expect: true, because: 'the RST closed the LAST-ACK socket, so the SYN reaches the listener' }] },
      observed: !!synAck,
      packets: synAck ? [synAck] : [],
      explain: synAck ? `connection established ${Math.round(Number(synAck.tsNs - newSyn.tsNs) / 1e6)} ms after the first SYN` : undefined,
    });
    ctx.check({
      id: 'server-counters',
      title: 'the server counted the challenge ACK',
      expect: { linux: [{ versions: '*', expect: { atLeast: 1 }, because: 'TcpExt.TCPChallengeACK / TCPSYNChallenge count challenge ACKs sent for SYNs' }] },
      observed: srvMoved['TcpExt.TCPSYNChallenge'] ?? 0,
      counters: Object.fromEntries(Object.entries(srvMoved).filter(([k]) => k.startsWith('TcpExt.'))),
    });
    ctx.check({
      id: 'tw-recycled',
      title: "the client's TIME-WAIT was recycled (TcpExt.TWRecycled)",
      expect: { linux: [{ versions: '*', expect: 1 }] },
      observed: moved['TcpExt.TWRecycled'] ?? 0,
      counters: moved,
    });
  },
};

export const reuseLab: Lab = {
  id: 'reuse',
  title: 'tcp_tw_reuse, and a peer stuck in LAST-ACK',
  summary:
    'Can a client reuse a local port whose previous connection is still in TIME-WAIT? With tcp_tw_reuse 0, 1 ' +
    '(with and without timestamps) and 2, and when the server never got the last ACK and is still in LAST-ACK.',
  rfcs: ['RFC 9293 §3.6 (closing, TIME-WAIT)', 'RFC 7323 §5 (PAWS)', 'RFC 5961 §4 (challenge ACK)', 'Linux tcp_twsk_unique()'],
  sources: ['V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  cases: [reuse0, reuse1, reuse1NoTs, reuse2, lastAck],
};
