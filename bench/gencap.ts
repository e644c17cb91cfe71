// A synthetic production-like capture for the inspect bench (and tests): classic µs pcap, Ethernet, IPv4
// with valid checksums, TCP with timestamps. Three kinds of traffic, merged in time order:
//   reuse      198.18.0.1 -> 198.18.1.1:80   short connections from 500 client ports, the client closes first
//              and reopens each 4-tuple 0.5 s into its TIME-WAIT (tw-reuse; no exhaustion: 500 ports)
//   rst        198.18.0.2 -> 198.18.1.1:443  the server closes first; 0.2 s later the client sends an RST at
//              the server's RCV.NXT (rst-in-time-wait)
//   exhaustion 198.18.0.3 -> 198.18.1.2:8080 every port of 32768-60999 once, the client closing first, all
//              within 60 s: 28,232 ports in TIME-WAIT at once (exhaustion)
// Addresses on 198.18.0.0/15; nothing is sent anywhere.
//   node dist/bench/gencap.js OUT.pcap [--packets N]   (default 1,000,000; reuse scales to reach N)
import { closeSync, openSync, writeSync } from 'node:fs';

export interface GenCounts {
  packets: number;
  reuseConnections: number;
  reuseReopenings: number;
  reusePorts: number;
  rstConnections: number;
  exhaustionPorts: number;
}

interface P { t: number; src: number; dst: number; sport: number; dport: number; seq: number; ack: number; flags: number; len: number; tsv: number; tse: number }

const S = 0x02, A = 0x10, F = 0x01, R = 0x04, PSH = 0x08;
const ip = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
export const GEN = {
  reuse: { client: ip(198, 18, 0, 1), server: ip(198, 18, 1, 1), port: 80, ports: 500, intoTw: 0.5 },
  rst: { client: ip(198, 18, 0, 2), server: ip(198, 18, 1, 1), port: 443 },
  exhaustion: { client: ip(198, 18, 0, 3), server: ip(198, 18, 1, 2), port: 8080, first: 32768, last: 60999 },
};

/** One short connection, the client closing first: 10 packets over ~5 ms. */
function* clientCloses(t: number, c: number, cp: number, s: number, sp: number, isn: number, ts: number): Generator<P> {
  const si = (isn * 7 + 12345) >>> 0;
  const m = (dt: number, fromC: boolean, flags: number, seq: number, ack: number, len = 0): P => ({
    t: t + dt, src: fromC ? c : s, dst: fromC ? s : c, sport: fromC ? cp : sp, dport: fromC ? sp : cp, seq: seq >>> 0, ack: ack >>> 0, flags, len,
    tsv: (fromC ? ts : ts + 5000) + Math.floor(dt * 1000), tse: fromC ? ts + 5000 : ts,
  });
  yield m(0, true, S, isn, 0);
  yield m(0.0005, false, S | A, si, isn + 1);
  yield m(0.001, true, A, isn + 1, si + 1);
  yield m(0.0011, true, PSH | A, isn + 1, si + 1, 100);
  yield m(0.002, false, A, si + 1, isn + 101);
  yield m(0.003, false, PSH | A, si + 1, isn + 101, 200);
  yield m(0.0035, true, A, isn + 101, si + 201);
  yield m(0.004, true, F | A, isn + 101, si + 201);
  yield m(0.0045, false, F | A, si + 201, isn + 102);
  yield m(0.005, true, A, isn + 102, si + 202);
}

function* reuse(n: number, ports: number, counts: GenCounts): Generator<P> {
  const g = GEN.reuse;
  // Each port's next connection starts intoTw after the previous one's TIME-WAIT began (the server FIN at +4.5 ms).
  const step = (g.intoTw + 0.0045) / ports;
  for (let k = 0; k < n; k++) {
    const port = 40000 + (k % ports);
    counts.reuseConnections++;
    if (k >= ports) counts.reuseReopenings++;
    yield* clientCloses(k * step, g.client, port, g.server, g.port, (k * 2_654_435_761) >>> 0, 1_000_000 + k);
  }
  counts.reusePorts = Math.min(n, ports);
}

function* rst(n: number, counts: GenCounts): Generator<P> {
  const g = GEN.rst;
  for (let k = 0; k < n; k++) {
    const t = 0.05 + k * 0.04;
    const cp = 20000 + (k % 20000);
    const isn = (k * 40503 + 7) >>> 0, si = (k * 9973 + 11) >>> 0, ts = 500_000 + k;
    const m = (dt: number, fromC: boolean, flags: number, seq: number, ack: number, len = 0): P => ({
      t: t + dt, src: fromC ? g.client : g.server, dst: fromC ? g.server : g.client, sport: fromC ? cp : g.port, dport: fromC ? g.port : cp,
      seq: seq >>> 0, ack: ack >>> 0, flags, len, tsv: ts + Math.floor(dt * 1000), tse: ts,
    });
    counts.rstConnections++;
    yield m(0, true, S, isn, 0);
    yield m(0.0005, false, S | A, si, isn + 1);
    yield m(0.001, true, A, isn + 1, si + 1);
    yield m(0.0012, true, PSH | A, isn + 1, si + 1, 50);
    yield m(0.002, false, PSH | A, si + 1, isn + 51, 80);
    yield m(0.0025, false, F | A, si + 81, isn + 51); // the server closes first
    yield m(0.003, true, F | A, isn + 51, si + 82);
    yield m(0.0035, false, A, si + 82, isn + 52); // server in TIME-WAIT
    yield m(0.2035, true, R, isn + 52, 0); // RST at the TIME-WAIT's RCV.NXT
  }
}

