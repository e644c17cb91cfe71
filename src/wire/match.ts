// A typed packet match: validated once (errors name the field), evaluated exactly in JS on decoded
// segments; bpf.ts compiles the same match to a kernel pre-filter (the BPF cannot see IPv6 extension
// headers; the JS match is the truth).
import { parseFlags } from './flags.js';
import { parsePrefix, prefixContains, type Prefix } from './addr.js';
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

const MATCH_KEYS = new Set(['src', 'dst', 'host', 'sport', 'dport', 'port', 'proto', 'flags', 'family']);

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

/** A validated Match: prefixes parsed, flags as bits. What the matcher and the BPF compiler work from. */
export interface Resolved {
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
export function resolveMatch(m: Match): Resolved {
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

/** Exact match of a decoded segment (the BPF filter is only a pre-filter). Validates `match` each call: use matcher() on hot paths. */
export function matchSegment(match: Match, seg: Segment): boolean {
  return matchResolved(resolveMatch(match), seg);
}

function matchResolved(r: Resolved, seg: Segment): boolean {
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

/** A matcher with the validation and prefix parsing done once (for hot paths). */
export function matcher(match: Match): (seg: Segment) => boolean {
  const r = resolveMatch(match);
  return (seg) => matchResolved(r, seg);
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
