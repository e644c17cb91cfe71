// Terminal packet ladder: two columns, one arrow per segment, flags in tcpdump notation, seq/ack
// relative to each direction's ISN (reset at every SYN, so a reused 4-tuple shows its new incarnation).
// Optionally each side's TCP state beside its bar, printed where it changes.
import { seqDiff } from '../wire/seq.js';
import { optionsBrief, type NoteRecord, type PacketRecord } from './packets.js';

export interface LadderColumn {
  label: string;
  /** Addresses this column owns (a prober's ghost address belongs to the prober's column). */
  addrs: readonly string[];
  /** When both ends share an address (loopback): the ports this column owns. */
  ports?: readonly number[];
}

function owns(c: LadderColumn, addr: string, port: number): boolean {
  return c.addrs.includes(addr) && (c.ports === undefined || c.ports.includes(port));
}

export interface LadderOptions {
  absolute?: boolean;
  color?: boolean;
  /** Total width; the default fits 100 columns. */
  width?: number;
  /** Wrap long notes onto more lines instead of cutting them (e.g. --explain notes). */
  wrapNotes?: boolean;
  /** Each side's TCP state after a packet ([left, right]); shown beside the bars where it changes. */
  states?: (p: PacketRecord) => readonly [string | undefined, string | undefined] | undefined;
}

const STATE_W = 11;

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
  return ms >= 100_000 ? `${(ms / 1000).toFixed(1)}s` : ms >= 1000 ? `${(ms / 1000).toFixed(3)}s` : ms.toFixed(3);
}

function colourFor(flags: string): string {
  if (flags.includes('R')) return C.red;
  if (flags.includes('S')) return C.green;
  if (flags.includes('F')) return C.yellow;
  return '';
}

/** Word-wrap to lines of at most n characters, continuation lines indented by two. */
function wrap(s: string, n: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && line.length + 1 + word.length > n) {
      out.push(line);
      line = '  ' + word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out.map((l) => fit(l, n));
}

