// lab:twlen: how long TIME-WAIT lasts on this kernel, what net.ipv4.tcp_fin_timeout governs instead, and
// what net.ipv4.tcp_max_tw_buckets does when exceeded. The length is measured by watching the socket list
// (the timewait timer counting down, then the socket gone) from the captured final ACK, with tcp_fin_timeout
// lowered to 5 s on the same host: TIME-WAIT still lasts TCP_TIMEWAIT_LEN (60 s), while an orphaned
// FIN-WAIT-2 goes after 5 s. That measurement takes a minute: the lab is marked slow.
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import { run } from '../src/testbed/exec.js';
import { eventNs, monoMs } from '../src/lab/clock.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { counting, packets, sockLine, socketOf, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { pair, type Pair } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const FIN_TIMEOUT_S = 5;
const TW_BUCKETS = 5;
const TW_MAKE = 10;
const POLL_MS = 200;

interface Env {
  p: Pair;
  cli: PeerClient;
  srv: PeerClient;
  listener: number;
  point: string;
}

type Tuple = { local: { addr: string; port: number }; remote: { addr: string; port: number } };

async function setup(ctx: CaseContext, client: Record<string, string | number>): Promise<Env> {
  const p = await pair(ctx, ['client', 'server'], { client: { 'net.ipv4.tcp_timestamps': 1, ...client }, server: { 'net.ipv4.tcp_timestamps': 1 } }, { port: SERVER_PORT });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: SERVER_PORT, reuseAddr: true });
  return { p, cli, srv, listener: l.sock, point: p.point };
}

/** A connection the client closes first. `serverCloses`: the server closes too (client -> TIME-WAIT), else it stays open (client orphaned in FIN-WAIT-2). */
async function clientClosesFirst(e: Env, serverCloses: boolean): Promise<Tuple & { ssock: number }> {
  const con = await e.cli.call('connect', { addr: e.p.bAddr, port: SERVER_PORT, timeoutMs: 2000 });
  const acc = await e.srv.call('accept', { sock: e.listener, timeoutMs: 2000 });
  const t: Tuple = { local: { addr: e.p.aAddr, port: con.localPort }, remote: { addr: e.p.bAddr, port: SERVER_PORT } };
  await e.cli.call('close', { sock: con.sock });
  await e.srv.call('recv', { sock: acc.sock, timeoutMs: 2000 });
  if (serverCloses) await e.srv.call('close', { sock: acc.sock });
  const want = serverCloses ? 'TIME-WAIT' : 'FIN-WAIT-2';
  // No socket at all is an answer too: past tcp_max_tw_buckets the socket just goes.
  await waitSocket(e.p.a, t.local, t.remote, (s) => s === undefined || s.state === want, 2000);
  return { ...t, ssock: acc.sock };
}

const ofConn = (t: Tuple) => (r: PacketRecord) =>
  (r.segment.sport === t.local.port && r.segment.src === t.local.addr) || (r.segment.dport === t.local.port && r.segment.dst === t.local.addr);

interface Watch {
  /** ss lines sampled while the socket lived (first, about every 10 s, last). */
  samples: string[];
  first?: SocketEntry;
  /** Wall clock (ns, CLOCK_REALTIME like capture stamps) when the socket was first seen missing. */
  goneNs?: bigint;
  /** Wall clock of the last look that still found it. */
  lastSeenNs?: bigint;
  /** The ss line of that last look. */
  lastLine?: string;
}

