// lab:exhaustion: ephemeral port exhaustion by TIME-WAIT. One client, one server port, a narrowed
// net.ipv4.ip_local_port_range: connect/close until connect() fails, count, and show the ports in
// TIME-WAIT; then the rate arithmetic, and each remedy measured: the server closing first, more 4-tuples
// (server ports and addresses), tcp_tw_reuse, SO_LINGER 0. Nothing waits for a TIME-WAIT to expire.
import type { Match } from '../src/wire/match.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import type { LabHost } from '../src/lab/stack.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { counting, packets, sockLine, tcpOnly } from '../src/lab/evidence.js';
import { pair, type Pair } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const LOW = 40000;
const PORTS = 10;
const RANGE = `${LOW} ${LOW + PORTS - 1}`;
/** Remedies run this many connections: three times what the range allows without them. */
const MANY = 3 * PORTS;

interface Env {
  p: Pair;
  cli: PeerClient;
  srv: PeerClient;
  /** Listening sockets by "addr:port". */
  listeners: Map<string, number>;
  point: string;
  defaultRange: string;
}

type Closer = 'client' | 'server' | 'linger0';

interface Outcome {
  ok: number;
  /** errno of the first failed connect(), or undefined when all succeeded. */
  failure?: string;
  ports: number[];
}

async function setup(ctx: CaseContext, client: Record<string, string | number>, capture: Match['flags'], note: string, anyPort = false): Promise<Env> {
  const filter: Match = { ...(anyPort ? {} : { port: SERVER_PORT }), ...(capture ? { flags: capture } : {}) };
  const p = await pair(ctx, ['client', 'server'], { client: { 'net.ipv4.tcp_timestamps': 1, ...client }, server: { 'net.ipv4.tcp_timestamps': 1 } }, filter);
  const defaultRange = (await p.a.sysctl.get('net.ipv4.ip_local_port_range')).replace(/\s+/g, ' ').trim();
  await p.a.sysctl.set('net.ipv4.ip_local_port_range', RANGE);
  ctx.sysctl('client', 'net.ipv4.ip_local_port_range', await p.a.sysctl.get('net.ipv4.ip_local_port_range'));
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: SERVER_PORT, reuseAddr: true });
  await ctx.step(`client ${p.aAddr}, ephemeral ports ${RANGE.replace(' ', '-')} (${PORTS} ports, default ${defaultRange.replace(' ', '-')}); server ${p.bAddr}:${SERVER_PORT}; capture: ${note}`);
  return { p, cli, srv, listeners: new Map([[`${p.bAddr}:${SERVER_PORT}`, l.sock]]), point: p.point, defaultRange };
}

/** One short connection: connect (ephemeral port), accept, and close with `closer` going first. */
async function cycle(e: Env, dst: { addr: string; port: number }, closer: Closer): Promise<{ port: number } | { code: string }> {
  const con = await e.cli.try('connect', { addr: dst.addr, port: dst.port, timeoutMs: 2000 });
  if (!con.ok) return { code: con.code };
  const acc = await e.srv.call('accept', { sock: e.listeners.get(`${dst.addr}:${dst.port}`)!, timeoutMs: 2000 });
  if (closer === 'server') {
    await e.srv.call('close', { sock: acc.sock });
    await e.cli.call('recv', { sock: con.sock, timeoutMs: 2000 });
    await e.cli.call('close', { sock: con.sock });
  } else {
    if (closer === 'linger0') await e.cli.call('closeLinger', { sock: con.sock, secs: 0 });
    else await e.cli.call('close', { sock: con.sock });
    await e.srv.try('recv', { sock: acc.sock, timeoutMs: 2000 });
    await e.srv.call('close', { sock: acc.sock });
  }
  return { port: con.localPort };
}

