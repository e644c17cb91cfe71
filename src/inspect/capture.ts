// Reading captures made by anyone: classic/ns pcap (through src/wire/pcap.ts) and pcapng (the reader below:
// SHB/IDB/EPB/SPB/PB, both byte orders, if_tsresol and if_tsoffset), and turning link layers tcplab's
// decoder does not know (Linux cooked v2, BSD loopback, raw IPv4/IPv6) into ones it does.
import { open, readFile } from 'node:fs/promises';
import { PcapFormatError, readPcap } from '../wire/pcap.js';
import type { LinkType } from '../wire/types.js';

/** A truncated or malformed capture: names the file and the byte offset where reading stopped. */
export class CaptureFormatError extends Error {
  constructor(readonly path: string, readonly offset: number, readonly detail: string) {
    super(`capture ${path}: ${detail} (at byte offset ${offset})`);
    this.name = 'CaptureFormatError';
  }
}

export interface CaptureFrame {
  /** 1-based position in the file, as Wireshark numbers frames. */
  index: number;
  /** Nanoseconds since the epoch; an SPB (no timestamp) repeats the previous frame's. */
  tsNs: bigint;
  data: Uint8Array;
  origLen: number;
  /** LINKTYPE_ number of the interface the frame was captured on. */
  linkType: number;
  /** Index into CaptureFile.interfaces (across all pcapng sections). */
  iface: number;
}

export interface CaptureInterface {
  linkType: number;
  name?: string;
  snaplen: number;
}

export interface CaptureFile {
  path: string;
  format: 'pcap' | 'pcapng';
  interfaces: CaptureInterface[];
  frames: CaptureFrame[];
}

const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;

/** Reads a pcap or pcapng file. Throws CaptureFormatError (file + offset) for truncated/corrupt files. */
export async function readCapture(path: string): Promise<CaptureFile> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(4);
  let n: number;
  try {
    ({ bytesRead: n } = await fh.read(head, 0, 4, 0));
  } finally {
    await fh.close();
  }
  if (n === 0) throw new CaptureFormatError(path, 0, 'empty file: not a pcap or pcapng capture');
  if (n === 4 && head.readUInt32LE(0) === PCAPNG_SHB) return parsePcapng(await readFile(path), path);
  try {
    const f = await readPcap(path);
    return {
      path,
      format: 'pcap',
      interfaces: [{ linkType: f.linkType, snaplen: f.snaplen }],
      frames: f.records.map((r, i) => ({ index: i + 1, tsNs: r.tsNs, data: r.data, origLen: r.origLen, linkType: f.linkType, iface: 0 })),
    };
  } catch (e) {
    if (!(e instanceof PcapFormatError)) throw e;
    // The offset where reading stopped: after the global header and every complete record.
    const offset = e.records.length === 0 && /global header|not a pcap|version/.test(e.message)
      ? 0
      : e.records.reduce((o, r) => o + 16 + r.data.length, 24);
    const detail = e.message.replace(/^pcap [^:]*: /, '').replace(/^not a pcap file \(magic (0x[0-9a-f]+); pcapng is not supported\)/,
      'not a pcap or pcapng capture (magic $1)');
    throw new CaptureFormatError(path, offset, detail);
  }
}

interface Iface extends CaptureInterface {
  /** Timestamp units to nanoseconds: ns = units * mul / div. */
  mul: bigint;
  div: bigint;
  offsetNs: bigint;
}

function tsresol(v: number): { mul: bigint; div: bigint } {
  if (v & 0x80) return { mul: 1_000_000_000n, div: 1n << BigInt(v & 0x7f) };
  const exp = v & 0x7f;
  return exp <= 9 ? { mul: 10n ** BigInt(9 - exp), div: 1n } : { mul: 1n, div: 10n ** BigInt(exp - 9) };
}

