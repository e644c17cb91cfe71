// Hand-built IPv4/TCP packets and a hand parser for the wire tests (independent of native/segment.cc),
// plus a kernel listener in a namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect } from 'vitest';
import { createNetnsPair, listTcplabNetns, type NetnsPair } from '../helpers/netns-pair.js';

function csum(buf: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < buf.length; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (buf.length & 1) s += buf[buf.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const v4 = (a: string): number[] => a.split('.').map(Number);

export interface Tcp4 {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  /** Adds NOP NOP TS(tsval, tsecr). */
  tsval?: number;
  tsecr?: number;
  /** IPv4 id; nonzero, or the kernel picks one for IP_HDRINCL. */
  id?: number;
  badChecksum?: boolean;
}

export function buildTcp4(p: Tcp4): Buffer {
  const opts = p.tsval === undefined ? [] : [1, 1, 8, 10, ...be32(p.tsval), ...be32(p.tsecr ?? 0)];
  const tcpLen = 20 + opts.length;
  const b = Buffer.alloc(20 + tcpLen);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(p.id ?? 1, 4);
  b[6] = 0x40;
  b[8] = 64;
  b[9] = 6;
  b.set(v4(p.src), 12);
  b.set(v4(p.dst), 16);
  b.writeUInt16BE(csum(b.subarray(0, 20)), 10);
  const t = 20;
  b.writeUInt16BE(p.sport, t);
  b.writeUInt16BE(p.dport, t + 2);
  b.writeUInt32BE(p.seq >>> 0, t + 4);
  b.writeUInt32BE((p.ack ?? 0) >>> 0, t + 8);
  b[t + 12] = (tcpLen / 4) << 4;
  b[t + 13] = p.flags;
  b.writeUInt16BE(65535, t + 14);
  b.set(opts, t + 20);
  const pseudo = Buffer.concat([b.subarray(12, 20), Buffer.from([0, 6, tcpLen >> 8, tcpLen & 0xff]), b.subarray(t)]);
  const c = csum(pseudo);
  b.writeUInt16BE(p.badChecksum ? c ^ 0x5555 : c, t + 16);
  return b;
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export interface Parsed {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  tsval?: number;
  tsecr?: number;
  checksumOk: boolean;
}

/** Parses an Ethernet + IPv4 + TCP frame. */
export function parseFrame(f: Uint8Array): Parsed {
  const b = Buffer.from(f.buffer, f.byteOffset, f.length);
  if (b.readUInt16BE(12) !== 0x0800) throw new Error('not IPv4');
  const ip = 14;
  const ihl = (b[ip]! & 0xf) * 4;
  const t = ip + ihl;
  const doff = (b[t + 12]! >> 4) * 4;
  const out: Parsed = {
    src: Array.from(b.subarray(ip + 12, ip + 16)).join('.'),
    dst: Array.from(b.subarray(ip + 16, ip + 20)).join('.'),
    sport: b.readUInt16BE(t), dport: b.readUInt16BE(t + 2), seq: b.readUInt32BE(t + 4), ack: b.readUInt32BE(t + 8),
    flags: b[t + 13]!, checksumOk: false,
  };
  for (let o = t + 20; o < t + doff;) {
    const kind = b[o]!;
    if (kind === 0) break;
    if (kind === 1) { o++; continue; }
    if (kind === 8) {
      out.tsval = b.readUInt32BE(o + 2);
      out.tsecr = b.readUInt32BE(o + 6);
    }
    o += b[o + 1]! || 1;
  }
  const ipEnd = ip + b.readUInt16BE(ip + 2);
  const tcpLen = ipEnd - t;
  const pseudo = Buffer.concat([b.subarray(ip + 12, ip + 20), Buffer.from([0, 6, tcpLen >> 8, tcpLen & 0xff]), b.subarray(t, ipEnd)]);
  out.checksumOk = csum(pseudo) === 0;
  return out;
}

export async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`waitFor: condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A kernel TCP listener (node net.Server) on [::]:port inside a namespace; resolves once listening. */
export function startListener(netns: string, port: number): Promise<ChildProcess> {
  const script = `require('net').createServer(()=>{}).listen(${port},'::',()=>console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('listener did not start')), 5000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.on('exit', (c) => reject(new Error(`listener exited with ${c}`)));
  });
}

/**
 * The wire tests' fixture inside a describe(): a fresh namespace pair with a TCP listener on b:`port`,
 * made before the tests and removed after them (and checked gone). The getter gives the pair.
 */
export function usePairWithListener(port = 8080): () => NetnsPair {
  let pair: NetnsPair | undefined;
  let listener: ChildProcess | undefined;
  beforeAll(async () => {
    pair = createNetnsPair();
    listener = await startListener(pair.b, port);
  });
  afterAll(() => {
    listener?.kill('SIGKILL');
    pair?.dispose();
    if (pair) expect(listTcplabNetns().filter((n) => n === pair!.a || n === pair!.b)).toEqual([]);
  });
  return () => pair!;
}
