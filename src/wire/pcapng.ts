// pcapng writer (draft-ietf-opsawg-pcapng): one section, one Interface Description Block per capture
// point, Enhanced Packet Blocks with nanosecond timestamps, a direction flag and comments. It knows
// nothing of labs: callers hand it interfaces, packets and comment strings. (src/inspect/capture.ts reads it.)
import { writeFile } from 'node:fs/promises';
import { LINKTYPE } from './pcap.js';
import type { LinkType } from './types.js';

export interface PcapngInterface {
  /** if_name: who saw the packets, e.g. 'server:tcplab-1a2b-l0b'. */
  name: string;
  link: LinkType;
  /** if_description, optional. */
  description?: string;
  /** Default 262144. */
  snaplen?: number;
}

export interface PcapngPacket {
  /** Index into the interfaces list. */
  iface: number;
  /** Nanoseconds since the epoch (if_tsresol is 9). */
  tsNs: bigint;
  data: Uint8Array;
  /** Length on the wire; default data.length. */
  origLen?: number;
  /** epb_flags direction: 'in' inbound, 'out' outbound. */
  dir?: 'in' | 'out';
  /** One opt_comment each (Wireshark joins them in frame.comment). */
  comments?: readonly string[];
}

export interface PcapngFile {
  interfaces: readonly PcapngInterface[];
  packets: readonly PcapngPacket[];
  /** shb_userappl; default 'tcplab'. */
  application?: string;
  /** A section comment (opt_comment of the SHB), e.g. the lab and case. */
  comment?: string;
}

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;

const pad4 = (n: number) => (n + 3) & ~3;

/** Options: code, length, value padded to 32 bits, then opt_endofopt; nothing at all when there are none. */
function options(list: ReadonlyArray<readonly [number, Buffer]>, what: string): Buffer {
  if (!list.length) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of list) {
    if (value.length > 0xffff) throw new RangeError(`${what}: option ${code} is ${value.length} bytes, pcapng allows 65535`);
    const h = Buffer.alloc(4 + pad4(value.length));
    h.writeUInt16LE(code, 0);
    h.writeUInt16LE(value.length, 2);
    value.copy(h, 4);
    parts.push(h);
  }
  parts.push(Buffer.from([OPT_END, 0, 0, 0]));
  return Buffer.concat(parts);
}

/** type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

const text = (s: string) => Buffer.from(s, 'utf8');

/** The whole file as bytes (little-endian). Throws on bad input, naming the field. */
export function encodePcapng(f: PcapngFile): Buffer {
  if (!f || !Array.isArray(f.interfaces) || !Array.isArray(f.packets)) {
    throw new TypeError('pcapng: give {interfaces: [...], packets: [...]}');
  }
  if (f.interfaces.length === 0 && f.packets.length > 0) throw new RangeError('interfaces: packets need at least one interface');
  const interfaces: readonly PcapngInterface[] = f.interfaces;
  const packets: readonly PcapngPacket[] = f.packets;
  const out: Buffer[] = [];
  const shbHead = Buffer.alloc(16);
  shbHead.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
  shbHead.writeUInt16LE(1, 4);
  shbHead.writeUInt16LE(0, 6);
  shbHead.writeBigInt64LE(-1n, 8); // section length not given
  const shbOpts: Array<[number, Buffer]> = [];
  if (f.comment) shbOpts.push([OPT_COMMENT, text(f.comment)]);
  shbOpts.push([SHB_USERAPPL, text(f.application ?? 'tcplab')]);
  out.push(block(SHB, Buffer.concat([shbHead, options(shbOpts, 'section header')])));
  const snaplens: number[] = [];
  interfaces.forEach((ifc, i) => {
    const linkType = LINKTYPE[ifc?.link];
    if (linkType === undefined) throw new TypeError(`interfaces[${i}].link: must be 'ethernet', 'sll' or 'raw', got ${JSON.stringify(ifc?.link)}`);
    if (typeof ifc.name !== 'string' || !ifc.name) throw new TypeError(`interfaces[${i}].name: required (who saw the packets)`);
    const snaplen = ifc.snaplen ?? 262144;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) throw new RangeError(`interfaces[${i}].snaplen: an integer 1..2147483647, got ${snaplen}`);
    snaplens.push(snaplen);
    const h = Buffer.alloc(8);
    h.writeUInt16LE(linkType, 0);
    h.writeUInt32LE(snaplen, 4);
    const o: Array<[number, Buffer]> = [[IF_NAME, text(ifc.name)]];
    if (ifc.description) o.push([IF_DESCRIPTION, text(ifc.description)]);
    o.push([IF_TSRESOL, Buffer.from([9])]); // 10^-9 s
    out.push(block(IDB, Buffer.concat([h, options(o, `interfaces[${i}]`)])));
  });
  packets.forEach((p, i) => {
    const what = `packets[${i}]`;
    if (!Number.isInteger(p?.iface) || p.iface < 0 || p.iface >= interfaces.length) {
      throw new RangeError(`${what}.iface: an index into interfaces (0..${interfaces.length - 1}), got ${p?.iface}`);
    }
    if (!(p.data instanceof Uint8Array)) throw new TypeError(`${what}.data: must be a Uint8Array`);
    if (typeof p.tsNs !== 'bigint' || p.tsNs < 0n || p.tsNs > 0xffffffffffffffffn) {
      throw new TypeError(`${what}.tsNs: a non-negative 64-bit bigint (nanoseconds), got ${String(p.tsNs)}`);
    }
    const capLen = Math.min(p.data.length, snaplens[p.iface]!);
    const origLen = p.origLen ?? p.data.length;
    if (!Number.isInteger(origLen) || origLen < p.data.length || origLen > 0xffffffff) {
      throw new RangeError(`${what}.origLen: an integer >= data.length (${p.data.length}), got ${origLen}`);
    }
    const h = Buffer.alloc(20 + pad4(capLen));
    h.writeUInt32LE(p.iface, 0);
    h.writeUInt32LE(Number(p.tsNs >> 32n), 4);
    h.writeUInt32LE(Number(p.tsNs & 0xffffffffn), 8);
    h.writeUInt32LE(capLen, 12);
    h.writeUInt32LE(origLen, 16);
    Buffer.from(p.data.buffer, p.data.byteOffset, capLen).copy(h, 20);
    const o: Array<[number, Buffer]> = [];
    for (const c of p.comments ?? []) if (c) o.push([OPT_COMMENT, text(c)]);
    if (p.dir !== undefined) {
      if (p.dir !== 'in' && p.dir !== 'out') throw new TypeError(`${what}.dir: 'in' or 'out', got ${JSON.stringify(p.dir)}`);
      const fl = Buffer.alloc(4);
      fl.writeUInt32LE(p.dir === 'in' ? 1 : 2, 0);
      o.push([EPB_FLAGS, fl]);
    }
    out.push(block(EPB, Buffer.concat([h, options(o, what)])));
  });
  return Buffer.concat(out);
}

export async function writePcapng(path: string, f: PcapngFile): Promise<void> {
  await writeFile(path, encodePcapng(f));
}