/** The pcapng reader over an in-memory file (exported for tests). */
export function parsePcapng(buf: Buffer, path = '<buffer>'): CaptureFile {
  const fail = (offset: number, detail: string): never => { throw new CaptureFormatError(path, offset, detail); };
  const frames: CaptureFrame[] = [];
  const allIfaces: CaptureInterface[] = [];
  let ifaces: Iface[] = [];
  let ifaceBase = 0; // interface ids are per section; CaptureFrame.iface indexes all of them
  let little = true;
  let lastTs = 0n;
  let off = 0;
  let sawShb = false;
  while (off < buf.length) {
    if (off + 12 > buf.length) fail(off, `truncated: a block header needs 12 bytes, ${buf.length - off} left`);
    const rawType = buf.readUInt32LE(off);
    if (rawType === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(off + 8);
      if (bom === BOM) little = true;
      else if (bom === 0x4d3c2b1a) little = false;
      else fail(off + 8, `section header has a bad byte-order magic 0x${bom.toString(16)}`);
      sawShb = true;
      ifaces = [];
      ifaceBase = allIfaces.length;
    } else if (!sawShb) {
      fail(0, 'not a pcapng file: it does not start with a section header block');
    }
    const u32 = (o: number) => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const u16 = (o: number) => (little ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const type = u32(off);
    const len = u32(off + 4);
    if (len < 12 || len % 4 !== 0) fail(off, `block of type 0x${type.toString(16)} has an impossible length ${len}`);
    if (off + len > buf.length) fail(off, `truncated: block of type 0x${type.toString(16)} needs ${len} bytes, ${buf.length - off} left`);
    if (u32(off + len - 4) !== len) fail(off + len - 4, `block of type 0x${type.toString(16)}: trailing length ${u32(off + len - 4)} differs from ${len} (corrupt)`);
    const body = off + 8;
    const end = off + len - 4;
    const options = (from: number, each: (code: number, at: number, n: number) => void) => {
      let o = from;
      while (o + 4 <= end) {
        const code = u16(o);
        const n = u16(o + 2);
        if (code === 0) break;
        if (o + 4 + n > end) fail(o, `option ${code} runs past the end of its block`);
        each(code, o + 4, n);
        o += 4 + ((n + 3) & ~3);
      }
    };
    switch (type) {
      case PCAPNG_SHB: {
        if (len < 28) fail(off, 'section header block too short');
        const major = u16(body + 4);
        if (major !== 1) fail(body + 4, `unsupported pcapng version ${major}.${u16(body + 6)} (want 1.x)`);
        break;
      }
      case 1: { // IDB
        if (len < 20) fail(off, 'interface description block too short');
        const iface: Iface = { linkType: u16(body), snaplen: u32(body + 4), mul: 1000n, div: 1n, offsetNs: 0n };
        options(body + 8, (code, at, n) => {
          if (code === 2) iface.name = buf.toString('utf8', at, at + n).replace(/\0+$/, '');
          if (code === 9 && n >= 1) Object.assign(iface, tsresol(buf[at]!));
          if (code === 14 && n >= 8) iface.offsetNs = (little ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at)) * 1_000_000_000n;
        });
        ifaces.push(iface);
        allIfaces.push({ linkType: iface.linkType, name: iface.name, snaplen: iface.snaplen });
        break;
      }
      case 6: // EPB
      case 2: { // obsolete packet block
        const hdr = 20;
        if (len < 12 + hdr) fail(off, `packet block too short (${len} bytes)`);
        const id = type === 6 ? u32(body) : u16(body);
        const iface = ifaces[id];
        if (!iface) fail(body, `packet block names interface ${id}, but only ${ifaces.length} interface(s) were described`);
        const units = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
        const capLen = u32(body + 12);
        const origLen = u32(body + 16);
        if (body + hdr + capLen > end) fail(body + 12, `packet block: captured length ${capLen} runs past the end of its block`);
        lastTs = (units * iface!.mul) / iface!.div + iface!.offsetNs;
        frames.push({ index: frames.length + 1, tsNs: lastTs, data: Buffer.from(buf.subarray(body + hdr, body + hdr + capLen)), origLen, linkType: iface!.linkType, iface: ifaceBase + id });
        break;
      }
      case 3: { // SPB: interface 0, no timestamp
        const iface = ifaces[0];
        if (!iface) fail(off, 'simple packet block before any interface description');
        const origLen = u32(body);
        const capLen = Math.min(origLen, end - body - 4, iface!.snaplen || Infinity);
        frames.push({ index: frames.length + 1, tsNs: lastTs, data: Buffer.from(buf.subarray(body + 4, body + 4 + capLen)), origLen, linkType: iface!.linkType, iface: ifaceBase });
        break;
      }
      default:
        break; // name resolution, statistics, decryption secrets, custom blocks: not needed here
    }
    off += len;
  }
  if (!sawShb) fail(0, 'empty pcapng file');
  return { path, format: 'pcapng', interfaces: allIfaces, frames };
}

const LT = { NULL: 0, ETHERNET: 1, RAW_OLD: 12, RAW: 101, LOOP: 108, SLL: 113, IPV4: 228, IPV6: 229, SLL2: 276 } as const;

export const LINKTYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'null', 1: 'ethernet', 12: 'raw', 101: 'raw', 108: 'loop', 113: 'sll', 228: 'ipv4', 229: 'ipv6', 276: 'sll2',
};

/**
 * A frame in a link type decode() knows, or why not. Cooked v2 and BSD loopback carry an IP datagram
 * after a fixed header, so they become 'raw' after cutting it.
 */
export function decodableFrame(linkType: number, data: Uint8Array): { link: LinkType; data: Uint8Array } | { skip: string } {
  switch (linkType) {
    case LT.ETHERNET: return { link: 'ethernet', data };
    case LT.SLL: return { link: 'sll', data };
    case LT.RAW: case LT.RAW_OLD: case LT.IPV4: case LT.IPV6: return { link: 'raw', data };
    case LT.SLL2: {
      if (data.length < 20) return { skip: 'truncated Linux cooked v2 header' };
      const proto = (data[0]! << 8) | data[1]!;
      return proto === 0x0800 || proto === 0x86dd ? { link: 'raw', data: data.subarray(20) } : { skip: 'not IP' };
    }
    case LT.NULL: case LT.LOOP: {
      if (data.length < 4) return { skip: 'truncated loopback header' };
      const v = data[4] === undefined ? 0 : data[4] >> 4; // the family field's byte order varies: look at the IP version
      return v === 4 || v === 6 ? { link: 'raw', data: data.subarray(4) } : { skip: 'not IP' };
    }
    default:
      return { skip: `link type ${linkType} (${LINKTYPE_NAMES[linkType] ?? 'unknown'}) is not supported` };
  }
}
