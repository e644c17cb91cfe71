// A typed packet match, compiled to a classic BPF pre-filter for Ethernet frames (so the kernel drops what
// we never look at) and evaluated exactly in JS on decoded segments (the BPF cannot see IPv6 extension
// headers; the JS match is the truth).
import { isIP } from 'node:net';
import { parseFlags } from './flags.js';
import type { FlagsInput, Segment } from './types.js';

export interface Match {
  /** Source address or prefix ('198.18.0.2', '198.18.0.0/15', '2001:2::/48'). */
  src?: string;
  dst?: string;
  /** Either side. */
  host?: string;
  sport?: number;
  dport?: number;
  /** Either side. */
  port?: number;
  /** Only TCP is matched (the decoder decodes TCP). */
  proto?: 'tcp';
  /** Flags that must be set / must be clear, e.g. {set: 'S.'} for a SYN-ACK, {set: 'R'} for any reset. */
  flags?: { set?: FlagsInput; unset?: FlagsInput };
  family?: 4 | 6;
}

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const MATCH_KEYS = new Set(['src', 'dst', 'host', 'sport', 'dport', 'port', 'proto', 'flags', 'family']);

// ---- addresses ---------------------------------------------------------------------------------------

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
function prefixWords(p: Prefix): Array<{ word: number; value: number; mask: number }> {
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

// ---- flags -------------------------------------------------------------------------------------------

/** Flag bits via parseFlags (flags.ts), with errors naming the match field instead of 'flags'. */
export function flagBitsOf(input: FlagsInput, field: string): number {
  try {
    return parseFlags(input);
  } catch (e) {
    if (e instanceof TypeError) throw new TypeError(e.message.replace(/^flags:/, `${field}:`));
    if (e instanceof RangeError) throw new RangeError(e.message.replace(/^flags:/, `${field}:`));
    throw e;
  }
}

// ---- validation --------------------------------------------------------------------------------------

interface Resolved {
  family?: 4 | 6;
  src?: Prefix;
  dst?: Prefix;
  host?: Prefix;
  sport?: number;
  dport?: number;
  port?: number;
  set: number;
  unset: number;
}

function port(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new RangeError(`${field}: must be a port number 0..65535`);
  return v;
}

/** Validates a Match (TypeError/RangeError naming the field) and resolves its parts. */
function resolve(m: Match): Resolved {
  if (m === null || typeof m !== 'object') throw new TypeError('match: must be an object like {dport: 80, flags: {set: "S."}}');
  for (const k of Object.keys(m)) {
    if (!MATCH_KEYS.has(k)) throw new TypeError(`match.${k}: unknown field (known: ${[...MATCH_KEYS].join(', ')})`);
  }
  if (m.proto !== undefined && m.proto !== 'tcp') throw new RangeError(`match.proto: only 'tcp' is supported`);
  if (m.family !== undefined && m.family !== 4 && m.family !== 6) throw new RangeError('match.family: must be 4 or 6');
  const r: Resolved = { set: 0, unset: 0 };
  if (m.src !== undefined) r.src = parsePrefix(m.src, 'match.src');
  if (m.dst !== undefined) r.dst = parsePrefix(m.dst, 'match.dst');
  if (m.host !== undefined) r.host = parsePrefix(m.host, 'match.host');
  let family = m.family;
  for (const [name, p] of [['src', r.src], ['dst', r.dst], ['host', r.host]] as const) {
    if (!p) continue;
    if (family !== undefined && family !== p.family) {
      throw new TypeError(`match.${name}: IPv${p.family} address but the match is for IPv${family} (family or another address)`);
    }
    family = p.family;
  }
  if (family !== undefined) r.family = family;
  const sp = port(m.sport, 'match.sport');
  const dp = port(m.dport, 'match.dport');
  const pp = port(m.port, 'match.port');
  if (sp !== undefined) r.sport = sp;
  if (dp !== undefined) r.dport = dp;
  if (pp !== undefined) r.port = pp;
  if (m.flags !== undefined) {
    if (m.flags === null || typeof m.flags !== 'object') throw new TypeError("match.flags: must be {set?, unset?}, e.g. {set: 'S.', unset: 'R'}");
    if (m.flags.set !== undefined) r.set = flagBitsOf(m.flags.set, 'match.flags.set');
    if (m.flags.unset !== undefined) r.unset = flagBitsOf(m.flags.unset, 'match.flags.unset');
    if (r.set & r.unset) throw new RangeError('match.flags: a flag cannot be both set and unset');
  }
  return r;
}

// ---- JS matching -------------------------------------------------------------------------------------

/** Exact match of a decoded segment (the BPF filter is only a pre-filter). */
export function matchSegment(match: Match, seg: Segment): boolean {
  const r = resolve(match);
  if (r.family !== undefined && seg.family !== r.family) return false;
  if (r.src && !prefixContains(r.src, seg.src)) return false;
  if (r.dst && !prefixContains(r.dst, seg.dst)) return false;
  if (r.host && !prefixContains(r.host, seg.src) && !prefixContains(r.host, seg.dst)) return false;
  if (r.sport !== undefined && seg.sport !== r.sport) return false;
  if (r.dport !== undefined && seg.dport !== r.dport) return false;
  if (r.port !== undefined && seg.sport !== r.port && seg.dport !== r.port) return false;
  if ((seg.flagBits & r.set) !== r.set) return false;
  if ((seg.flagBits & r.unset) !== 0) return false;
  return true;
}

/** A matcher with the validation done once (for hot paths). */
export function matcher(match: Match): (seg: Segment) => boolean {
  resolve(match);
  return (seg) => matchSegment(match, seg);
}

/** Human-readable form for error messages: "tcp src 198.18.0.2 dport 80 flags S./!R". */
export function describeMatch(m: Match): string {
  const parts = ['tcp'];
  if (m.family) parts.push(`ip${m.family === 6 ? '6' : ''}`);
  for (const k of ['src', 'dst', 'host', 'sport', 'dport', 'port'] as const) if (m[k] !== undefined) parts.push(`${k} ${m[k]}`);
  if (m.flags) {
    const f = (x: FlagsInput | undefined): string => (x === undefined ? '' : Array.isArray(x) ? x.join('|') : String(x));
    parts.push(`flags ${f(m.flags.set)}${m.flags.unset !== undefined ? `/!${f(m.flags.unset)}` : ''}`);
  }
  return parts.join(' ');
}

// ---- BPF compiler ------------------------------------------------------------------------------------

// Opcodes (linux/filter.h).
export const BPF = {
  LD_W_ABS: 0x20, LD_H_ABS: 0x28, LD_B_ABS: 0x30,
  LD_W_IND: 0x40, LD_H_IND: 0x48, LD_B_IND: 0x50,
  LDX_B_MSH: 0xb1,
  ALU_AND_K: 0x54,
  JA: 0x05, JEQ_K: 0x15, JGT_K: 0x25, JGE_K: 0x35, JSET_K: 0x45,
  RET_K: 0x06,
} as const;

const ACCEPT_LEN = 262144;
type Target = number | string; // 0 = fall through; a string is a label

interface Op {
  code: number;
  jt: Target;
  jf: Target;
  k: number | string; // string = label (for JA)
  labels: string[];
}

class Asm {
  ops: Op[] = [];
  private pending: string[] = [];
  private n = 0;
  fresh(name: string): string {
    return `${name}${this.n++}`;
  }
  label(l: string): void {
    this.pending.push(l);
  }
  op(code: number, k: number | string, jt: Target = 0, jf: Target = 0): void {
    this.ops.push({ code, jt, jf, k, labels: this.pending });
    this.pending = [];
  }
  /** A must equal k (after an optional mask) or jump to `fail`. */
  require(load: number, off: number, value: number, mask: number, fail: string): void {
    this.op(load, off);
    if (mask !== 0xffffffff) this.op(BPF.ALU_AND_K, mask);
    this.op(BPF.JEQ_K, value, 0, fail);
  }
  assemble(): BpfInsn[] {
    const pos = new Map<string, number>();
    this.ops.forEach((o, i) => {
      for (const l of o.labels) pos.set(l, i);
    });
    const at = (t: Target, i: number): number => {
      if (typeof t === 'number') return t;
      const p = pos.get(t);
      if (p === undefined) throw new Error(`bpf: internal error, undefined label ${t}`);
      const d = p - i - 1;
      if (d < 0 || d > 255) throw new RangeError(`match: too complex for classic BPF (jump of ${d})`);
      return d;
    };
    return this.ops.map((o, i) => ({
      code: o.code,
      jt: at(o.jt, i),
      jf: at(o.jf, i),
      k: typeof o.k === 'string' ? (pos.get(o.k)! - i - 1) : o.k >>> 0,
    }));
  }
}

/** Address offsets (from the frame start) of src/dst in IPv4 and IPv6 over Ethernet. */
const ADDR = { 4: { src: 26, dst: 30 }, 6: { src: 22, dst: 38 } } as const;

function emitAddr(a: Asm, fam: 4 | 6, which: 'src' | 'dst', p: Prefix, fail: string): void {
  for (const w of prefixWords(p)) a.require(BPF.LD_W_ABS, ADDR[fam][which] + w.word * 4, w.value, w.mask, fail);
}

function emitFamily(a: Asm, r: Resolved, fam: 4 | 6, reject: string): void {
  if (fam === 4) {
    a.require(BPF.LD_B_ABS, 23, 6, 0xffffffff, reject); // protocol TCP
    a.op(BPF.LD_H_ABS, 20); // fragment offset must be 0, or there is no TCP header here
    a.op(BPF.JSET_K, 0x1fff, reject, 0);
  } else {
    a.require(BPF.LD_B_ABS, 20, 6, 0xffffffff, reject); // next header TCP (no extension headers)
  }
  if (r.src) emitAddr(a, fam, 'src', r.src, reject);
  if (r.dst) emitAddr(a, fam, 'dst', r.dst, reject);
  if (r.host) {
    const tryDst = a.fresh('hostdst');
    const ok = a.fresh('hostok');
    emitAddr(a, fam, 'src', r.host, tryDst);
    a.op(BPF.JA, ok);
    a.label(tryDst);
    emitAddr(a, fam, 'dst', r.host, reject);
    a.label(ok);
  }
  // TCP header: IPv4 at 14 + IHL*4 (X), IPv6 at a fixed 54.
  let ld: { h: number; b: number; base: number };
  if (fam === 4) {
    a.op(BPF.LDX_B_MSH, 14);
    ld = { h: BPF.LD_H_IND, b: BPF.LD_B_IND, base: 14 };
  } else {
    ld = { h: BPF.LD_H_ABS, b: BPF.LD_B_ABS, base: 54 };
  }
  if (r.sport !== undefined) a.require(ld.h, ld.base, r.sport, 0xffffffff, reject);
  if (r.dport !== undefined) a.require(ld.h, ld.base + 2, r.dport, 0xffffffff, reject);
  if (r.port !== undefined) {
    const ok = a.fresh('portok');
    a.op(ld.h, ld.base);
    a.op(BPF.JEQ_K, r.port, ok, 0);
    a.op(ld.h, ld.base + 2);
    a.op(BPF.JEQ_K, r.port, 0, reject);
    a.label(ok);
  }
  if (r.set | r.unset) {
    a.op(ld.b, ld.base + 13);
    a.op(BPF.ALU_AND_K, r.set | r.unset);
    a.op(BPF.JEQ_K, r.set, 0, reject);
  }
  a.op(BPF.RET_K, ACCEPT_LEN);
}

/** Compiles a Match into a classic BPF program for Ethernet frames (IPv4 with any IHL, IPv6 TCP). */
export function compileMatch(match: Match = {}): BpfInsn[] {
  const r = resolve(match);
  const a = new Asm();
  const reject = 'reject';
  const v6 = 'v6';
  a.op(BPF.LD_H_ABS, 12);
  if (r.family !== 6) {
    a.op(BPF.JEQ_K, 0x0800, 0, r.family === 4 ? reject : v6);
    emitFamily(a, r, 4, reject);
  }
  if (r.family !== 4) {
    a.label(v6);
    if (r.family === 6) a.op(BPF.JEQ_K, 0x86dd, 0, reject);
    else {
      a.op(BPF.LD_H_ABS, 12);
      a.op(BPF.JEQ_K, 0x86dd, 0, reject);
    }
    emitFamily(a, r, 6, reject);
  }
  a.label(reject);
  a.op(BPF.RET_K, 0);
  return a.assemble();
}

/** Runs a classic BPF program over a frame (the subset compileMatch emits); returns the accept length. */
export function runBpf(prog: readonly BpfInsn[], pkt: Uint8Array): number {
  let A = 0;
  let X = 0;
  const u8 = (o: number): number | undefined => (o >= 0 && o < pkt.length ? pkt[o] : undefined);
  const load = (o: number, size: 1 | 2 | 4): number | undefined => {
    if (o < 0 || o + size > pkt.length) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = (v << 8) | pkt[o + i]!;
    return v >>> 0;
  };
  for (let pc = 0; pc < prog.length; pc++) {
    const ins = prog[pc]!;
    let v: number | undefined;
    switch (ins.code) {
      case BPF.LD_W_ABS: v = load(ins.k, 4); if (v === undefined) return 0; A = v; break;
      case BPF.LD_H_ABS: v = load(ins.k, 2); if (v === undefined) return 0; A = v; break;
      case BPF.LD_B_ABS: v = load(ins.k, 1); if (v === undefined) return 0; A = v; break;
      case BPF.LD_W_IND: v = load(X + ins.k, 4); if (v === undefined) return 0; A = v; break;
      case BPF.LD_H_IND: v = load(X + ins.k, 2); if (v === undefined) return 0; A = v; break;
      case BPF.LD_B_IND: v = load(X + ins.k, 1); if (v === undefined) return 0; A = v; break;
      case BPF.LDX_B_MSH: v = u8(ins.k); if (v === undefined) return 0; X = (v & 0xf) * 4; break;
      case BPF.ALU_AND_K: A = (A & ins.k) >>> 0; break;
      case BPF.JA: pc += ins.k; break;
      case BPF.JEQ_K: pc += A === ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JGT_K: pc += A > ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JGE_K: pc += A >= ins.k >>> 0 ? ins.jt : ins.jf; break;
      case BPF.JSET_K: pc += (A & ins.k) !== 0 ? ins.jt : ins.jf; break;
      case BPF.RET_K: return ins.k;
      default: throw new Error(`runBpf: unsupported opcode 0x${ins.code.toString(16)} at ${pc}`);
    }
  }
  return 0;
}