/** Runs up to `n` cycles against the destinations in turn (each until it fails), stopping at the first failure of the last one. */
async function run(e: Env, dsts: { addr: string; port: number }[], closer: Closer, n: number, perDst = false): Promise<Outcome> {
  const out: Outcome = { ok: 0, ports: [] };
  for (const [i, d] of dsts.entries()) {
    for (let k = 0; k < n; k++) {
      const r = await cycle(e, d, closer);
      if ('code' in r) {
        if (!perDst || i === dsts.length - 1) out.failure = r.code;
        break;
      }
      out.ok++;
      out.ports.push(r.port);
    }
    if (out.failure) break;
  }
  return out;
}

async function timeWaits(h: LabHost): Promise<SocketEntry[]> {
  return h.sockets({ state: 'TIME-WAIT' });
}

/** "even first, then odd" style description of the order the kernel handed out ports in. */
function parityOrder(ports: readonly number[]): string {
  const par = ports.map((x) => (x % 2 === 0 ? 'even' : 'odd'));
  const runs: string[] = [];
  for (const x of par) if (runs.at(-1) !== x) runs.push(x);
  return runs.join(', then ');
}

function syns(e: Env, from?: string): PacketRecord[] {
  return packets(e.p.wire, e.point, (x) => x.segment.flags === 'S' && (from === undefined || x.segment.src === from));
}

/** The parity of the ports used: "all even", "all odd" or "even and odd". */
function parityUsed(ports: readonly number[]): string {
  const even = ports.filter((x) => x % 2 === 0).length;
  return even === ports.length ? 'all even' : even === 0 ? 'all odd' : 'even and odd';
}
const distinct = (ports: readonly number[]) => new Set(ports).size;

const PARITY_FIRST = '__inet_hash_connect() tries ports of the low end\'s parity first (even here) and takes the first one whose 4-tuple is free (or whose TIME-WAIT it may take over); it only moves to the odd ports when every even port fails';

const twLines = (tws: readonly SocketEntry[]) => tws.map((s) => sockLine(s));