function fit(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

/** Which column sends and which receives: by address, unknown addresses fall to an outer column. */
function ends(cols: readonly LadderColumn[], s: PacketRecord['segment']): [number, number] {
  const n = cols.length;
  if (n === 2) {
    const fromLeft = owns(cols[0]!, s.src, s.sport) || (!owns(cols[1]!, s.src, s.sport) && owns(cols[1]!, s.dst, s.dport));
    return fromLeft ? [0, 1] : [1, 0];
  }
  let from = cols.findIndex((c) => owns(c, s.src, s.sport));
  let to = cols.findIndex((c) => owns(c, s.dst, s.dport));
  if (from < 0 && to < 0) return [0, n - 1];
  if (from < 0) from = to === 0 ? n - 1 : 0;
  if (to < 0 || to === from) to = from === n - 1 ? 0 : n - 1;
  return [from, to];
}

/**
 * Two columns (client, server) or three (e.g. client, prober, server): an arrow per segment between the
 * columns owning its addresses, crossing the middle one when it must.
 */
export function renderLadder(
  packets: readonly PacketRecord[],
  notes: readonly NoteRecord[],
  cols: readonly LadderColumn[],
  opts: LadderOptions = {},
): string {
  if (cols.length !== 2 && cols.length !== 3) throw new RangeError(`cols: a ladder has 2 or 3 columns, got ${cols.length}`);
  const width = opts.width ?? 100;
  const color = opts.color ?? false;
  const paint = (c: string, s: string) => (color && c && s ? c + s + C.reset : s);
  const timeW = 11;
  const sw = opts.states ? STATE_W + 1 : 0; // a state column on each side
  const inner = width - timeW - 2 - 2 * sw; // from the first bar to the last
  const bars = cols.length === 2 ? [0, inner - 1] : [0, Math.floor((inner - 1) / 2), inner - 1];
  const rows: Row[] = [
    ...packets.map((p) => ({ tsNs: p.tsNs, kind: 'pkt' as const, p })),
    ...notes.map((n) => ({ tsNs: n.tsNs, kind: 'note' as const, n })),
  ].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.kind === b.kind ? 0 : a.kind === 'note' ? -1 : 1));

  const heading = (c: LadderColumn) => `${c.label} (${c.addrs[0] ?? '?'})`;
  const lines: string[] = [];
  if (cols.length === 2) {
    const left = heading(cols[0]!);
    const right = heading(cols[1]!);
    lines.push(' '.repeat(timeW + sw) + fit(left, inner / 2).padEnd(inner + 2 - Math.min(right.length, inner / 2)) + fit(right, inner / 2));
  } else {
    const head = Array<string>(inner + 2).fill(' ');
    const room = Math.floor(inner / 3) - 1;
    cols.forEach((c, i) => {
      const t = fit(heading(c), room);
      const at = Math.max(0, Math.min(inner + 2 - t.length, bars[i]! - Math.floor(t.length / 2)));
      for (let k = 0; k < t.length; k++) head[at + k] = t[k]!;
    });
    lines.push((' '.repeat(timeW + sw) + head.join('')).trimEnd());
  }
  const barLine = Array<string>(inner).fill(' ');
  for (const b of bars) barLine[b] = '│';
  lines.push(paint(C.dim, 'Δt(ms)'.padStart(timeW - 2)) + '  ' + ' '.repeat(sw) + barLine.join(''));

  const rel = new RelSeq();
  let prev: bigint | undefined;
  const seen = new Map<string, string>(); // packet key -> capture point that showed it
  const shown: [string | undefined, string | undefined] = [undefined, undefined];
  for (const r of rows) {
    const dt = prev === undefined ? 0n : r.tsNs - prev;
    if (r.kind === 'note') {
      const who = r.n.who ? `${r.n.who}: ` : '';
      const text = `· ${who}${r.n.text}`;
      const parts = opts.wrapNotes ? wrap(text, inner + 2) : [fit(text, inner + 2)];
      for (const part of parts) lines.push(' '.repeat(timeW + sw) + paint(C.cyan, part));
      continue;
    }
    // The same packet captured at both ends of a link is drawn once.
    const s = r.p.segment;
    const key = `${s.src}:${s.sport}>${s.dst}:${s.dport}/${s.seq}/${s.ack}/${s.flagBits}/${s.payload.length}/${s.ip.id}/${r.tsNs / 1_000_000n}`;
    // Two identical segments at the same point are two sends (e.g. a crafted retransmission): both are drawn.
    const at = seen.get(key);
    if (at !== undefined && at !== r.p.point) continue;
    seen.set(key, r.p.point);
    prev = r.tsNs;
    const [from, to] = ends(cols, s);
    const a = bars[from]!;
    const b = bars[to]!;
    const opt = optionsBrief(s.options);
    const label = `${s.flags.padEnd(3)} ${rel.label(r.p, opts.absolute ?? false)}${opt ? ` [${opt}]` : ''}`;
    const body = fit(` ${label} `, Math.abs(b - a) + 1 - 6);
    const row = [...barLine];
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    for (let i = lo + 1; i < hi; i++) row[i] = row[i] === '│' ? '┼' : '─';
    if (a < b) {
      row[a] = '├';
      row[b - 1] = '▶';
      for (let k = 0; k < body.length; k++) row[a + 2 + k] = body[k]!;
    } else {
      row[a] = '┤';
      row[b + 1] = '◀';
      for (let k = 0; k < body.length; k++) row[a - 1 - body.length + k] = body[k]!;
    }
    // Colour only the arrow, not the bars it leaves untouched.
    const arrow = row.slice(lo, hi + 1).join('');
    const line = row.slice(0, lo).join('') + paint(colourFor(s.flags), arrow) + row.slice(hi + 1).join('');
    let ls = '';
    let rs = '';
    if (opts.states) {
      const st = opts.states(r.p);
      const pick = (i: 0 | 1) => {
        const v = st?.[i];
        if (v === undefined || v === shown[i]) return '';
        shown[i] = v;
        return v;
      };
      const l = fit(pick(0), STATE_W);
      const rt = fit(pick(1), STATE_W);
      ls = ' '.repeat(STATE_W - l.length) + paint(C.dim, l) + ' ';
      rs = rt ? ' ' + paint(C.dim, rt) : '';
    }
    lines.push(`${('+' + fmtMs(dt)).padStart(timeW - 2)}  ${ls}${line}${rs}`.trimEnd());
  }
  return lines.join('\n');
}
