// Sequence-number and timestamp arithmetic modulo 2^32 (RFC 793 / RFC 1982 serial numbers).
// TCP timestamps (RFC 7323 PAWS) compare the same way, so the ts* helpers are the same functions.

const MOD = 0x1_0000_0000;

function check(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= MOD) {
    const E = Number.isInteger(v) ? RangeError : TypeError;
    throw new E(`${field}: must be an integer 0..4294967295, got ${v}`);
  }
  return v;
}

/** a + n mod 2^32; n may be negative. */
export function seqAdd(a: number, n: number): number {
  check(a, 'a');
  if (!Number.isInteger(n)) throw new TypeError(`n: must be an integer, got ${n}`);
  return (((a + n) % MOD) + MOD) % MOD;
}

/** Signed distance a - b in -2^31..2^31-1 (positive: a is after b). */
export function seqDiff(a: number, b: number): number {
  check(a, 'a');
  check(b, 'b');
  return ((a - b) | 0);
}

/** a comes strictly before b (RFC 793 SEQ_LT). */
export function seqBefore(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

/** a comes strictly after b (SEQ_GT). */
export function seqAfter(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/** a <= b in sequence space (SEQ_LEQ). */
export function seqBeforeEq(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}

/** a >= b in sequence space (SEQ_GEQ). */
export function seqAfterEq(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}

/** lo <= x < hi in sequence space (a window [lo, hi), possibly wrapping past 2^32). */
export function seqBetween(x: number, lo: number, hi: number): boolean {
  check(x, 'x');
  check(lo, 'lo');
  check(hi, 'hi');
  return ((x - lo) >>> 0) < ((hi - lo) >>> 0);
}

/** Timestamp a is newer than b (PAWS: a - b > 0 as a signed 32-bit value). */
export const tsAfter = seqAfter;
/** Timestamp a is older than b: PAWS rejects a segment whose TSval is tsBefore(TS.Recent). */
export const tsBefore = seqBefore;
export const tsAfterEq = seqAfterEq;
export const tsBeforeEq = seqBeforeEq;
export const tsDiff = seqDiff;
export const tsAdd = seqAdd;
export const tsBetween = seqBetween;