const baseline: LabCase = {
  id: 'client-closes-first',
  title: `the client closes first: ${PORTS} ephemeral ports, ${PORTS} connections, then connect() fails`,
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_tw_reuse': 0 }, { set: 'S' }, 'SYN and SYN-ACK only');
    const dst = { addr: e.p.bAddr, port: SERVER_PORT };
    await ctx.step(`connect, then the client closes first, over and over (up to ${MANY})`);
    const { result: o, moved } = await counting(e.p.a, () => run(e, [dst], 'client', MANY));
    ctx.note('client', `${o.ok} connections, then connect() -> ${o.failure ?? 'no failure'}`);
    const tws = await timeWaits(e.p.a);
    ctx.check({
      id: 'connections',
      title: 'connections that succeed before connect() fails',
      expect: { linux: [{ versions: '*', expect: PORTS, because: '__inet_hash_connect(): every port in the range has a TIME-WAIT toward the same server address and port, and check_established (tcp_twsk_unique, tcp_tw_reuse=0) refuses each' }] },
      observed: o.ok,
      packets: syns(e, e.p.aAddr),
      counters: tcpOnly(moved),
    });
    ctx.check({
      id: 'errno',
      title: 'the errno of the failing connect()',
      expect: { linux: [{ versions: '*', expect: 'EADDRNOTAVAIL', because: '__inet_hash_connect() returns -EADDRNOTAVAIL when no port in ip_local_port_range gives a unique 4-tuple' }] },
      observed: o.failure ?? 'none',
      sockets: twLines(tws),
    });
    ctx.check({
      id: 'time-waits',
      title: 'client sockets in TIME-WAIT, one per ephemeral port',
      expect: { linux: [{ versions: '*', expect: PORTS, because: 'the active closer holds TIME-WAIT (tcp_time_wait) for TCP_TIMEWAIT_LEN' }] },
      observed: new Set(tws.filter((s) => s.peer.port === SERVER_PORT).map((s) => s.local.port)).size,
      sockets: twLines(tws),
    });
    ctx.note('client', `ports in the order the kernel gave them: ${o.ports.join(' ')}`);
    ctx.check({
      id: 'port-order',
      title: 'the order connect() handed out ephemeral ports (parity of each port, in turn)',
      expect: { linux: [{ versions: '>=4.6', expect: 'even, then odd', because: '__inet_hash_connect() scans ports of the range\'s low parity first (step 2), then the other parity; inet_csk_get_port() (bind to port 0) does the opposite, keeping odd ports for bind(). The start is hashed per destination (RFC 6056 algorithm 4, table_perturb) with a random step added per connection' }] },
      observed: parityOrder(o.ports),
      packets: syns(e, e.p.aAddr),
      explain: `ports: ${o.ports.join(' ')}`,
    });
    // The arithmetic: a port can be reused for the same server only once its TIME-WAIT has expired.
    const twLenS = Math.max(0, ...tws.map((s) => Math.ceil((s.timer?.remainingMs ?? 0) / 1000)));
    ctx.check({
      id: 'time-wait-length',
      title: 'how long a fresh TIME-WAIT has left, from its timer (s)',
      expect: { linux: [{ versions: '*', expect: { between: [55, 60] }, because: 'TCP_TIMEWAIT_LEN is 60*HZ, fixed at compile time (not 2*MSL = 240 s from RFC 793, nor 120 s); ss shows the remaining time in whole seconds' }] },
      observed: twLenS,
      sockets: twLines(tws).slice(0, 3),
    });
    const [lo, hi] = e.defaultRange.split(' ').map(Number) as [number, number];
    const defaultPorts = hi - lo + 1;
    ctx.note(undefined, `sustainable rate to one server address and port = ports / TIME-WAIT length: here ${PORTS}/60 s = ${(PORTS / 60).toFixed(2)}/s; default range ${defaultPorts}/60 s = ${Math.floor(defaultPorts / 60)}/s; the folklore's 60,000/120 s = 500/s`);
    ctx.check({
      id: 'default-rate',
      title: 'connections per second to one server address and port that the default range sustains when the client closes first (ports / 60 s)',
      expect: { linux: [{ versions: '>=4.5', expect: 470, because: 'the default ip_local_port_range is 32768-60999 (28232 ports; inet_init_ports) and TIME-WAIT lasts 60 s: 28232/60 = 470/s, a little under the folklore\'s 60,000/120 = 500/s' }] },
      observed: twLenS >= 55 && twLenS <= 60 ? Math.floor(defaultPorts / 60) : Math.floor(defaultPorts / Math.max(1, twLenS)),
      sockets: twLines(tws).slice(0, 1),
      explain: `default range ${e.defaultRange} = ${defaultPorts} ports; a fresh TIME-WAIT showed ${twLenS} s left (ss truncates to whole seconds), i.e. the 60 s TCP_TIMEWAIT_LEN`,
    });
  },
};