/** Polls the client's socket list until every tuple's socket is gone (or `ms` passes). */
async function watch(ctx: CaseContext, e: Env, tuples: readonly Tuple[], ms: number): Promise<Watch[]> {
  const w: Watch[] = tuples.map(() => ({ samples: [] }));
  const lastSample = tuples.map(() => -1);
  const end = monoMs() + ms;
  while (monoMs() < end && !ctx.signal.aborted && w.some((x) => x.goneNs === undefined)) {
    const all = await e.p.a.sockets();
    const t = eventNs();
    tuples.forEach((tu, i) => {
      const x = w[i]!;
      if (x.goneNs !== undefined) return;
      const s = all.find((k) => k.local.addr === tu.local.addr && k.local.port === tu.local.port && k.peer.addr === tu.remote.addr && k.peer.port === tu.remote.port);
      if (!s) {
        x.goneNs = t;
        if (x.lastLine !== undefined && x.samples.at(-1) !== x.lastLine) x.samples.push(x.lastLine);
        x.samples.push(`(+${((Number(t - (x.lastSeenNs ?? t)) / 1e6) | 0)} ms after the last look) no socket for :${tu.local.port} any more`);
        return;
      }
      x.first ??= s;
      x.lastSeenNs = t;
      x.lastLine = sockLine(s);
      const tenth = Math.floor((s.timer?.remainingMs ?? 0) / 10_000);
      if (tenth !== lastSample[i]) {
        lastSample[i] = tenth;
        x.samples.push(sockLine(s));
      }
    });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return w;
}

/** "59.0s, 49.0s, ... 0.4s; gone" from the samples. */
function timers(w: Watch): string {
  const t = w.samples.flatMap((l) => /timer:timewait,([\d.]+s)/.exec(l)?.[1] ?? []);
  return `${t.join(', ')}${w.goneNs !== undefined ? ', then gone' : ', still there'}`;
}

/** Seconds from a packet to the socket's disappearance (midpoint of the last look that saw it and the first that did not). */
function lifetimeS(from: PacketRecord | undefined, w: Watch): number | null {
  if (!from || w.goneNs === undefined || w.lastSeenNs === undefined) return null;
  const mid = (w.goneNs + w.lastSeenNs) / 2n;
  return Math.round(Number(mid - from.tsNs) / 1e7) / 100;
}

/** The packet that starts the state: the client's last ACK (TIME-WAIT) or the server's ACK of the client's FIN (FIN-WAIT-2). */
function startOf(e: Env, t: Tuple, state: 'TIME-WAIT' | 'FIN-WAIT-2'): PacketRecord | undefined {
  const conn = packets(e.p.wire, e.point, ofConn(t));
  const finC = conn.find((r) => r.segment.src === e.p.aAddr && r.segment.flags.includes('F'));
  if (state === 'FIN-WAIT-2') return finC && conn.find((r) => r.segment.src === e.p.bAddr && r.tsNs >= finC.tsNs && r.segment.flags.includes('.'));
  const finS = conn.find((r) => r.segment.src === e.p.bAddr && r.segment.flags.includes('F'));
  return finS && conn.find((r) => r.segment.src === e.p.aAddr && r.tsNs >= finS.tsNs && r.segment.flags === '.');
}

function checkFinWait2(ctx: CaseContext, e: Env, t: Tuple, w: Watch): void {
  const start = startOf(e, t, 'FIN-WAIT-2');
  ctx.check({
    id: 'fin-wait-2-timer',
    title: 'the orphaned FIN-WAIT-2 socket\'s timer when first seen (s)',
    expect: { linux: [{ versions: '*', expect: { between: [FIN_TIMEOUT_S - 1, FIN_TIMEOUT_S] }, because: `tcp_rcv_state_process() (FIN_WAIT1, ACK of our FIN, socket orphaned): tmo = tcp_fin_time() = tcp_fin_timeout (${FIN_TIMEOUT_S} s) <= TCP_TIMEWAIT_LEN, so tcp_time_wait(sk, TCP_FIN_WAIT2, tmo): a timewait socket in the FIN-WAIT-2 substate with a ${FIN_TIMEOUT_S} s timer` }] },
    observed: w.first?.timer ? Math.round(w.first.timer.remainingMs / 100) / 10 : null,
    sockets: w.samples.slice(0, 1),
  });
  ctx.check({
    id: 'fin-wait-2-length',
    title: 'how long the orphaned FIN-WAIT-2 lasts: from the server\'s ACK of the client\'s FIN to the socket leaving the list (s)',
    expect: { linux: [{ versions: '*', expect: { between: [FIN_TIMEOUT_S - 0.2, FIN_TIMEOUT_S + 1] }, because: `net.ipv4.tcp_fin_timeout governs the orphaned FIN-WAIT-2 state only (tcp_fin_time()); the timer wheel fires up to a slot late (256 ms at HZ=250 for ~5 s), plus the ${POLL_MS} ms polling` }] },
    observed: lifetimeS(start, w),
    packets: start ? [start] : [],
    sockets: w.samples,
    explain: `timer seen: ${timers(w)}`,
  });
}

const finTimeout: LabCase = {
  id: 'fin-timeout',
  title: `what tcp_fin_timeout=${FIN_TIMEOUT_S} governs: an orphaned FIN-WAIT-2 (the peer never closes) goes after ${FIN_TIMEOUT_S} s`,
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_fin_timeout': FIN_TIMEOUT_S });
    const t = await clientClosesFirst(e, false);
    await ctx.step(`client :${t.local.port} closes first; the server never closes: the client's socket is orphaned in FIN-WAIT-2`);
    const w = await ctx.waiting(`FIN-WAIT-2 (up to ${FIN_TIMEOUT_S + 3} s)`, (FIN_TIMEOUT_S + 3) * 1000, () => watch(ctx, e, [t], (FIN_TIMEOUT_S + 3) * 1000));
    ctx.note('client', `FIN-WAIT-2 socket gone: ${w[0]!.goneNs !== undefined}`);
    checkFinWait2(ctx, e, t, w[0]!);
  },
};

