// Streaming capture reader: pcap (µs and ns, both byte orders) and pcapng (SHB/IDB/EPB/SPB/PB, both byte
// orders, if_tsresol, if_tsoffset, several sections) from a file, '-' (stdin), a pipe or a .gz (detected by
// its magic, any of those). Frames come out in batches that point into the chunk just read (no copy per
// packet), ready for the native batch decoder. A capture cut short (tcpdump killed, disk full) is read up
// to the damage and the damage is reported as a warning, as tcpdump and tshark do; a file that is not a
// capture at all is an error (CaptureFormatError).
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BatchIn, batchLinkOf, IN_STRIDE } from '../wire/batch.js';
import { CaptureFormatError, type CaptureInterface } from './capture.js';

export interface FrameBatch {
  /** The bytes the records point into. Valid only during the callback. */
  buf: Buffer;
  n: number;
  /** IN_STRIDE words per frame: offset in buf, captured length, batch link code (255: unsupported). */
  recs: Uint32Array;
  origLen: Uint32Array;
  /** Nanoseconds since the capture's first frame. */
  t: Float64Array;
  iface: Uint16Array;
  /** Frame number (1-based, as Wireshark counts) of record 0. */
  firstFrame: number;
}

export interface StreamInfo {
  format: 'pcap' | 'pcapng';
  interfaces: CaptureInterface[];
  /** Absolute time of the first frame, ns since the epoch. */
  t0?: bigint;
  frames: number;
  bytes: number;
  gzip: boolean;
  /** Damage found (truncation, corruption): reading stopped there. */
  warnings: string[];
}

const CHUNK = 1 << 20;
const MAX_RECORD = 16 << 20;
const PCAPNG_SHB = 0x0a0d0d0a;

interface NgIface { linkType: number; code: number; mul: number; div: number; offsetNs: bigint; snaplen: number;
  hi0: number; lo0: number; base?: number; global: number }

function tsresol(v: number): { mul: number; div: number } {
  if (v & 0x80) return { mul: 1e9, div: 2 ** (v & 0x7f) };
  const exp = v & 0x7f;
  return exp <= 9 ? { mul: 10 ** (9 - exp), div: 1 } : { mul: 1, div: 10 ** (exp - 9) };
}

/** The bytes of a file, '-' (stdin) or any readable, gunzipped when they start with the gzip magic. */
async function* chunks(source: string | Readable, info: StreamInfo): AsyncGenerator<Buffer> {
  const input: Readable = typeof source !== 'string' ? source : source === '-' ? process.stdin : createReadStream(source, { highWaterMark: CHUNK });
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    let first = await it.next();
    while (!first.done && first.value.length < 2) {
      const more = await it.next();
      if (more.done) break;
      first = { done: false, value: Buffer.concat([first.value, more.value]) };
    }
    if (first.done) return;
    const head = first.value;
    if (head[0] !== 0x1f || head[1] !== 0x8b) {
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      return;
    }
    info.gzip = true;
    const rest = Readable.from((async function* () {
      yield head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })());
    const gz = rest.pipe(createGunzip({ chunkSize: CHUNK }));
    try {
      for await (const c of gz) yield c as Buffer;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'Z_BUF_ERROR' && code !== 'Z_DATA_ERROR') throw e;
      info.warnings.push(`gzip stream ${code === 'Z_BUF_ERROR' ? 'truncated' : 'corrupt'} (${(e as Error).message}): read what came before`);
    } finally {
      rest.destroy();
    }
  } finally {
    if (input !== process.stdin) input.destroy();
  }
}

/**
 * Reads a capture, calling onBatch for each batch of frames in file order. Throws CaptureFormatError when
 * the file is not a capture; damage later in the file ends reading with a warning in the result.
 */
