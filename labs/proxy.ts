// lab:proxy: the reverse-proxy TIME-WAIT pile-up. Debian's nginx proxies for a Node HTTP backend; a client
// sends N requests through it (over one kept-alive client connection, so every new TCP connection in the
// picture is the proxy's, toward the backend). With nginx's default proxy_http_version 1.0 every request is
// a new upstream connection and leaves a TIME-WAIT between proxy and backend; with upstream keepalive
// (proxy_http_version 1.1, Connection "", `keepalive` in the upstream block) a handful of connections carry
// them all. nginx runs from its own config, pid and log files in a temp dir and is stopped by the lab.
import { monoMs } from '../src/lab/clock.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { run } from '../src/testbed/exec.js';
import type { NetnsHost } from '../src/testbed/host.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { Testbed } from '../src/testbed/testbed.js';
import { Wire } from '../src/wire/wire.js';
import { connectionsOf, counting, firstFinBy, sockLine, simultaneousCloses, tcpOnly, toRecord, wireSource } from '../src/lab/evidence.js';
import { httpExchange, nodeHttpServer } from './http.js';
import { spawnIn, type Proc } from '../src/testbed/proc.js';

const N = 200;
const BACKEND_PORT = 8080;
const PROXY_PORT = 80;
const KEEPALIVE_CONNS = 4;
/** Connections drawn in the ladder (the pcap holds them all). */
const LADDER_CONNS = 2;
export const NGINX_PACKAGE = 'nginx-light';

interface Env {
  tb: Testbed;
  client: NetnsHost;
  proxy: NetnsHost;
  backend: NetnsHost;
  /** Capture on the proxy's side of the proxy-backend link (every upstream segment). */
  up: Wire;
  upPoint: string;
  /** SYNs on the client-proxy link. */
  down: Wire;
  downPoint: string;
  nginx: Nginx;
  proxyAddr: string;
  proxyUpAddr: string;
  backendAddr: string;
}

interface Nginx extends AsyncDisposable {
  proc: Proc;
  dir: string;
  /** pids of nginx processes (master and workers) still in the proxy's namespace. */
  alive(): Promise<number[]>;
  stop(): Promise<void>;
}

function nginxConf(dir: string, listen: string, backend: string, keepalive: boolean): string {
  const up = keepalive
    ? `    upstream backend {\n        server ${backend}:${BACKEND_PORT};\n        keepalive ${KEEPALIVE_CONNS};\n    }\n`
    : `    upstream backend {\n        server ${backend}:${BACKEND_PORT};\n    }\n`;
  const loc = keepalive
    ? '            proxy_pass http://backend;\n            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
    : '            proxy_pass http://backend;\n            # proxy_http_version 1.0 (the default): one upstream connection per request\n';
  return `# tcplab lab:proxy: generated, removed when the case ends
daemon off;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    keepalive_requests ${N * 2};
${up}    server {
        listen ${listen}:${PROXY_PORT};
        location / {
${loc}        }
    }
}
`;
}