const serverFirst: LabCase = {
  id: 'server-closes-first',
  title: 'remedy: the server closes first, TIME-WAIT moves to the server and the client never runs out',
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_tw_reuse': 0 }, { set: 'F' }, 'FIN segments only');
    const dst = { addr: e.p.bAddr, port: SERVER_PORT };
    await ctx.step(`connect, then the server closes first, ${MANY} times`);
    const { result: o, moved } = await counting(e.p.b, () => run(e, [dst], 'server', MANY));
    ctx.note('client', `${o.ok} connections${o.failure ? `, then connect() -> ${o.failure}` : ''}`);
    const ctw = await timeWaits(e.p.a);
    const stw = await timeWaits(e.p.b);
    const firstFins = packets(e.p.wire, e.point, (x) => x.segment.flags.includes('F')).slice(0, 2);
    ctx.check({
      id: 'connections',
      title: `connections out of ${MANY} that succeed`,
      expect: { linux: [{ versions: '*', expect: MANY, because: 'the client, closing second, goes LAST-ACK -> CLOSED and keeps no TIME-WAIT, so its ports are free at once; the server\'s TIME-WAIT accepts the next SYN on the 4-tuple because its ISN is higher (tcp_timewait_state_process, TCP_TW_SYN)' }] },
      observed: o.ok,
      packets: firstFins,
      counters: tcpOnly(moved),
    });
    ctx.note('client', `ports in the order the kernel gave them: ${o.ports.join(' ')}`);
    ctx.check({
      id: 'ports-used',
      title: 'the client ports the kernel used for the connections',
      expect: { linux: [{ versions: '>=4.6', expect: 'all even', because: `${PARITY_FIRST}. With no TIME-WAIT on the client an even port is always free: half the range is never used` }] },
      observed: parityUsed(o.ports),
      packets: packets(e.p.wire, e.point, (x) => x.segment.src === e.p.aAddr).slice(0, 3),
      explain: `${distinct(o.ports)} of the ${PORTS} ports used: ${o.ports.join(' ')}`,
    });
    ctx.check({
      id: 'where-time-wait',
      title: 'TIME-WAIT sockets on the client / on the server',
      expect: { linux: [{ versions: '*', expect: '0/one per client port used', because: 'the active closer holds TIME-WAIT; one per 4-tuple on the server, each replaced when its client port comes round again (tcp_timewait_state_process: TCP_TW_SYN)' }] },
      observed: `${ctw.length}/${stw.length === distinct(o.ports) ? 'one per client port used' : `${stw.length} for ${distinct(o.ports)} client ports`}`,
      sockets: [...twLines(ctw), ...twLines(stw).map((x) => `server ${x}`)],
    });
  },
};

const moreTuples: LabCase = {
  id: 'more-tuples',
  title: 'remedy: more server ports and addresses, more 4-tuples: each gets the whole port range',
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_tw_reuse': 0 }, { set: 'S' }, 'SYN and SYN-ACK only', true);
    const second = e.p.bAddr.replace(/\.\d+$/, '.3');
    await e.p.addAddress(e.p.b, second);
    const dsts: { addr: string; port: number }[] = [];
    for (const addr of [e.p.bAddr, second]) {
      for (const port of [SERVER_PORT, SERVER_PORT + 1]) {
        if (!e.listeners.has(`${addr}:${port}`)) e.listeners.set(`${addr}:${port}`, (await e.srv.call('listen', { addr, port, reuseAddr: true })).sock);
        dsts.push({ addr, port });
      }
    }
    await ctx.step(`the server listens on ${dsts.map((d) => `${d.addr}:${d.port}`).join(', ')}; the client fills each until connect() fails`);
    const { result: o, moved } = await counting(e.p.a, () => run(e, dsts, 'client', MANY, true));
    ctx.note('client', `${o.ok} connections, then connect() -> ${o.failure ?? 'no failure'}`);
    const tws = await timeWaits(e.p.a);
    // Per destination, which client ports it got and how many TIME-WAITs it holds now: when the total is
    // off, this says which 4-tuple was free again (a TIME-WAIT gone early) or which connect() failed early.
    const byDst = dsts.map((d) => {
      const held = tws.filter((s) => s.peer.addr === d.addr && s.peer.port === d.port).length;
      return `${d.addr}:${d.port} ${held} TIME-WAIT`;
    });
    ctx.check({
      id: 'connections',
      title: `connections before connect() fails, with ${dsts.length} server (address, port) pairs`,
      explain: `client ports in order: ${o.ports.join(' ')}; now ${byDst.join(', ')}`,
      expect: { linux: [{ versions: '*', expect: dsts.length * PORTS, because: '__inet_hash_connect() checks uniqueness per 4-tuple (__inet_check_established): a port in TIME-WAIT toward one server address and port is free toward another' }] },
      observed: o.ok,
      packets: syns(e, e.p.aAddr),
      counters: tcpOnly(moved),
    });
    const perPort = new Map<number, number>();
    for (const s of tws) perPort.set(s.local.port ?? 0, (perPort.get(s.local.port ?? 0) ?? 0) + 1);
    ctx.check({
      id: 'time-waits-per-port',
      title: 'TIME-WAIT sockets sharing each client port (the most on any one port)',
      expect: { linux: [{ versions: '*', expect: dsts.length, because: 'one TIME-WAIT per 4-tuple: the same local port appears once per server address and port' }] },
      observed: Math.max(0, ...perPort.values()),
      sockets: twLines(tws.filter((s) => s.local.port === LOW)),
      explain: `${tws.length} TIME-WAITs over ${perPort.size} client ports`,
    });
    ctx.check({
      id: 'errno',
      title: 'the errno once every 4-tuple is used',
      expect: { linux: [{ versions: '*', expect: 'EADDRNOTAVAIL' }] },
      observed: o.failure ?? 'none',
      sockets: twLines(tws).slice(0, 4),
    });
  },
};