export async function streamCapture(source: string | Readable, name: string, onBatch: (b: FrameBatch) => void): Promise<StreamInfo> {
  const info: StreamInfo = { format: 'pcap', interfaces: [], frames: 0, bytes: 0, gzip: false, warnings: [] };
  let cap = 16384;
  let recs = new Uint32Array(cap * IN_STRIDE);
  let orig = new Uint32Array(cap);
  let ts = new Float64Array(cap);
  let ifc = new Uint16Array(cap);
  let n = 0;
  const grow = () => {
    cap *= 2;
    const r2 = new Uint32Array(cap * IN_STRIDE); r2.set(recs); recs = r2;
    const o2 = new Uint32Array(cap); o2.set(orig); orig = o2;
    const t2 = new Float64Array(cap); t2.set(ts); ts = t2;
    const i2 = new Uint16Array(cap); i2.set(ifc); ifc = i2;
  };
  const add = (off: number, caplen: number, origLen: number, link: number, t: number, iface: number) => {
    if (n === cap) grow();
    const r = n * IN_STRIDE;
    recs[r + BatchIn.offset] = off; recs[r + BatchIn.length] = caplen; recs[r + BatchIn.link] = link;
    orig[n] = origLen; ts[n] = t; ifc[n] = iface;
    n++;
  };

  let acc: Buffer = Buffer.alloc(0);
  let base = 0; // file offset of acc[0]
  let started = false;
  let stopped = false;
  // pcap state
  let little = true, nsRes = false, pcapLink = 0, pcapCode = 255, sec0 = 0, frac0 = 0;
  // pcapng state
  let ngLittle = true;
  let ngIfaces: NgIface[] = [];
  let sawShb = false;
  let lastT = 0;
  let t0: bigint | undefined;

  const damage = (off: number, what: string) => {
    // Damage in the very first block is no capture to read at all.
    if (info.format === 'pcapng' && !sawShb) throw new CaptureFormatError(name, off, what);
    info.warnings.push(`${what} at byte offset ${off}: read the ${info.frames} frame(s) before it`);
    stopped = true;
  };

  const parsePcapHeader = (): boolean => {
    const m = acc.readUInt32LE(0);
    if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) little = true;
    else if (m === 0xd4c3b2a1 || m === 0x4d3cb2a1) little = false;
    else throw new CaptureFormatError(name, 0, `not a pcap or pcapng capture (magic 0x${m.toString(16).padStart(8, '0')})`);
    if (acc.length < 24) return false;
    nsRes = m === 0xa1b23c4d || m === 0x4d3cb2a1;
    const u16 = (o: number) => (little ? acc.readUInt16LE(o) : acc.readUInt16BE(o));
    const u32 = (o: number) => (little ? acc.readUInt32LE(o) : acc.readUInt32BE(o));
    if (u16(4) !== 2) throw new CaptureFormatError(name, 4, `unsupported pcap version ${u16(4)}.${u16(6)}`);
    const snaplen = u32(16);
    pcapLink = u32(20) & 0x0fffffff;
    pcapCode = batchLinkOf(pcapLink) ?? 255;
    info.interfaces.push({ linkType: pcapLink, snaplen });
    return true;
  };

  /** Parses whole records from acc[pos..]; returns the new pos. */
  const parsePcap = (pos: number): number => {
    const L = little;
    while (pos + 16 <= acc.length) {
      const sec = L ? acc.readUInt32LE(pos) : acc.readUInt32BE(pos);
      const frac = L ? acc.readUInt32LE(pos + 4) : acc.readUInt32BE(pos + 4);
      const incl = L ? acc.readUInt32LE(pos + 8) : acc.readUInt32BE(pos + 8);
      const olen = L ? acc.readUInt32LE(pos + 12) : acc.readUInt32BE(pos + 12);
      if (incl > MAX_RECORD) { damage(base + pos, `corrupt record: captured length ${incl}`); return pos; }
      if (pos + 16 + incl > acc.length) break;
      const fracNs = nsRes ? frac : frac * 1000;
      if (t0 === undefined) { t0 = BigInt(sec) * 1_000_000_000n + BigInt(fracNs); sec0 = sec; frac0 = fracNs; }
      add(pos + 16, incl, olen, pcapCode, (sec - sec0) * 1e9 + (fracNs - frac0), 0);
      info.frames++;
      pos += 16 + incl;
    }
    return pos;
  };

  const parsePcapng = (pos: number): number => {
    while (pos + 12 <= acc.length) {
      const raw = acc.readUInt32LE(pos);
      if (raw === PCAPNG_SHB) {
        const bom = acc.readUInt32LE(pos + 8);
        if (bom === 0x1a2b3c4d) ngLittle = true;
        else if (bom === 0x4d3c2b1a) ngLittle = false;
        else { if (!sawShb) throw new CaptureFormatError(name, base + pos + 8, `section header has a bad byte-order magic 0x${bom.toString(16)}`); damage(base + pos + 8, 'corrupt section header'); return pos; }
      } else if (!sawShb) {
        throw new CaptureFormatError(name, 0, 'not a pcapng file: it does not start with a section header block');
      }
      const L = ngLittle;
      const u32 = (o: number) => (L ? acc.readUInt32LE(o) : acc.readUInt32BE(o));
      const u16 = (o: number) => (L ? acc.readUInt16LE(o) : acc.readUInt16BE(o));
      const type = u32(pos);
      const len = u32(pos + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) { damage(base + pos, `block of type 0x${type.toString(16)} has an impossible length ${len}`); return pos; }
      if (pos + len > acc.length) break;
      if (u32(pos + len - 4) !== len) { damage(base + pos + len - 4, `block of type 0x${type.toString(16)}: trailing length ${u32(pos + len - 4)} differs from ${len} (corrupt)`); return pos; }
      const body = pos + 8;
      const end = pos + len - 4;
      const options = (from: number, each: (code: number, at: number, n: number) => void) => {
        for (let o = from; o + 4 <= end;) {
          const code = u16(o), m = u16(o + 2);
          if (code === 0 || o + 4 + m > end) break;
          each(code, o + 4, m);
          o += 4 + ((m + 3) & ~3);
        }
      };
      if (type === PCAPNG_SHB) {
        if (len < 28 || u16(body + 4) !== 1) {
          if (!sawShb) throw new CaptureFormatError(name, base + body + 4, `unsupported pcapng version ${u16(body + 4)}.${u16(body + 6)} (want 1.x)`);
          damage(base + pos, 'bad section header'); return pos;
        }
        sawShb = true;
        ngIfaces = [];
      } else if (type === 1 && len >= 20) {
        const lt = u16(body);
        const i: NgIface = { linkType: lt, code: batchLinkOf(lt) ?? 255, mul: 1000, div: 1, offsetNs: 0n, snaplen: u32(body + 4), hi0: 0, lo0: 0, global: info.interfaces.length };
        let ifName: string | undefined;
        options(body + 8, (code, at, m) => {
          if (code === 2) ifName = acc.toString('utf8', at, at + m).replace(/\0+$/, '');
          if (code === 9 && m >= 1) Object.assign(i, tsresol(acc[at]!));
          if (code === 14 && m >= 8) i.offsetNs = (L ? acc.readBigInt64LE(at) : acc.readBigInt64BE(at)) * 1_000_000_000n;
        });
        ngIfaces.push(i);
        info.interfaces.push({ linkType: lt, name: ifName, snaplen: i.snaplen });
      } else if ((type === 6 || type === 2) && len >= 32) {
        const id = type === 6 ? u32(body) : u16(body);
        const i = ngIfaces[id];
        if (!i) { damage(base + body, `packet block names interface ${id}, but only ${ngIfaces.length} were described`); return pos; }
        const hi = u32(body + 4), lo = u32(body + 8);
        const capLen = u32(body + 12), olen = u32(body + 16);
        if (body + 20 + capLen > end) { damage(base + body + 12, `packet block: captured length ${capLen} runs past its block`); return pos; }
        if (i.base === undefined) {
          const abs = ((BigInt(hi) << 32n) | BigInt(lo)) * BigInt(i.mul) / BigInt(i.div) + i.offsetNs;
          if (t0 === undefined) t0 = abs;
          i.base = Number(abs - t0); i.hi0 = hi; i.lo0 = lo;
        }
        lastT = i.base + ((hi - i.hi0) * 4294967296 + (lo - i.lo0)) * i.mul / i.div;
        add(body + 20, capLen, olen, i.code, lastT, i.global);
        info.frames++;
      } else if (type === 3 && len >= 16) {
        const i = ngIfaces[0];
        if (!i) { damage(base + pos, 'simple packet block before any interface description'); return pos; }
        const olen = u32(body);
        const capLen = Math.min(olen, end - body - 4, i.snaplen || Infinity);
        if (t0 === undefined) t0 = 0n;
        add(body + 4, capLen, olen, i.code, lastT, i.global);
        info.frames++;
      }
      pos += len;
    }
    return pos;
  };

  let frameNo = 1;
  for await (const chunk of chunks(source, info)) {
    info.bytes += chunk.length;
    acc = acc.length ? Buffer.concat([acc, chunk]) : chunk;
    let pos = 0;
    if (!started) {
      if (acc.length < 4) continue;
      if (acc.readUInt32LE(0) === PCAPNG_SHB) info.format = 'pcapng';
      else if (!parsePcapHeader()) continue;
      else pos = 24;
      started = true;
    }
    n = 0;
    pos = info.format === 'pcap' ? parsePcap(pos) : parsePcapng(pos);
    if (n) {
      onBatch({ buf: acc, n, recs, origLen: orig, t: ts, iface: ifc, firstFrame: frameNo });
      frameNo += n;
    }
    if (stopped) break;
    base += pos;
    acc = pos >= acc.length ? Buffer.alloc(0) : Buffer.from(acc.subarray(pos));
  }
  if (!started) {
    if (info.bytes === 0) throw new CaptureFormatError(name, 0, 'empty file: not a pcap or pcapng capture');
    throw new CaptureFormatError(name, 0, `truncated: ${info.bytes} byte(s) are not even a capture header`);
  }
  if (!stopped && acc.length) {
    const what = info.format === 'pcap'
      ? (acc.length < 16 ? `truncated: a record header needs 16 bytes, ${acc.length} left` : `truncated: the last record needs ${16 + (little ? acc.readUInt32LE(8) : acc.readUInt32BE(8))} bytes, ${acc.length} left`)
      : (acc.length < 12 ? `truncated: a block header needs 12 bytes, ${acc.length} left` : `truncated: the last block needs ${ngLittle ? acc.readUInt32LE(4) : acc.readUInt32BE(4)} bytes, ${acc.length} left`);
    damage(base, what);
  }
  if (info.format === 'pcapng' && !sawShb) throw new CaptureFormatError(name, 0, 'empty pcapng file');
  info.t0 = t0;
  return info;
}
