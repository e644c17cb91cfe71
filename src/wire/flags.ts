// TCP flags in tcpdump notation ('S', 'S.', 'FP.', 'none') and as lists of names or the raw byte.
import { FLAG_BITS, type FlagName, type FlagsInput } from './types.js';

/** tcpdump's letters in the order it prints them (print-tcp.c): F S R P . U E W. */
const LETTERS: ReadonlyArray<readonly [string, number]> = [
  ['F', FLAG_BITS.FIN],
  ['S', FLAG_BITS.SYN],
  ['R', FLAG_BITS.RST],
  ['P', FLAG_BITS.PSH],
  ['.', FLAG_BITS.ACK],
  ['U', FLAG_BITS.URG],
  ['E', FLAG_BITS.ECE],
  ['W', FLAG_BITS.CWR],
];
const BY_LETTER = new Map(LETTERS);
const NAMES = Object.keys(FLAG_BITS) as FlagName[];

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
}

/**
 * The flags byte for 'S.', ['SYN', 'ACK'] or 0x12. Letters may come in any order; '' and 'none' are 0.
 * Throws TypeError/RangeError naming `flags`.
 */
export function parseFlags(input: FlagsInput): number {
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) throw new TypeError(`flags: must be an integer 0..255, got ${input}`);
    if (input < 0 || input > 255) throw new RangeError(`flags: must be an integer 0..255, got ${input}`);
    return input;
  }
  if (typeof input === 'string') {
    if (input === 'none') return 0;
    let bits = 0;
    for (const ch of input) {
      const bit = BY_LETTER.get(ch);
      if (bit === undefined) {
        throw new TypeError(
          `flags: unknown flag letter '${ch}' in '${input}'; use tcpdump letters F S R P U E W and '.' for ACK (e.g. 'S.')`,
        );
      }
      bits |= bit;
    }
    return bits;
  }
  if (Array.isArray(input)) {
    let bits = 0;
    for (const name of input as unknown[]) {
      const bit = typeof name === 'string' ? FLAG_BITS[name as FlagName] : undefined;
      if (bit === undefined) {
        throw new TypeError(`flags: unknown flag name ${describe(name)}; use ${NAMES.join(', ')}`);
      }
      bits |= bit;
    }
    return bits;
  }
  throw new TypeError(`flags: must be a tcpdump string ('S.'), a list of flag names or a byte, got ${describe(input)}`);
}

/** tcpdump notation of a flags byte: 'S.', 'FP.', 'R', 'none' for 0. */
export function formatFlags(bits: number): string {
  if (!Number.isInteger(bits) || bits < 0 || bits > 255) {
    throw new RangeError(`bits: must be an integer 0..255, got ${bits}`);
  }
  let s = '';
  for (const [letter, bit] of LETTERS) if (bits & bit) s += letter;
  return s === '' ? 'none' : s;
}

/** The flag names set in a flags byte, in wire bit order. */
export function flagNames(bits: number): FlagName[] {
  return NAMES.filter((n) => (bits & FLAG_BITS[n]) !== 0);
}

/** True when every flag of `want` is set in `bits` (e.g. hasFlags(seg.flagBits, 'S.')). */
export function hasFlags(bits: number, want: FlagsInput): boolean {
  const w = parseFlags(want);
  return (bits & w) === w;
}