function* exhaustion(n: number, counts: GenCounts): Generator<P> {
  const g = GEN.exhaustion;
  for (let k = 0; k < n; k++) {
    counts.exhaustionPorts++;
    yield* clientCloses(0.02 + k * 0.0015, g.client, g.first + k, g.server, g.port, (k * 97_531 + 3) >>> 0, 2_000_000 + k);
  }
}

/** Merges time-ordered generators into one time-ordered stream. */
function* merge(gens: Array<Generator<P>>): Generator<P> {
  const heads = gens.map((g) => g.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (!h.done && (best < 0 || h.value.t < (heads[best]!.value as P).t)) best = i;
    }
    if (best < 0) return;
    yield heads[best]!.value as P;
    heads[best] = gens[best]!.next();
  }
}

function sum16(b: Buffer, from: number, to: number, acc = 0): number {
  for (let i = from; i + 1 < to; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if ((to - from) & 1) acc += b[to - 1]! << 8;
  return acc;
}
const fold = (x: number) => { while (x > 0xffff) x = (x & 0xffff) + (x >>> 16); return ~x & 0xffff; };

export interface GenOptions {
  /** Client ports of the reuse traffic (default 500). */
  reusePorts?: number;
  /** Ports the exhaustion client uses, all at once in TIME-WAIT (default 28,232: 32768-60999). */
  exhaustionPorts?: number;
}

/** Writes the capture; returns what is in it. Fixed content for a given packet count and options. */
export function generateCapture(path: string, packets = 1_000_000, go: GenOptions = {}): GenCounts {
  const reusePorts = go.reusePorts ?? GEN.reuse.ports;
  const exPorts = go.exhaustionPorts ?? GEN.exhaustion.last - GEN.exhaustion.first + 1;
  const counts: GenCounts = { packets: 0, reuseConnections: 0, reuseReopenings: 0, reusePorts: 0, rstConnections: 0, exhaustionPorts: 0 };
  const exhaustionPackets = exPorts * 10;
  const rstN = Math.max(100, Math.round(packets / 500));
  const reuseN = Math.max(reusePorts * 2, Math.ceil((packets - exhaustionPackets - rstN * 9) / 10));
  const fd = openSync(path, 'w');
  const out = Buffer.alloc(4 << 20);
  let o = 0;
  const flush = () => { writeSync(fd, out, 0, o); o = 0; };
  out.writeUInt32LE(0xa1b2c3d4, 0); out.writeUInt16LE(2, 4); out.writeUInt16LE(4, 6);
  out.writeUInt32LE(0, 8); out.writeUInt32LE(0, 12); out.writeUInt32LE(262144, 16); out.writeUInt32LE(1, 20);
  o = 24;
  const base = 1_764_000_000;
  try {
    for (const p of merge([reuse(reuseN, reusePorts, counts), rst(rstN, counts), exhaustion(exPorts, counts)])) {
      const frameLen = 14 + 20 + 32 + p.len;
      if (o + 16 + frameLen > out.length) flush();
      const us = Math.round(p.t * 1e6);
      out.writeUInt32LE(base + Math.floor(us / 1e6), o); out.writeUInt32LE(us % 1e6, o + 4);
      out.writeUInt32LE(frameLen, o + 8); out.writeUInt32LE(frameLen, o + 12);
      const e = o + 16;
      out.fill(0, e, e + frameLen);
      out.writeUInt32BE(0x02000000, e); out.writeUInt16BE(p.dst & 0xffff, e + 4);
      out.writeUInt32BE(0x02000000, e + 6); out.writeUInt16BE(p.src & 0xffff, e + 10);
      out.writeUInt16BE(0x0800, e + 12);
      const i = e + 14;
      out[i] = 0x45; out.writeUInt16BE(20 + 32 + p.len, i + 2); out.writeUInt16BE(counts.packets & 0xffff, i + 4);
      out[i + 6] = 0x40; out[i + 8] = 64; out[i + 9] = 6;
      out.writeUInt32BE(p.src, i + 12); out.writeUInt32BE(p.dst, i + 16);
      out.writeUInt16BE(fold(sum16(out, i, i + 20)), i + 10);
      const t = i + 20;
      out.writeUInt16BE(p.sport, t); out.writeUInt16BE(p.dport, t + 2);
      out.writeUInt32BE(p.seq, t + 4); out.writeUInt32BE(p.ack, t + 8);
      out[t + 12] = 8 << 4; out[t + 13] = p.flags; out.writeUInt16BE(p.flags & R ? 0 : 502, t + 14);
      out[t + 20] = 1; out[t + 21] = 1; out[t + 22] = 8; out[t + 23] = 10;
      out.writeUInt32BE(p.tsv >>> 0, t + 24); out.writeUInt32BE(p.tse >>> 0, t + 28);
      const tcpLen = 32 + p.len;
      let acc = sum16(out, i + 12, i + 20) + 6 + tcpLen;
      acc = sum16(out, t, t + tcpLen, acc);
      out.writeUInt16BE(fold(acc), t + 16);
      o += 16 + frameLen;
      counts.packets++;
    }
    flush();
  } finally {
    closeSync(fd);
  }
  return counts;
}

if (process.argv[1]?.endsWith('gencap.js')) {
  const outPath = process.argv[2];
  if (!outPath) { console.error('usage: node dist/bench/gencap.js OUT.pcap [--packets N]'); process.exit(2); }
  const i = process.argv.indexOf('--packets');
  const n = i > 0 ? Number(process.argv[i + 1]) : 1_000_000;
  console.log(JSON.stringify(generateCapture(outPath, n)));
}
