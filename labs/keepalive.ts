// lab:keepalive: HTTP keep-alive against a Node HTTP server (node:http). N requests over N short connections
// (the client closing first, or the server closing first on `Connection: close`) versus the same N requests
// over one kept-alive connection (closed by the client, or by the server's idle keepAliveTimeout). Each case
// counts the SYNs, finds who sent the first FIN of every connection, and lists the TIME-WAITs on both hosts.
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { connectionsOf, counting, firstFinBy, packets, sockLine, tcpOnly } from '../src/lab/evidence.js';
import { httpExchange, nodeHttpServer, readEof } from './http.js';
import { pair, type Pair } from '../src/lab/fixtures.js';

const PORT = 8080;
const N = 20;
/** The server's keepAliveTimeout in the idle case: short, so the case stays quick. */
const IDLE_MS = 500;
const NODE_HTTP = 'lib/_http_server.js';

/**
 * Node arms the idle timer at keepAliveTimeout + HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER (1000 ms in the Node
 * 20 this runs on) so that clients honouring the advertised timeout never race the server. Read from this
 * Node's own http server source (the server runs on the same binary); 0 where the constant does not exist.
 */
function nodeKeepAliveBuffer(): number {
  try {
    const natives = (process as unknown as { binding(n: string): Record<string, string> }).binding('natives');
    const m = /HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER\s*=\s*(\d[\d_]*)/.exec(natives['_http_server'] ?? '');
    return m ? Number(m[1]!.replace(/_/g, '')) : 0;
  } catch {
    return 0;
  }
}

interface Env {
  p: Pair;
  cli: PeerClient;
  point: string;
  dst: { addr: string; port: number };
}

async function setup(ctx: CaseContext, keepAliveTimeoutMs = 5000): Promise<Env> {
  const p = await pair(ctx, ['client', 'server'], { client: { 'net.ipv4.tcp_timestamps': 1 }, server: { 'net.ipv4.tcp_timestamps': 1 } }, { port: PORT });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  await nodeHttpServer(ctx, p.b, p.bAddr, PORT, keepAliveTimeoutMs);
  await ctx.step(`server: a Node ${process.version} HTTP server (node:http) on ${p.bAddr}:${PORT}, keepAliveTimeout ${keepAliveTimeoutMs} ms; client ${p.aAddr} speaks HTTP/1.1 through the peer's sockets`);
  return { p, cli: await p.a.peer(), point: p.point, dst: { addr: p.bAddr, port: PORT } };
}

