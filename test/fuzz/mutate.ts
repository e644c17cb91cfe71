// Mutators: byte-level (flip, set interesting values, insert, delete, truncate, extend, splice) and
// structure-aware (IP/TCP header length fields, option lengths, pcap/pcapng record lengths), so that
// inputs get past the first length check instead of dying at it.
import type { Rng } from './rng.js';
import type { LinkType } from '../../src/wire/types.js';

const INTERESTING8 = [0, 1, 2, 3, 4, 5, 8, 0x0f, 0x10, 0x20, 0x40, 0x45, 0x46, 0x4f, 0x50, 0x60, 0x7f, 0x80, 0xf0, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff, 20, 40, 60, 1500];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 12, 16, 28, 65535, 65536, 262144];

/** Where the IP header starts for a link type (sll: 16, ethernet: 14, raw: 0). */
export function ipOffset(link: LinkType, frame: Uint8Array): number {
  if (link === 'ethernet') return frame.length >= 14 && frame[12] === 0x81 && frame[13] === 0x00 ? 18 : 14;
  return link === 'sll' ? 16 : 0;
}

function put16(b: Buffer, o: number, v: number): void {
  if (o + 2 <= b.length) b.writeUInt16BE(v & 0xffff, o);
}
function put32(b: Buffer, o: number, v: number, le = false): void {
  if (o + 4 <= b.length) le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o);
}

/** A few byte-level mutations of `seed` (a copy; `seed` is not touched). */
export function mutateBytes(rng: Rng, seed: Uint8Array, other?: Uint8Array): Buffer {
  let b = Buffer.from(seed);
  const n = 1 + rng.int(rng.chance(0.2) ? 16 : 4);
  for (let k = 0; k < n; k++) {
    const at = rng.int(Math.max(b.length, 1));
    switch (rng.int(10)) {
      case 0: if (b.length) b[at] = b[at]! ^ (1 << rng.int(8)); break;
      case 1: if (b.length) b[at] = rng.pick(INTERESTING8); break;
      case 2: put16(b, at, rng.pick(INTERESTING16)); break;
      case 3: put32(b, at, rng.pick(INTERESTING32), rng.chance(0.5)); break;
      case 4: if (b.length) b[at] = rng.u32() & 0xff; break;
      case 5: b = b.subarray(0, rng.int(b.length + 1)); break; // truncate
      case 6: b = Buffer.concat([b, rng.bytes(1 + rng.int(64))]); break; // extend
      case 7: b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]); break; // insert
      case 8: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(8)))]); break; // delete
      case 9: // splice the tail of another input
        if (other && other.length) b = Buffer.concat([b.subarray(0, at), Buffer.from(other.subarray(rng.int(other.length)))]);
        break;
    }
  }
  return b;
}

/** Header-aware mutation of a frame: lengths that lie, options that run over, versions that differ. */
export function mutateHeaders(rng: Rng, link: LinkType, seed: Uint8Array): Buffer {
  const b = Buffer.from(seed);
  const ip = ipOffset(link, b);
  if (b.length <= ip) return b;
  const v6 = b[ip]! >> 4 === 6;
  const tcp = v6 ? ip + 40 : ip + ((b[ip]! & 0x0f) * 4);
  switch (rng.int(9)) {
    case 0: b[ip] = (b[ip]! & 0xf0) | rng.int(16); break; // IHL
    case 1: put16(b, v6 ? ip + 4 : ip + 2, rng.pick(INTERESTING16)); break; // total / payload length
    case 2: if (tcp + 12 < b.length) b[tcp + 12] = (rng.int(16) << 4) | (b[tcp + 12]! & 0x0f); break; // data offset
    case 3: { // an option length byte somewhere in the option space
      const o = tcp + 20 + rng.int(40);
      if (o < b.length) b[o] = rng.pick(INTERESTING8);
      break;
    }
    case 4: b[ip] = (rng.pick([4, 6, 0, 5, 15]) << 4) | (b[ip]! & 0x0f); break; // version
    case 5: if (!v6 && ip + 9 < b.length) b[ip + 9] = rng.pick([6, 17, 1, 0, 255]); else if (v6 && ip + 6 < b.length) b[ip + 6] = rng.pick([6, 0, 43, 44, 60, 17]); break; // protocol / next header
    case 6: if (!v6) put16(b, ip + 6, rng.pick([0x2000, 0x4000, 0x0001, 0x1fff, 0xffff])); break; // fragment fields
    case 7: if (link !== 'raw') put16(b, ip - 2, rng.pick([0x0800, 0x86dd, 0x8100, 0x0806, 0])); break; // ethertype
    case 8: if (tcp + 20 <= b.length) b.fill(rng.pick([0x01, 0x00, 0xff]), tcp + 20, Math.min(b.length, tcp + 20 + rng.int(44))); break; // option space filler
  }
  return b;
}

