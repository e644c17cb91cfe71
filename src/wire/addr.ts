// IP addresses and prefixes as bytes: parsing (errors name the field) and containment, for matches and
// their BPF form.
import { isIP } from 'node:net';

export interface Prefix {
  family: 4 | 6;
  bytes: Uint8Array;
  len: number;
}

/** Parses an IPv4/IPv6 literal to its bytes, or undefined. */
export function parseIp(s: string): Uint8Array | undefined {
  const v = isIP(s);
  if (v === 4) return Uint8Array.from(s.split('.').map(Number));
  if (v !== 6) return undefined;
  let str = s.split('%')[0] ?? s;
  const tail: number[] = [];
  const lastColon = str.lastIndexOf(':');
  if (str.slice(lastColon + 1).includes('.')) {
    // Embedded IPv4 (::ffff:1.2.3.4): turn it into two hex groups.
    const v4 = str.slice(lastColon + 1).split('.').map(Number);
    str = `${str.slice(0, lastColon + 1)}${(((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16)}:${(((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16)}`;
  }
  const [head, rest] = str.split('::') as [string, string | undefined];
  const groups = (x: string): number[] => (x === '' ? [] : x.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = rest === undefined ? [] : groups(rest);
  tail.push(...t);
  const fill = rest === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Parses 'addr' or 'addr/len'. TypeError/RangeError naming the field. */
export function parsePrefix(s: unknown, field: string): Prefix {
  if (typeof s !== 'string') throw new TypeError(`${field}: must be an IP address or prefix string, e.g. '198.18.0.2' or '2001:2::/48'`);
  const [addr, lenStr, extra] = s.split('/');
  const bytes = parseIp(addr ?? '');
  if (!bytes || extra !== undefined) throw new TypeError(`${field}: '${s}' is not an IP address or prefix (e.g. '198.18.0.2' or '198.18.0.0/15')`);
  const family = bytes.length === 4 ? 4 : 6;
  const max = bytes.length * 8;
  const len = lenStr === undefined ? max : Number(lenStr);
  if (!Number.isInteger(len) || len < 0 || len > max || (lenStr !== undefined && !/^\d+$/.test(lenStr))) {
    throw new RangeError(`${field}: prefix length in '${s}' must be 0..${max}`);
  }
  return { family, bytes, len };
}

/** True when `addr` (literal) lies inside `p`. */
export function prefixContains(p: Prefix, addr: string): boolean {
  const b = parseIp(addr);
  if (!b || b.length !== p.bytes.length) return false;
  for (let bit = 0; bit < p.len; bit += 8) {
    const i = bit / 8;
    const n = Math.min(8, p.len - bit);
    const mask = (0xff << (8 - n)) & 0xff;
    if (((b[i] ?? 0) & mask) !== ((p.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** (value, mask) pairs of the 32-bit words a prefix constrains (words with an empty mask are skipped). */
export function prefixWords(p: Prefix): Array<{ word: number; value: number; mask: number }> {
  const out: Array<{ word: number; value: number; mask: number }> = [];
  for (let w = 0; w < p.bytes.length / 4; w++) {
    const bits = Math.max(0, Math.min(32, p.len - w * 32));
    if (bits === 0) continue;
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    const value = (((p.bytes[w * 4]! << 24) | (p.bytes[w * 4 + 1]! << 16) | (p.bytes[w * 4 + 2]! << 8) | p.bytes[w * 4 + 3]!) >>> 0) & mask;
    out.push({ word: w, value: value >>> 0, mask });
  }
  return out;
}