const twReuse: LabCase = {
  id: 'tw-reuse',
  title: 'remedy: tcp_tw_reuse=1 on the client (timestamps on): ports in TIME-WAIT are taken over',
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_tw_reuse': 1 }, { set: 'S' }, 'SYN and SYN-ACK only');
    try {
      await e.p.a.sysctl.set('net.ipv4.tcp_tw_reuse_delay', 1);
      ctx.sysctl('client', 'net.ipv4.tcp_tw_reuse_delay', await e.p.a.sysctl.get('net.ipv4.tcp_tw_reuse_delay'));
    } catch {
      ctx.note('client', 'net.ipv4.tcp_tw_reuse_delay does not exist here: reuse waits a whole second per TIME-WAIT');
    }
    const dst = { addr: e.p.bAddr, port: SERVER_PORT };
    await ctx.step(`connect, then the client closes first, ${MANY} times`);
    const { result: o, moved } = await counting(e.p.a, () => run(e, [dst], 'client', MANY));
    ctx.note('client', `${o.ok} connections${o.failure ? `, then connect() -> ${o.failure}` : ''}`);
    const tws = await timeWaits(e.p.a);
    ctx.check({
      id: 'connections',
      title: `connections out of ${MANY} that succeed`,
      expect: {
        linux: [
          { versions: '>=6.14', expect: MANY, because: 'tcp_twsk_unique(): with tcp_tw_reuse=1 a TIME-WAIT that saw a timestamp and entered TIME-WAIT more than net.ipv4.tcp_tw_reuse_delay ago (tw_entry_stamp; 1 ms here) is taken over by the new connection' },
          { versions: '<6.14', expect: { atLeast: PORTS }, because: 'tcp_twsk_unique(): reuse only once the TIME-WAIT\'s last timestamp is over 1 s old, so a fast loop stalls after the range' },
        ],
      },
      observed: o.ok,
      packets: syns(e, e.p.aAddr),
      counters: tcpOnly(moved),
    });
    ctx.note('client', `ports in the order the kernel gave them: ${o.ports.join(' ')}`);
    ctx.check({
      id: 'ports-used',
      title: 'the client ports the kernel used for the connections',
      expect: {
        linux: [
          { versions: '>=6.14', expect: 'all even', because: `${PARITY_FIRST}. A reusable TIME-WAIT on an even port counts as free, so the odd ports are never reached` },
          // Before 19ce8cd30465/ca6a6f93867a (6.14) tcp_twsk_unique() reused a TIME-WAIT only once
          // ktime_get_seconds() had moved past its last timestamp's second: none in a fast loop, unless a tick falls inside it.
          { versions: '<6.14', expect: { oneOf: ['even and odd', 'all even'] }, because: `${PARITY_FIRST}. Before 6.14 a TIME-WAIT is reusable only after the next tick of the 1 s clock (ktime_get_seconds() > tw_ts_recent_stamp), so a fast loop finds no even port free and moves on to the odd ones, unless a tick comes first` },
        ],
      },
      observed: parityUsed(o.ports),
      packets: syns(e, e.p.aAddr).slice(0, 3),
      explain: `${distinct(o.ports)} of the ${PORTS} ports used: ${o.ports.join(' ')}`,
    });
    ctx.check({
      id: 'tw-recycled',
      title: 'TIME-WAITs taken over (TcpExt.TWRecycled)',
      // Every connection but the first on each port it used took over a TIME-WAIT: the counter must agree
      // with the ports the connections really had (how many ports that is depends on the kernel's order).
      // On any version: a port used twice within the loop had its TIME-WAIT (60 s) taken over.
      expect: { linux: [{ versions: '*', expect: o.ok - distinct(o.ports), because: `__inet_check_established() counts LINUX_MIB_TIMEWAITRECYCLED for each TIME-WAIT a connect() takes over: ${o.ok} connections on ${distinct(o.ports)} port(s)` }] },
      observed: moved['TcpExt.TWRecycled'] ?? 0,
      counters: tcpOnly(moved),
      sockets: twLines(tws).slice(0, 3),
    });
  },
};