const request = (i: number, close: boolean) => `GET /r${i} HTTP/1.1\r\nHost: server\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

function all(e: Env): PacketRecord[] {
  return packets(e.p.wire, e.point);
}

/** Client-side and server-side TIME-WAITs of the HTTP port, after the closing handshakes settle. */
async function timeWaits(e: Env): Promise<{ client: SocketEntry[]; server: SocketEntry[] }> {
  await new Promise((r) => setTimeout(r, 100));
  return {
    client: await e.p.a.sockets({ state: 'TIME-WAIT', peerPort: PORT }),
    server: await e.p.b.sockets({ state: 'TIME-WAIT', localPort: PORT }),
  };
}

const twLines = (tw: { client: SocketEntry[]; server: SocketEntry[] }, max = 3) => [
  ...tw.client.slice(0, max).map((s) => `client ${sockLine(s)}`),
  ...(tw.client.length > max ? [`client ... ${tw.client.length} TIME-WAIT in all`] : []),
  ...tw.server.slice(0, max).map((s) => `server ${sockLine(s)}`),
  ...(tw.server.length > max ? [`server ... ${tw.server.length} TIME-WAIT in all`] : []),
];

/** "client N, server M": who sent the first FIN, over all connections. */
function finners(e: Env): { text: string; fins: PacketRecord[] } {
  const m = firstFinBy(all(e), e.p.aAddr);
  const c = [...m.values()].filter((x) => x.by === 'client').length;
  return { text: `client ${c}, server ${m.size - c}`, fins: [...m.values()].map((x) => x.fin) };
}

/** One request per connection; `close` asks the server to close (Connection: close), else the client closes after the response. */
async function shortConnections(e: Env, ctx: CaseContext, close: boolean): Promise<number> {
  let ok = 0;
  for (let i = 0; i < N; i++) {
    const con = await e.cli.call('connect', { ...e.dst, timeoutMs: 2000 });
    const r = await httpExchange(e.cli, con.sock, request(i, close));
    if (r.status === 200) ok++;
    // With Connection: close the server's FIN comes right after the body; read it before closing.
    if (close && !r.eof) await readEof(e.cli, con.sock, 2000);
    await e.cli.call('close', { sock: con.sock });
    if (i === 0) ctx.note('client', `GET /r0 -> ${r.status} ${r.headers['connection'] ? `(Connection: ${r.headers['connection']})` : ''}`);
  }
  return ok;
}

const shortClient: LabCase = {
  id: 'short-client-closes',
  title: `${N} requests over ${N} short connections, the client closing each after its response`,
  async run(ctx) {
    const e = await setup(ctx);
    await ctx.step(`${N} times: connect, GET (HTTP/1.1, keep-alive by default), read the response, close()`);
    const { result: ok, moved } = await counting(e.p.a, () => shortConnections(e, ctx, false));
    const tw = await timeWaits(e);
    const syns = connectionsOf(all(e));
    ctx.check({
      id: 'connections',
      title: `TCP connections (SYNs) for ${N} requests`,
      expect: { linux: [{ versions: '*', expect: N, because: 'one request per connection: every request pays a handshake (and a port)' }] },
      observed: syns.length,
      packets: syns.slice(0, 3),
      counters: { 'Tcp.ActiveOpens': moved['Tcp.ActiveOpens'] ?? 0 },
      explain: `${ok} of ${N} answered 200`,
    });
    const f = finners(e);
    ctx.check({
      id: 'first-fin',
      title: 'who sent the first FIN of each connection',
      expect: { linux: [{ versions: '*', expect: `client ${N}, server 0`, because: 'the client close()s once it has the whole body (Content-Length); the Node server, seeing EOF, ends its side afterwards' }] },
      observed: f.text,
      packets: f.fins.slice(0, 4),
    });
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAIT sockets on the client / on the server',
      expect: { linux: [{ versions: '*', expect: `${N}/0`, because: 'the active closer (the side whose FIN went first) holds TIME-WAIT (tcp_time_wait); the passive closer goes LAST-ACK -> CLOSED' }] },
      observed: `${tw.client.length}/${tw.server.length}`,
      sockets: twLines(tw),
      counters: tcpOnly(moved),
      explain: `each TIME-WAIT holds a client port for 60 s: one client doing this to one server address and port is capped at (ports in ip_local_port_range) / 60 s`,
    });
  },
};

const shortServer: LabCase = {
  id: 'short-server-closes',
  title: `${N} requests over ${N} short connections with Connection: close, the server closing each`,
  async run(ctx) {
    const e = await setup(ctx);
    await ctx.step(`${N} times: connect, GET with Connection: close, read the response and the server's FIN, close()`);
    const { result: ok, moved } = await counting(e.p.b, () => shortConnections(e, ctx, true));
    const tw = await timeWaits(e);
    const syns = connectionsOf(all(e));
    ctx.check({
      id: 'connections',
      title: `TCP connections (SYNs) for ${N} requests`,
      expect: { linux: [{ versions: '*', expect: N }] },
      observed: syns.length,
      packets: syns.slice(0, 3),
      counters: { 'Tcp.PassiveOpens': moved['Tcp.PassiveOpens'] ?? 0 },
      explain: `${ok} of ${N} answered 200`,
    });
    const f = finners(e);
    ctx.check({
      id: 'first-fin',
      title: 'who sent the first FIN of each connection',
      expect: { linux: [{ versions: '*', expect: `client 0, server ${N}`, because: `Node's server ends the socket after a response to a request with Connection: close (${NODE_HTTP}: shouldKeepAlive false -> socket.destroySoon()), before the client reads the body` }] },
      observed: f.text,
      packets: f.fins.slice(0, 4),
    });
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAIT sockets on the client / on the server',
      expect: { linux: [{ versions: '*', expect: `0/${N}`, because: 'the server closed first, so the server holds TIME-WAIT; its sockets share the server port but differ in the client port, so they cost the server no ports, only memory (one tcp_timewait_sock each, capped by tcp_max_tw_buckets)' }] },
      observed: `${tw.client.length}/${tw.server.length}`,
      sockets: twLines(tw),
      counters: tcpOnly(moved),
    });
  },
};

/** N requests on one connection; returns the connection's client port and how many got 200. */
async function keptAlive(e: Env, n: number): Promise<{ sock: number; port: number; ok: number; reused: boolean }> {
  const con = await e.cli.call('connect', { ...e.dst, timeoutMs: 2000 });
  let ok = 0;
  let reused = true;
  for (let i = 0; i < n; i++) {
    const r = await httpExchange(e.cli, con.sock, request(i, false));
    if (r.status === 200) ok++;
    if (r.eof) reused = false;
  }
  return { sock: con.sock, port: con.localPort, ok, reused };
}

