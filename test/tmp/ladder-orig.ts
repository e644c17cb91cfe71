// Terminal packet ladder: two columns, one arrow per segment, flags in tcpdump notation, seq/ack
// relative to each direction's ISN (reset at every SYN, so a reused 4-tuple shows its new incarnation).
import { seqDiff } from '../../src/wire/seq.js';
import { optionsBrief, type NoteRecord, type PacketRecord } from '../../src/lab/packets.js';

export interface LadderColumn {
  label: string;
  /** Addresses this column owns (a prober's ghost address belongs to the prober's column). */
  addrs: readonly string[];
}

export interface LadderOptions {
  absolute?: boolean;
  color?: boolean;
  /** Total width; the default fits 100 columns. */
  width?: number;
}

const C = { reset: '\x1b[0m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };

type Row = { tsNs: bigint; kind: 'pkt'; p: PacketRecord } | { tsNs: bigint; kind: 'note'; n: NoteRecord };

/** Relative sequence numbers: per direction, the base is the seq of the latest SYN sent that way. */
class RelSeq {
  private base = new Map<string, number>();
  label(p: PacketRecord, absolute: boolean): string {
    const s = p.segment;
    const fwd = `${s.src}:${s.sport}>${s.dst}:${s.dport}`;
    const rev = `${s.dst}:${s.dport}>${s.src}:${s.sport}`;
    if (s.flagBits & 0x02 || !this.base.has(fwd)) this.base.set(fwd, s.seq);
    const rel = (v: number, key: string) => {
      const b = this.base.get(key);
      return absolute || b === undefined ? String(v) : String(seqDiff(v, b));
    };
    let out = `seq ${rel(s.seq, fwd)}`;
    if (s.flagBits & 0x10) out += ` ack ${rel(s.ack, rev)}`;
    out += ` win ${s.window}`;
    if (s.payload.length) out += ` len ${s.payload.length}`;
    return out;
  }
}

function fmtMs(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  return ms >= 100_000 ? `${(ms / 1000).toFixed(1)}s` : ms.toFixed(3);
}

function colourFor(flags: string): string {
  if (flags.includes('R')) return C.red;
  if (flags.includes('S')) return C.green;
  if (flags.includes('F')) return C.yellow;
  return '';
}

function fit(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

export function renderLadder(
  packets: readonly PacketRecord[],
  notes: readonly NoteRecord[],
  cols: readonly [LadderColumn, LadderColumn],
  opts: LadderOptions = {},
): string {
  const width = opts.width ?? 100;
  const color = opts.color ?? false;
  const paint = (c: string, s: string) => (color && c ? c + s + C.reset : s);
  const timeW = 11;
  const inner = width - timeW - 2; // between the two bars
  const rows: Row[] = [
    ...packets.map((p) => ({ tsNs: p.tsNs, kind: 'pkt' as const, p })),
    ...notes.map((n) => ({ tsNs: n.tsNs, kind: 'note' as const, n })),
  ].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.kind === 'note' ? -1 : 1));

  const left = `${cols[0].label} (${cols[0].addrs[0] ?? '?'})`;
  const right = `${cols[1].label} (${cols[1].addrs[0] ?? '?'})`;
  const lines: string[] = [];
  lines.push(' '.repeat(timeW) + fit(left, inner / 2).padEnd(inner + 2 - Math.min(right.length, inner / 2)) + fit(right, inner / 2));
  lines.push(paint(C.dim, 'Δt(ms)'.padStart(timeW - 2)) + '  │' + ' '.repeat(inner - 2) + '│');

  const rel = new RelSeq();
  let prev: bigint | undefined;
  const seen = new Set<string>();
  for (const r of rows) {
    const dt = prev === undefined ? 0n : r.tsNs - prev;
    if (r.kind === 'note') {
      const who = r.n.who ? `${r.n.who}: ` : '';
      lines.push(' '.repeat(timeW) + paint(C.cyan, fit(`· ${who}${r.n.text}`, inner + 2)));
      continue;
    }
    // The same packet captured at both ends of a link is drawn once.
    const s = r.p.segment;
    const key = `${s.src}:${s.sport}>${s.dst}:${s.dport}/${s.seq}/${s.ack}/${s.flagBits}/${s.payload.length}/${s.ip.id}/${r.tsNs / 1_000_000n}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prev = r.tsNs;
    const fromLeft = cols[0].addrs.includes(s.src) || (!cols[1].addrs.includes(s.src) && cols[1].addrs.includes(s.dst));
    const opt = optionsBrief(s.options);
    const label = `${s.flags.padEnd(3)} ${rel.label(r.p, opts.absolute ?? false)}${opt ? ` [${opt}]` : ''}`;
    const body = fit(` ${label} `, inner - 6);
    const dash = '─'.repeat(Math.max(1, inner - 4 - body.length));
    const arrow = fromLeft ? `├─${body}${dash}▶│` : `│◀${dash}${body}─┤`;
    lines.push(`${('+' + fmtMs(dt)).padStart(timeW - 2)}  ${paint(colourFor(s.flags), arrow)}`);
  }
  return lines.join('\n');
}