const length: LabCase = {
  id: 'length',
  title: `TIME-WAIT with tcp_fin_timeout=${FIN_TIMEOUT_S}: watched until it disappears (about a minute)`,
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_fin_timeout': FIN_TIMEOUT_S });
    const tw = await clientClosesFirst(e, true);
    const fw = await clientClosesFirst(e, false);
    await ctx.step(`client :${tw.local.port} closed first and the server closed too: TIME-WAIT; client :${fw.local.port} closed first, the server never closes: orphaned FIN-WAIT-2. tcp_fin_timeout is ${FIN_TIMEOUT_S} s on the client`);
    const [w, wf] = await ctx.waiting('TIME-WAIT (up to 70 s)', 70_000, () => watch(ctx, e, [tw, fw], 70_000));
    ctx.note('client', `TIME-WAIT socket gone: ${w!.goneNs !== undefined}; FIN-WAIT-2 socket gone: ${wf!.goneNs !== undefined}`);
    const start = startOf(e, tw, 'TIME-WAIT');
    ctx.check({
      id: 'time-wait-timer',
      title: 'the TIME-WAIT socket\'s timer when first seen (s)',
      expect: { linux: [{ versions: '*', expect: { between: [59, 60] }, because: `tcp_time_wait(sk, TCP_TIME_WAIT, timeo): timeo = TCP_TIMEWAIT_LEN (60*HZ, a compile-time constant) whatever tcp_fin_timeout says (${FIN_TIMEOUT_S} s here)` }] },
      observed: w!.first?.timer ? Math.round(w!.first.timer.remainingMs / 100) / 10 : null,
      sockets: w!.samples.slice(0, 1),
    });
    ctx.check({
      id: 'time-wait-length',
      title: 'how long TIME-WAIT lasts: from the client\'s final ACK to the socket leaving the list (s)',
      expect: { linux: [{ versions: '*', expect: { between: [59.8, 62.5] }, because: 'TCP_TIMEWAIT_LEN = 60 s (include/net/tcp.h), not 2*MSL = 240 s (RFC 793) nor tcp_fin_timeout; the tw timer (inet_twsk_schedule) sits in a timer-wheel level of 512 jiffies (2.048 s at HZ=250) and never fires early' }] },
      observed: lifetimeS(start, w!),
      packets: start ? [start] : [],
      sockets: w!.samples,
      explain: `tcp_fin_timeout=${FIN_TIMEOUT_S} did not shorten it; timer seen: ${timers(w!)}`,
    });
    checkFinWait2(ctx, e, fw, wf!);
  },
};

async function dmesgCount(): Promise<number | null> {
  const r = await run('dmesg', []);
  if (r.code !== 0) return null;
  return r.stdout.split('\n').filter((l) => l.includes('time wait bucket table overflow')).length;
}