const keepAliveClient: LabCase = {
  id: 'keepalive-client-closes',
  title: `the same ${N} requests over one kept-alive connection, then the client closes it`,
  async run(ctx) {
    const e = await setup(ctx);
    await ctx.step(`connect once, ${N} GETs (HTTP/1.1) one after another on it, then close()`);
    const { result: k, moved } = await counting(e.p.a, async () => {
      const k = await keptAlive(e, N);
      await e.cli.call('close', { sock: k.sock });
      return k;
    });
    ctx.note('client', `${k.ok} of ${N} answered 200 on port ${k.port}, then close()`);
    const tw = await timeWaits(e);
    const syns = connectionsOf(all(e));
    const requests = packets(e.p.wire, e.point, (r) => r.segment.src === e.p.aAddr && r.segment.payload.length > 0);
    ctx.check({
      id: 'connections',
      title: `TCP connections (SYNs) / requests sent on them`,
      expect: { linux: [{ versions: '*', expect: `1/${N}`, because: 'HTTP/1.1 connections are persistent by default (RFC 9112 §9.3): one handshake, one port, for every request' }] },
      observed: `${syns.length}/${requests.length}`,
      packets: [...syns, ...requests.slice(0, 2)],
      counters: { 'Tcp.ActiveOpens': moved['Tcp.ActiveOpens'] ?? 0 },
    });
    const f = finners(e);
    ctx.check({
      id: 'first-fin',
      title: 'who sent the first FIN',
      expect: { linux: [{ versions: '*', expect: 'client 1, server 0' }] },
      observed: f.text,
      packets: f.fins,
    });
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAIT sockets on the client / on the server',
      expect: { linux: [{ versions: '*', expect: '1/0', because: `one connection, one TIME-WAIT, on the side that closed first: ${N} requests cost 1 port for 60 s instead of ${N}` }] },
      observed: `${tw.client.length}/${tw.server.length}`,
      sockets: twLines(tw),
      counters: tcpOnly(moved),
    });
  },
};

const keepAliveIdle: LabCase = {
  id: 'keepalive-server-idle-timeout',
  title: `one kept-alive connection left idle: the server's keepAliveTimeout (${IDLE_MS} ms) closes it`,
  async run(ctx) {
    const e = await setup(ctx, IDLE_MS);
    const n = 3;
    await ctx.step(`connect once, ${n} GETs, then stay idle and wait for the server's FIN`);
    const { result: k, moved } = await counting(e.p.b, async () => {
      const k = await keptAlive(e, n);
      const eof = await readEof(e.cli, k.sock, 3 * IDLE_MS + 2000);
      ctx.note('client', eof ? 'recv() -> EOF: the server closed the idle connection; close()' : 'no EOF from the server');
      await e.cli.call('close', { sock: k.sock });
      return k;
    });
    const tw = await timeWaits(e);
    const f = finners(e);
    ctx.check({
      id: 'first-fin',
      title: 'who sent the first FIN',
      expect: { linux: [{ versions: '*', expect: 'client 0, server 1', because: "Node's server arms socket.setTimeout(keepAliveTimeout) after each response and destroys the idle socket when it fires: the server closes first" }] },
      observed: f.text,
      packets: f.fins,
      explain: `${k.ok} of ${n} answered 200, all on client port ${k.port}`,
    });
    const lastResponse = packets(e.p.wire, e.point, (r) => r.segment.src === e.p.bAddr && r.segment.payload.length > 0).at(-1);
    const fin = f.fins[0];
    const buffer = nodeKeepAliveBuffer();
    if (lastResponse && fin) {
      ctx.checkTiming({
        id: 'idle-time',
        title: 'from the last response to the server\'s FIN (ms)',
        from: lastResponse,
        to: fin,
        expectMs: { linux: [{ versions: '*', expect: IDLE_MS + buffer, because: `server.keepAliveTimeout = ${IDLE_MS} plus Node's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER (${buffer} ms here): socket.setTimeout() is armed when the response is written` }] },
        tolerance: { absMs: 100, pct: 0.1 },
      });
    }
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAIT sockets on the client / on the server',
      expect: { linux: [{ versions: '*', expect: '0/1', because: 'the server closed first, so the server holds the TIME-WAIT: a server that times out idle keep-alive connections collects them, one per connection' }] },
      observed: `${tw.client.length}/${tw.server.length}`,
      sockets: twLines(tw),
      counters: tcpOnly(moved),
    });
  },
};

export const keepaliveLab: Lab = {
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  id: 'keepalive',
  title: 'HTTP keep-alive: one connection instead of N, and who ends in TIME-WAIT',
  summary:
    `${N} HTTP requests to a Node HTTP server over ${N} short connections versus one kept-alive connection. ` +
    'How many handshakes and TIME-WAITs does each cost, and which side holds the TIME-WAIT: the client when it ' +
    'closes first, the server when it closes first (Connection: close, or its idle keepAliveTimeout)?',
  rfcs: ['RFC 9112 §9.3 (persistent connections)', 'RFC 9112 §9.6 (tear-down: Connection: close)', 'RFC 9293 §3.6 (the active closer enters TIME-WAIT)', 'Linux tcp_time_wait()', `Node ${NODE_HTTP} (keepAliveTimeout)`],
  sources: ['notes on TIME_WAIT (the seeds): keep-alive as the first remedy for TIME-WAIT pile-ups', 'V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  cases: [shortClient, shortServer, keepAliveClient, keepAliveIdle],
};