/** Completely random bytes, biased to start like an IP header sometimes. */
export function randomFrame(rng: Rng): Buffer {
  const b = rng.bytes(rng.int(rng.chance(0.9) ? 128 : 2048));
  if (b.length && rng.chance(0.5)) b[0] = rng.chance(0.5) ? 0x45 : 0x60;
  return b;
}

/** Mutations that respect a capture file's record framing some of the time (lengths lie, blocks cut). */
export function mutateFile(rng: Rng, format: 'pcap' | 'pcapng', seed: Buffer): Buffer {
  if (rng.chance(0.4)) return mutateBytes(rng, seed);
  const b = Buffer.from(seed);
  if (format === 'pcap') {
    // record headers: walk them and corrupt one of capLen/origLen/ts fields, or cut the file inside one
    const offs: number[] = [];
    const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
    for (let o = 24; o + 16 <= b.length; o += 16 + (le ? b.readUInt32LE(o + 8) : b.readUInt32BE(o + 8))) offs.push(o);
    const o = offs.length ? rng.pick(offs) : 24;
    switch (rng.int(5)) {
      case 0: put32(b, o + 8, rng.pick(INTERESTING32), le); break;
      case 1: put32(b, o + 12, rng.pick(INTERESTING32), le); break;
      case 2: put32(b, o + 4, rng.pick(INTERESTING32), le); break;
      case 3: return b.subarray(0, Math.min(b.length, o + rng.int(40))); // cut mid-record
      case 4: put32(b, 20, rng.pick([1, 101, 113, 276, 0, 108, 228, 229, 12, 0xffffffff]), le); break; // link type
    }
    // and a frame-level mutation of one record's bytes half of the time
    if (rng.chance(0.5) && o + 16 < b.length) {
      const at = o + 16 + rng.int(Math.min(80, b.length - o - 16));
      b[at] = rng.u32() & 0xff;
    }
    return b;
  }
  const blocks: number[] = [];
  for (let o = 0; o + 12 <= b.length;) {
    const len = b.readUInt32LE(o + 4);
    if (len < 12 || len % 4) break;
    blocks.push(o);
    o += len;
  }
  const o = blocks.length ? rng.pick(blocks) : 0;
  switch (rng.int(6)) {
    case 0: put32(b, o + 4, rng.pick(INTERESTING32), true); break; // block length
    case 1: put32(b, o + 8, rng.pick([0, 1, 2, 7, 0xffff, 0xffffffff]), true); break; // interface id / SHB magic
    case 2: put32(b, o + 20, rng.pick(INTERESTING32), true); break; // EPB captured length
    case 3: return b.subarray(0, Math.min(b.length, o + rng.int(48))); // cut mid-block
    case 4: { // an option: tsresol / name length
      const at = o + 16 + rng.int(16);
      put16(b, at, rng.pick([9, 2, 14, 0, 0xffff]));
      put16(b, at + 2, rng.pick([1, 8, 0xffff, 3, 0]));
      break;
    }
    case 5: put32(b, o, rng.pick([1, 2, 3, 6, 5, 0x0a0d0d0a, 0x40000001]), true); break; // block type
  }
  return b;
}
