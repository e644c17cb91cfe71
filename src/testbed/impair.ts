// Packet-drop impairments as nftables rules in the host's own table (`inet tcplab-<runId>`).
// The predicate is typed and validated; rule text is built only from validated pieces.
import { isIPv4, isIPv6 } from 'node:net';

/**
 * 'ack-only': a pure ACK (flags exactly ACK, no payload), e.g. the final ACK of a close.
 * 'syn': SYN without ACK. 'syn-ack': SYN+ACK. 'fin': FIN set. 'rst': RST set. 'any': every TCP segment.
 */
export type TcpFlagsMatch = 'ack-only' | 'syn' | 'syn-ack' | 'fin' | 'rst' | 'any';

export interface ImpairMatch {
  tcpFlags?: TcpFlagsMatch;
  sport?: number;
  dport?: number;
  saddr?: string;
  daddr?: string;
  /** The acknowledgment number, e.g. exactly the ACK of a peer's FIN (uint32). */
  ackSeq?: number;
}

export interface ImpairSpec {
  /** 'out': packets this host sends (output hook); 'in': packets it receives (input hook). */
  dir: 'out' | 'in';
  match: ImpairMatch;
  /** Delay instead of drop: needs netem, which this kernel lacks; see Host.impair. */
  delayMs?: number;
}

export { UnsupportedError } from './unsupported.js';

const FLAG_MASK = '(fin|syn|rst|psh|ack|urg)';

function port(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new RangeError(`match.${field}: expected a port number 0-65535, got ${String(v)}`);
  }
  return v;
}

function addr(field: string, v: unknown): { fam: 4 | 6; text: string } | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || (!isIPv4(v) && !isIPv6(v))) {
    throw new TypeError(`match.${field}: expected an IPv4 or IPv6 address literal, got ${JSON.stringify(v)}`);
  }
  return { fam: isIPv4(v) ? 4 : 6, text: v };
}

/** The nft rule bodies (after `add rule inet T CHAIN`) for one impairment; several for 'ack-only'. */
export function ruleBodies(spec: ImpairSpec, comment: string): string[] {
  if (spec.dir !== 'out' && spec.dir !== 'in') throw new TypeError(`dir: expected 'out' or 'in', got ${JSON.stringify(spec.dir)}`);
  const m = spec.match;
  if (!m || typeof m !== 'object') throw new TypeError('match: expected an object like { tcpFlags: "ack-only", sport: 80 }');
  const known = new Set(['tcpFlags', 'sport', 'dport', 'saddr', 'daddr', 'ackSeq']);
  for (const k of Object.keys(m)) if (!known.has(k)) throw new TypeError(`match.${k}: unknown field (use tcpFlags, sport, dport, saddr, daddr, ackSeq)`);
  const sport = port('sport', m.sport);
  const dport = port('dport', m.dport);
  const saddr = addr('saddr', m.saddr);
  const daddr = addr('daddr', m.daddr);
  if (m.ackSeq !== undefined && (typeof m.ackSeq !== 'number' || !Number.isInteger(m.ackSeq) || m.ackSeq < 0 || m.ackSeq > 0xffffffff)) {
    throw new RangeError(`match.ackSeq: expected an integer 0..4294967295, got ${String(m.ackSeq)}`);
  }
  if (saddr && daddr && saddr.fam !== daddr.fam) throw new TypeError('match: saddr and daddr must be the same address family');
  const fam = saddr?.fam ?? daddr?.fam;
  const flags = m.tcpFlags ?? 'any';

  let flagExpr: string;
  switch (flags) {
    case 'ack-only': flagExpr = `tcp flags & ${FLAG_MASK} == ack`; break;
    case 'syn': flagExpr = `tcp flags & (syn|ack) == syn`; break;
    case 'syn-ack': flagExpr = `tcp flags & (syn|ack) == syn|ack`; break;
    case 'fin': flagExpr = 'tcp flags & fin == fin'; break;
    case 'rst': flagExpr = 'tcp flags & rst == rst'; break;
    case 'any': flagExpr = ''; break;
    default: throw new TypeError(`match.tcpFlags: expected 'ack-only', 'syn', 'syn-ack', 'fin', 'rst' or 'any', got ${JSON.stringify(flags)}`);
  }
  const common = [
    flagExpr,
    sport !== undefined ? `tcp sport ${sport}` : '',
    dport !== undefined ? `tcp dport ${dport}` : '',
    m.ackSeq !== undefined ? `tcp ackseq ${m.ackSeq}` : '',
    saddr ? `${saddr.fam === 4 ? 'ip' : 'ip6'} saddr ${saddr.text}` : '',
    daddr ? `${daddr.fam === 4 ? 'ip' : 'ip6'} daddr ${daddr.text}` : '',
    `counter drop comment "${comment}"`,
  ].filter(Boolean).join(' ');

  if (flags !== 'ack-only') return [`meta l4proto tcp ${common}`];
  // "No payload" has no direct nft match: enumerate the data offsets, with the IP length they imply
  // (IPv4 without options; IPv6 without extension headers, which is what kernels send for TCP).
  const out: string[] = [];
  for (let doff = 5; doff <= 15; doff++) {
    if (fam !== 6) out.push(`ip protocol tcp ip hdrlength 5 ip length ${20 + doff * 4} tcp doff ${doff} ${common}`);
    if (fam !== 4) out.push(`ip6 nexthdr tcp ip6 length ${doff * 4} tcp doff ${doff} ${common}`);
  }
  return out;
}

/** The table with the two base chains ('out', 'in') that hold the impairment rules. */
export function tableScript(table: string): string {
  return [
    `add table inet ${table}`,
    `add chain inet ${table} out { type filter hook output priority 0; policy accept; }`,
    `add chain inet ${table} in { type filter hook input priority 0; policy accept; }`,
  ].join('\n') + '\n';
}

interface NftRule { rule?: { handle: number; comment?: string; chain: string; expr?: Array<Record<string, unknown>> } }

/** Handles and dropped-packet totals of the rules carrying `comment`, from `nft -j list table`. */
export function rulesWithComment(json: string, comment: string): { handles: Array<{ chain: string; handle: number }>; packets: number } {
  const doc = JSON.parse(json) as { nftables?: NftRule[] };
  const handles: Array<{ chain: string; handle: number }> = [];
  let packets = 0;
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (!r || r.comment !== comment) continue;
    handles.push({ chain: r.chain, handle: r.handle });
    for (const e of r.expr ?? []) {
      const c = e.counter as { packets?: number } | undefined;
      if (c?.packets) packets += c.packets;
    }
  }
  return { handles, packets };
}