const buckets: LabCase = {
  id: 'max-tw-buckets',
  title: `tcp_max_tw_buckets=${TW_BUCKETS} and ${TW_MAKE} connections closed by the client: what happens past the limit`,
  async run(ctx) {
    const e = await setup(ctx, {});
    const dflt = await e.p.a.sysctl.get('net.ipv4.tcp_max_tw_buckets');
    await e.p.a.sysctl.set('net.ipv4.tcp_max_tw_buckets', TW_BUCKETS);
    ctx.sysctl('client', 'net.ipv4.tcp_max_tw_buckets', await e.p.a.sysctl.get('net.ipv4.tcp_max_tw_buckets'));
    await ctx.step(`client tcp_max_tw_buckets ${dflt} -> ${TW_BUCKETS} (per namespace); ${TW_MAKE} connections, the client closing each first and the server closing after`);
    const dm0 = await dmesgCount();
    const { result: tuples, moved } = await counting(e.p.a, async () => {
      const out: Tuple[] = [];
      for (let i = 0; i < TW_MAKE; i++) out.push(await clientClosesFirst(e, true));
      return out;
    });
    const dm1 = await dmesgCount();
    const tws = await e.p.a.sockets({ state: 'TIME-WAIT', peerPort: SERVER_PORT });
    const left = await Promise.all(tuples.map((t) => socketOf(e.p.a, t.local, t.remote)));
    const gone = tuples.filter((_, i) => left[i] === undefined);
    ctx.note('client', `${tws.length} TIME-WAIT, ${gone.length} connection(s) with no socket at all (ports ${gone.map((t) => t.local.port).join(' ')})`);
    const twLines = tws.map((s) => `client ${sockLine(s)}`);
    ctx.check({
      id: 'time-waits',
      title: `client sockets in TIME-WAIT after ${TW_MAKE} closes`,
      expect: { linux: [{ versions: '*', expect: TW_BUCKETS, because: 'inet_twsk_alloc() returns NULL once the namespace\'s TIME-WAIT count (tcp_death_row.tw_refcount) reaches tcp_max_tw_buckets' }] },
      observed: tws.length,
      sockets: twLines,
    });
    ctx.check({
      id: 'overflow-counter',
      title: 'TcpExt.TCPTimeWaitOverflow: closes that found no room for a TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: TW_MAKE - TW_BUCKETS, because: 'tcp_time_wait(): no timewait socket could be allocated -> NET_INC_STATS(LINUX_MIB_TCPTIMEWAITOVERFLOW), then tcp_done(): the socket goes straight to CLOSED' }] },
      observed: moved['TcpExt.TCPTimeWaitOverflow'] ?? 0,
      counters: tcpOnly(moved),
    });
    // How each overflowed connection ended on the wire, and what the capture predicts for it: the close
    // needs a bucket either for TIME-WAIT (the server's FIN came with its ACK: the final ACK is sent first)
    // or earlier, for the orphaned FIN-WAIT-2 substate (the ACK came alone: the FIN then finds no socket).
    const ends = gone.map((t) => {
      const conn = packets(e.p.wire, e.point, ofConn(t));
      const finC = conn.find((r) => r.segment.src === e.p.aAddr && r.segment.flags.includes('F'));
      const finS = conn.find((r) => r.segment.src === e.p.bAddr && r.segment.flags.includes('F'));
      const lone = finC && finS && conn.some((r) => r.segment.src === e.p.bAddr && r.tsNs > finC.tsNs && r.tsNs < finS.tsNs && !r.segment.flags.includes('F'));
      const last = finS && conn.find((r) => r.segment.src === e.p.aAddr && r.tsNs > finS.tsNs);
      const got = !last ? 'nothing' : last.segment.flags.includes('R') ? 'RST' : 'ACK';
      return { predicted: lone ? 'RST' : 'ACK', got, last };
    });
    const acks = ends.filter((x) => x.got === 'ACK').length;
    const rsts = ends.filter((x) => x.got === 'RST').length;
    ctx.check({
      id: 'overflowed-gone',
      title: 'connections left with no socket at all (no TIME-WAIT, no other state)',
      expect: { linux: [{ versions: '*', expect: TW_MAKE - TW_BUCKETS, because: 'past the limit tcp_time_wait() calls tcp_done(): the 4-tuple is free at once, as if TIME-WAIT had never existed' }] },
      observed: gone.length,
      packets: ends.flatMap((x) => (x.last ? [x.last] : [])).slice(0, 4),
      sockets: twLines.slice(0, 2),
      explain: `they ended with the final ACK ${acks} time(s) and with an RST to the server's FIN ${rsts} time(s)`,
    });
    ctx.check({
      id: 'overflow-ends',
      title: 'overflowed connections that ended as their packets predict: final ACK if the server\'s FIN came with its ACK, RST if the ACK came alone',
      expect: { linux: [{ versions: '*', expect: TW_MAKE - TW_BUCKETS, because: 'an orphan that gets the ACK of its FIN alone moves to the FIN-WAIT-2 substate of a timewait socket (tcp_rcv_state_process -> tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)), which needs a bucket too: without one it is gone, and the server\'s FIN meets an RST (Tcp.OutRsts). A FIN with the ACK is ACKed first, then tcp_time_wait() finds no room' }] },
      observed: ends.filter((x) => x.got === x.predicted).length,
      packets: ends.flatMap((x) => (x.last ? [x.last] : [])).slice(0, 4),
      counters: { 'Tcp.OutRsts': moved['Tcp.OutRsts'] ?? 0, 'TcpExt.TCPTimeWaitOverflow': moved['TcpExt.TCPTimeWaitOverflow'] ?? 0 },
      explain: `final ACK ${acks}, RST ${rsts}; predicted ${ends.map((x) => x.predicted).join(' ')}`,
    });
    const found = dm0 === null || dm1 === null ? 'unreadable' : dm1 > dm0 ? 'logged' : 'absent';
    ctx.note(undefined, `dmesg "TCP: time wait bucket table overflow": ${found}${dm0 !== null && dm1 !== null ? ` (${dm1 - dm0} new line(s))` : ''}`);
    ctx.check({
      id: 'dmesg',
      title: 'a kernel log line "TCP: time wait bucket table overflow" for the overflows',
      expect: { linux: [{ versions: '>=4.6', expect: { oneOf: ['absent', 'unreadable'] }, because: 'tcp_time_wait() only counts the overflow (TCPTimeWaitOverflow, above); the rate-limited printk of that message is from older kernels, so the counter is the only trace. "unreadable": dmesg is refused here (no CAP_SYSLOG), so only a "logged" would contradict' }] },
      observed: found,
      counters: { 'TcpExt.TCPTimeWaitOverflow': moved['TcpExt.TCPTimeWaitOverflow'] ?? 0 },
    });
  },
};