async function pidsNamed(host: NetnsHost, comm: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', host.netns]);
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

/** Starts nginx in the proxy's namespace from a temp dir; resolves once it listens. */
async function startNginx(ctx: CaseContext, host: NetnsHost, listen: string, backend: string, keepalive: boolean): Promise<Nginx> {
  const which = await run('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx']);
  const bin = which.stdout.trim().split('\n')[0];
  if (which.code !== 0 || !bin) throw new Error(`nginx is not installed: apt-get install ${NGINX_PACKAGE}`);
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-nginx-'));
  const cleanDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', cleanDir);
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, listen, backend, keepalive));
  const proc = spawnIn(host, bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]);
  let stopped = false;
  const ng: Nginx = {
    proc,
    dir,
    // Workers are found by namespace (their command line is just "nginx: worker process"), the master by
    // its temp dir on the command line (pgrep -f), wherever it might be.
    alive: async () => {
      const pg = await run('pgrep', ['-f', dir]);
      const byDir = pg.stdout.split(/\s+/).filter(Boolean).map(Number);
      return [...new Set([...(await pidsNamed(host, 'nginx')), ...byDir])];
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGQUIT: graceful; the master waits for its workers and exits; SIGKILL after 3 s.
      await proc.stop('SIGQUIT', 3000);
      for (const p of await ng.alive()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
      cleanDir();
      process.off('exit', cleanDir);
    },
    [Symbol.asyncDispose]: () => ng.stop(),
  };
  ctx.use(ng);
  const end = monoMs() + 5000;
  for (;;) {
    const l = await host.sockets({ state: 'LISTEN', localPort: PROXY_PORT });
    if (l.length > 0) break;
    if (proc.exitCode !== undefined || monoMs() > end) {
      const log = (() => {
        try {
          return readFileSync(join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
        } catch {
          return '';
        }
      })();
      throw new Error(`nginx did not start listening: ${[...proc.output.slice(-3), log].join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return ng;
}

async function setup(ctx: CaseContext, keepalive: boolean): Promise<Env> {
  const tb = ctx.use(await Testbed.create({ hosts: ['client', 'proxy', 'backend'], links: [['client', 'proxy'], ['proxy', 'backend']] }));
  const client = tb.host('client');
  const proxy = tb.host('proxy');
  const backend = tb.host('backend');
  for (const h of [client, proxy, backend]) {
    await h.sysctl.set('net.ipv4.tcp_timestamps', 1);
    ctx.sysctl(h.name, 'net.ipv4.tcp_timestamps', await h.sysctl.get('net.ipv4.tcp_timestamps'));
  }
  ctx.sysctl('proxy', 'net.ipv4.ip_local_port_range', (await proxy.sysctl.get('net.ipv4.ip_local_port_range')).replace(/\s+/g, ' ').trim());
  ctx.sysctl('proxy', 'net.ipv4.tcp_tw_reuse', await proxy.sysctl.get('net.ipv4.tcp_tw_reuse'));
  const proxyAddr = proxy.addr('client');
  const proxyUpAddr = proxy.addr('backend');
  const backendAddr = backend.addr('proxy');
  const upIf = proxy.iface('backend').ifname;
  const downIf = proxy.iface('client').ifname;
  const up = ctx.use(await Wire.open({ netns: proxy.netns, ifname: upIf, filter: { port: BACKEND_PORT } }));
  const down = ctx.use(await Wire.open({ netns: proxy.netns, ifname: downIf, filter: { port: PROXY_PORT, flags: { set: 'S' } } }));
  const upPoint = `proxy:${upIf}`;
  const downPoint = `proxy:${downIf}`;
  ctx.addCapture(ladderSource(up, upPoint));
  ctx.setColumns([{ label: 'proxy', addrs: [proxyUpAddr, proxyAddr] }, { label: 'backend', addrs: [backendAddr] }]);
  await nodeHttpServer(ctx, backend, backendAddr, BACKEND_PORT);
  const nginx = await startNginx(ctx, proxy, proxyAddr, backendAddr, keepalive);
  await ctx.step(`client ${client.addr()} -> nginx ${proxyAddr}:${PROXY_PORT} (pid ${nginx.proc.pid}, ${keepalive ? `proxy_http_version 1.1, Connection "", keepalive ${KEEPALIVE_CONNS}` : 'proxy_http_version 1.0 (default), no upstream keepalive'}) -> ${proxyUpAddr} -> Node backend ${backendAddr}:${BACKEND_PORT}`);
  return { tb, client, proxy, backend, up, upPoint, down, downPoint, nginx, proxyAddr, proxyUpAddr, backendAddr };
}

/** The upstream capture as the ladder shows it: the first LADDER_CONNS connections (the pcap has every frame). */
function ladderSource(wire: Wire, point: string) {
  const src = wireSource(wire, point);
  return {
    ...src,
    records: () => {
      const recs = src.records();
      const ports = [...new Set(connectionsOf(recs).map((r) => r.segment.sport))].slice(0, LADDER_CONNS);
      return recs.filter((r) => ports.includes(r.segment.sport) || ports.includes(r.segment.dport));
    },
  };
}

const upstream = (e: Env): PacketRecord[] => e.up.captured.flatMap((p) => toRecord(p, e.upPoint) ?? []);

/** The client load: N GETs over one kept-alive connection to nginx. */
async function load(ctx: CaseContext, e: Env): Promise<{ ok: number; ms: number }> {
  const cli = await e.client.peer();
  const con = await cli.call('connect', { addr: e.proxyAddr, port: PROXY_PORT, timeoutMs: 2000 });
  let ok = 0;
  const t = monoMs();
  for (let i = 0; i < N; i++) {
    const r = await httpExchange(cli, con.sock, `GET /r${i} HTTP/1.1\r\nHost: proxy\r\n\r\n`);
    if (r.status === 200 && r.body.startsWith('hello from')) ok++;
    if (i === 0) ctx.note('client', `GET /r0 -> ${r.status} ${r.body.trim()}`);
    if (r.eof) throw new Error(`nginx closed the client connection after request ${i}`);
  }
  const ms = monoMs() - t;
  await cli.call('close', { sock: con.sock });
  ctx.note('client', `${ok} of ${N} answered 200 by the backend through nginx, in ${ms.toFixed(0)} ms, on one client connection`);
  return { ok, ms };
}

interface Tw {
  proxy: SocketEntry[];
  backend: SocketEntry[];
}

async function upstreamTimeWaits(e: Env): Promise<Tw> {
  await new Promise((r) => setTimeout(r, 100));
  return {
    proxy: await e.proxy.sockets({ state: 'TIME-WAIT', peerPort: BACKEND_PORT }),
    backend: await e.backend.sockets({ state: 'TIME-WAIT', localPort: BACKEND_PORT }),
  };
}

const twLines = (tw: Tw, max = 3) => [
  ...tw.proxy.slice(0, max).map((s) => `proxy ${sockLine(s)}`),
  ...(tw.proxy.length > max ? [`proxy ... ${tw.proxy.length} TIME-WAIT toward the backend in all`] : []),
  ...tw.backend.slice(0, max).map((s) => `backend ${sockLine(s)}`),
  ...(tw.backend.length > max ? [`backend ... ${tw.backend.length} TIME-WAIT in all`] : []),
];

function finText(e: Env): { text: string; fins: PacketRecord[] } {
  const m = firstFinBy(upstream(e), e.proxyUpAddr);
  const p = [...m.values()].filter((x) => x.by === 'client').length;
  return { text: `proxy ${p}, backend ${m.size - p}`, fins: [...m.values()].map((x) => x.fin) };
}

/** After the load: nginx stopped by the lab, and nothing of it left in the namespace. */
async function checkStopped(ctx: CaseContext, e: Env): Promise<void> {
  await e.nginx.stop();
  const left = await e.nginx.alive();
  const listening = await e.proxy.sockets({ state: 'LISTEN', localPort: PROXY_PORT });
  ctx.note('proxy', `nginx stopped (SIGQUIT), ${left.length} nginx process(es) left`);
  ctx.check({
    id: 'nginx-stopped',
    title: 'nginx processes left in the proxy namespace after the lab stops it / sockets listening on :80',
    expect: { other: { expect: '0/0', because: 'the lab owns nginx: SIGQUIT lets the master stop its workers and exit, and its listening socket goes with it' } },
    observed: `${left.length}/${listening.length}`,
    sockets: [`proxy LISTEN sockets on :${PROXY_PORT}: ${listening.length ? listening.map(sockLine).join(', ') : 'none'}`],
  });
}

const http10: LabCase = {
  id: 'http10-upstream',
  title: `nginx's default proxy_http_version 1.0: ${N} requests, ${N} upstream connections, ${N} TIME-WAITs between proxy and backend`,
  async run(ctx) {
    const e = await setup(ctx, false);
    await ctx.step(`${N} GETs from the client through nginx`);
    const { result: l, moved } = await counting(e.proxy, () => load(ctx, e));
    const tw = await upstreamTimeWaits(e);
    const syns = connectionsOf(upstream(e));
    const clientSyns = e.down.captured.flatMap((p) => toRecord(p, e.downPoint) ?? []).filter((r) => r.segment.flags === 'S');
    ctx.check({
      id: 'upstream-connections',
      title: `upstream connections (proxy SYNs to the backend) for ${N} requests arriving on ${clientSyns.length} client connection(s)`,
      expect: { other: { expect: N, because: 'HTTP/1.0 without keep-alive: nginx sends Connection: close upstream and opens a new connection (a new ephemeral port) for every request (ngx_http_proxy_module)' } },
      observed: syns.length,
      packets: [...clientSyns, ...syns.slice(0, 3)],
      counters: { 'Tcp.ActiveOpens': moved['Tcp.ActiveOpens'] ?? 0 },
      explain: `${l.ok} of ${N} requests answered by the backend`,
    });
    const byPort = firstFinBy(upstream(e), e.proxyUpAddr);
    const f = finText(e);
    ctx.note(undefined, `first FIN of each upstream connection: ${f.text} (nginx closing after the body races the backend ending its socket)`);
    ctx.check({
      id: 'closed-by-fin',
      title: 'upstream connections closed with a FIN (by the proxy or by the backend, whichever came first)',
      expect: { linux: [{ versions: '*', expect: N, because: 'nginx closes its upstream socket as soon as the body (Content-Length) is in; the Node backend ends its socket right after writing a response to a Connection: close request (HTTP/1.0). Either may be first; neither aborts' }] },
      observed: byPort.size,
      packets: f.fins.slice(0, 4),
      explain: `first FIN by ${f.text}`,
    });
    // nginx and the backend both close right after the response: some closes cross on the wire, and
    // then both ends hold a TIME-WAIT. The packets say which.
    const simul = simultaneousCloses(upstream(e), e.proxyUpAddr);
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAITs between proxy and backend (on the proxy + on the backend), one more per simultaneous close',
      expect: { linux: [{ versions: '*', expect: N + simul.size, because: 'every upstream connection leaves one TIME-WAIT, for 60 s (TCP_TIMEWAIT_LEN), on the side that closed it first (tcp_time_wait); a simultaneous close leaves one on each side (CLOSING -> TIME-WAIT)' }] },
      observed: tw.proxy.length + tw.backend.length,
      sockets: twLines(tw),
      counters: tcpOnly(moved),
      explain: `${tw.proxy.length} on the proxy, ${tw.backend.length} on the backend; ${simul.size} simultaneous close(s) seen in the packets`,
    });
    // Connection by connection: the TIME-WAIT is where the first FIN came from.
    const holder = new Map<number, string>([...tw.proxy.map((s) => [s.local.port ?? 0, 'proxy'] as const), ...tw.backend.map((s) => [s.peer.port ?? 0, 'backend'] as const)]);
    const both = new Set(tw.proxy.map((s) => s.local.port ?? 0).filter((p) => tw.backend.some((b) => b.peer.port === p)));
    const agree = [...byPort.entries()].filter(([port, x]) =>
      simul.has(port) ? both.has(port) : holder.get(port) === (x.by === 'client' ? 'proxy' : 'backend')).length;
    ctx.check({
      id: 'time-wait-follows-fin',
      title: 'upstream connections whose TIME-WAIT sits on the side that sent the first FIN (both sides for a simultaneous close)',
      expect: { linux: [{ versions: '*', expect: N, because: 'RFC 9293 §3.6: the active closer (FIN-WAIT-1 -> FIN-WAIT-2 or CLOSING -> TIME-WAIT) waits; the passive closer (CLOSE-WAIT -> LAST-ACK -> CLOSED) does not' }] },
      observed: agree,
      sockets: twLines(tw, 2),
      packets: f.fins.slice(0, 2),
    });
    const ports = new Set(syns.map((s) => s.segment.sport)).size;
    const [lo, hi] = (await e.proxy.sysctl.get('net.ipv4.ip_local_port_range')).trim().split(/\s+/).map(Number) as [number, number];
    const range = hi - lo + 1;
    const rate = (N / l.ms) * 1000;
    ctx.note(undefined, `per 4-tuple arithmetic: ${range} ports (${lo}-${hi}) / 60 s TIME-WAIT = ${Math.floor(range / 60)} new upstream connections/s to ${e.backendAddr}:${BACKEND_PORT}; this run's ${rate.toFixed(0)} req/s ${rate > range / 60 ? `would use up the range in ${(range / rate).toFixed(0)} s` : 'fits'}`);
    ctx.check({
      id: 'ports-used',
      title: `proxy ephemeral ports used for ${N} upstream connections to the one backend address and port`,
      expect: { linux: [{ versions: '*', expect: N, because: `only the proxy's port varies in the 4-tuple (proxy addr, port, backend addr, ${BACKEND_PORT}), so every request takes a port, and a port whose TIME-WAIT is on the proxy stays unusable toward this backend for 60 s: the proxy sustains ports / 60 s = ${Math.floor(range / 60)} upstream connections/s before connect() fails with EADDRNOTAVAIL (lab exhaustion)` }] },
      observed: ports,
      packets: syns.slice(0, 3),
      sockets: twLines(tw, 2),
      explain: `ip_local_port_range ${lo}-${hi} = ${range} ports; ${range}/60 s = ${Math.floor(range / 60)} connections/s; this run sent ${rate.toFixed(0)} req/s; ${tw.proxy.length} proxy ports are in TIME-WAIT now`,
    });
    await checkStopped(ctx, e);
  },
};

const keepaliveUp: LabCase = {
  id: 'keepalive-upstream',
  title: `upstream keepalive (proxy_http_version 1.1, keepalive ${KEEPALIVE_CONNS}): ${N} requests over one connection, no TIME-WAIT`,
  async run(ctx) {
    const e = await setup(ctx, true);
    await ctx.step(`${N} GETs from the client through nginx`);
    const { result: l, moved } = await counting(e.proxy, () => load(ctx, e));
    const tw = await upstreamTimeWaits(e);
    const syns = connectionsOf(upstream(e));
    const established = await e.proxy.sockets({ state: 'ESTABLISHED', peerPort: BACKEND_PORT });
    const requests = upstream(e).filter((r) => r.segment.src === e.proxyUpAddr && r.segment.payload.length > 0);
    ctx.check({
      id: 'upstream-connections',
      title: `upstream connections (proxy SYNs to the backend) / requests sent on them`,
      expect: { other: { expect: `1/${N}`, because: `requests arrive one at a time, so one cached upstream connection (ngx_http_upstream_keepalive_module) carries them all; keepalive ${KEEPALIVE_CONNS} bounds the idle connections kept per worker` } },
      observed: `${syns.length}/${requests.length}`,
      packets: [...syns, ...requests.slice(0, 2)],
      counters: { 'Tcp.ActiveOpens': moved['Tcp.ActiveOpens'] ?? 0 },
      sockets: established.map((s) => `proxy ${sockLine(s)}`),
      explain: `${l.ok} of ${N} requests answered by the backend`,
    });
    ctx.check({
      id: 'time-wait',
      title: 'TIME-WAIT between proxy and backend: on the proxy / on the backend',
      expect: { linux: [{ versions: '*', expect: '0/0', because: 'no connection was closed: the upstream connection stays ESTABLISHED in nginx\'s cache, so nothing enters TIME-WAIT' }] },
      observed: `${tw.proxy.length}/${tw.backend.length}`,
      sockets: [...twLines(tw), ...established.map((s) => `proxy ${sockLine(s)}`)],
      counters: tcpOnly(moved),
    });
    await checkStopped(ctx, e);
    // Stopping nginx closes the cached connection: the one TIME-WAIT of the whole run appears now.
    const after = await upstreamTimeWaits(e);
    const f = finText(e);
    ctx.check({
      id: 'time-wait-at-stop',
      title: 'TIME-WAIT on the proxy / on the backend once nginx has stopped (closing its cached upstream connection)',
      expect: { linux: [{ versions: '*', expect: `${syns.length}/0`, because: 'nginx closes its cached connections on exit and so becomes the active closer: one TIME-WAIT per upstream connection for the whole run, instead of one per request' }] },
      observed: `${after.proxy.length}/${after.backend.length}`,
      sockets: twLines(after),
      packets: f.fins,
    });
  },
};

/** `tcplab clean`: nginx temp dirs of killed runs (no process names the dir any more). */
async function cleanNginxLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  for (const f of readdirSync(tmpdir()).filter((x) => x.startsWith('tcplab-nginx-'))) {
    const dir = join(tmpdir(), f);
    const pg = await run('pgrep', ['-f', dir]);
    if (pg.stdout.trim() !== '') continue; // an nginx of a live run still uses it
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

export const proxyLab: Lab = {
  clean: cleanNginxLeftovers,
  roles: { all: ['client', 'proxy', 'backend'], subject: 'proxy' },
  remote: 'link',
  localOnly: "the kernel on trial is the proxy's, which must run nginx: the QEMU guests are a busybox initramfs without it, and a three-host link to a target is not built",
  id: 'proxy',
  title: 'a reverse proxy piles up TIME-WAIT toward its backend, unless upstream keep-alive is on',
  summary:
    `Debian's nginx as a reverse proxy for a Node HTTP backend, ${N} requests through it. With nginx's default ` +
    'proxy_http_version 1.0 every request opens and closes an upstream connection: how many TIME-WAITs pile up, ' +
    'on which side, and what does that mean for one backend address and port (ports / 60 s)? With upstream ' +
    'keepalive (HTTP/1.1, Connection "", keepalive N) how many are left?',
  rfcs: ['RFC 9112 §9.3 (persistent connections)', 'RFC 9293 §3.6 (TIME-WAIT)', 'nginx ngx_http_proxy_module (proxy_http_version)', 'nginx ngx_http_upstream_keepalive_module', 'Linux tcp_time_wait()'],
  sources: ['notes on TIME_WAIT (the seeds): the reverse-proxy scenario', 'nginx docs: upstream keepalive ("For HTTP, the proxy_http_version directive should be set to 1.1 and the Connection header field should be cleared")', 'V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  cases: [http10, keepaliveUp],
};