const linger0: LabCase = {
  id: 'linger0',
  title: 'remedy: SO_LINGER {1, 0} on the client: RST instead of FIN, no TIME-WAIT anywhere',
  async run(ctx) {
    const e = await setup(ctx, { 'net.ipv4.tcp_tw_reuse': 0 }, { set: 'R' }, 'RST segments only');
    const dst = { addr: e.p.bAddr, port: SERVER_PORT };
    await ctx.step(`connect, then the client closes with SO_LINGER {1, 0}, ${MANY} times`);
    const { result: o, moved } = await counting(e.p.a, () => run(e, [dst], 'linger0', MANY));
    ctx.note('client', `${o.ok} connections${o.failure ? `, then connect() -> ${o.failure}` : ''}`);
    const ctw = await timeWaits(e.p.a);
    const stw = await timeWaits(e.p.b);
    const rsts = packets(e.p.wire, e.point, (x) => x.segment.flags.includes('R') && x.segment.src === e.p.aAddr);
    ctx.note('client', `ports in the order the kernel gave them: ${o.ports.join(' ')}`);
    ctx.check({
      id: 'connections',
      title: `connections out of ${MANY} that succeed`,
      expect: { linux: [{ versions: '*', expect: MANY, because: 'tcp_close() with a zero linger time -> tcp_disconnect(): an RST, the socket is destroyed without TIME-WAIT and its port is free at once' }] },
      observed: o.ok,
      packets: rsts.slice(0, 3),
      counters: tcpOnly(moved),
    });
    ctx.check({
      id: 'rsts',
      title: 'RSTs the client sent (one per close) / TIME-WAITs left on client and server',
      expect: { linux: [{ versions: '*', expect: `${MANY}/0`, because: 'every close is an abort (Tcp.OutRsts); nobody enters TIME-WAIT. The price: queued data is lost and the peer sees ECONNRESET (lab linger)' }] },
      observed: `${rsts.length}/${ctw.length + stw.length}`,
      packets: rsts.slice(0, 3),
      counters: { 'Tcp.OutRsts': moved['Tcp.OutRsts'] ?? 0, 'TcpExt.TCPAbortOnData': moved['TcpExt.TCPAbortOnData'] ?? 0 },
      sockets: [...twLines(ctw), ...twLines(stw)],
    });
  },
};

export const exhaustionLab: Lab = {
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  id: 'exhaustion',
  title: 'ephemeral port exhaustion by TIME-WAIT, and what each remedy buys',
  summary:
    'One client, one server address and port, a range of 10 ephemeral ports. How many connections succeed before ' +
    'connect() fails, with which errno, and what does that mean for the default range (the 60,000 / 120 = 500 ' +
    'connections per second arithmetic)? Then the remedies, each measured: the server closing first, more server ' +
    'ports and addresses, tcp_tw_reuse, SO_LINGER 0.',
  rfcs: ['RFC 6056 (ephemeral port selection)', 'RFC 9293 §3.6 (TIME-WAIT)', 'Linux __inet_hash_connect()', 'Linux tcp_twsk_unique()', 'Linux tcp_timewait_state_process()'],
  sources: ['V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)', 'notes on TIME_WAIT (the seeds): 60,000 ports / 120 s = 500 connections/s'],
  cases: [baseline, serverFirst, moreTuples, twReuse, linger0],
};