export const twlenLab: Lab = {
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  id: 'twlen',
  title: 'how long TIME-WAIT lasts (not tcp_fin_timeout), and what tcp_max_tw_buckets does when exceeded',
  summary:
    'How long does TIME-WAIT really last on this kernel? The socket list is watched from the final ACK until the ' +
    `TIME-WAIT socket goes, with net.ipv4.tcp_fin_timeout set to ${FIN_TIMEOUT_S} s: is it 60 s (TCP_TIMEWAIT_LEN), 2*MSL, ` +
    'or tcp_fin_timeout? What does tcp_fin_timeout govern instead? And what happens past net.ipv4.tcp_max_tw_buckets: ' +
    'counters, kernel log, sockets?',
  rfcs: ['RFC 9293 §3.6 (TIME-WAIT, 2*MSL)', 'RFC 793 (MSL = 2 minutes)', 'Linux TCP_TIMEWAIT_LEN (include/net/tcp.h)', 'Linux tcp_time_wait()', 'Linux tcp_fin_time()', 'Linux inet_twsk_alloc()'],
  sources: ['notes on TIME_WAIT (the seeds): "tcp_fin_timeout shortens TIME_WAIT" (folklore)', 'Documentation/networking/ip-sysctl.rst (tcp_fin_timeout, tcp_max_tw_buckets)', 'V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  slow: true,
  cases: [finTimeout, buckets, length],
};
