// A Match compiled to classic BPF for Ethernet frames (linux/filter.h), so the kernel drops what a capture
// never looks at, and a small interpreter of the same programs for tests.
import { prefixWords, type Prefix } from './addr.js';
import { resolveMatch, type Match, type Resolved } from './match.js';

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

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
  const r = resolveMatch(match);
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
