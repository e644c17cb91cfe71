// Terminal packet ladder: two columns, one arrow per segment, flags in tcpdump notation, seq/ack
// relative to each direction's ISN (reset at every SYN, so a reused 4-tuple shows its new incarnation).
// Optionally each side's TCP state beside its bar, printed where it changes, and each packet's frame
// number in the case's capture file. A new incarnation's ISN is told against the old connection's
// rcv_nxt; text that does not fit the width wraps onto more lines (nothing is cut).
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
  /** Total width (at least MIN_WIDTH); the default fits 100 columns. Longer text wraps. */
  width?: number;
  /** Accepted for old callers: notes always wrap now. */
  wrapNotes?: boolean;
  /** A first column with each packet's frame number (PacketRecord.frame), as Wireshark numbers the file. */
  frames?: boolean;
  /** Each side's TCP state after a packet ([left, right]); shown beside the bars where it changes. */
  states?: (p: PacketRecord) => readonly [string | undefined, string | undefined] | undefined;
}

const STATE_W = 11; // 'ESTABLISHED'
/** Narrower than this, an arrow between state columns has no room for a field and its value. */
export const MIN_WIDTH = 80; // a classic terminal

const C = { reset: '\x1b[0m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };

type Row = { tsNs: bigint; kind: 'pkt'; p: PacketRecord } | { tsNs: bigint; kind: 'note'; n: NoteRecord };

/**
 * Relative sequence numbers: per direction, the base is the seq of the latest SYN sent that way. A SYN
 * with a new ISN on a 4-tuple seen before starts a new incarnation: its ISN is also told against the
 * next sequence number the old connection's receiver expected (its rcv_nxt).
 */
class RelSeq {
  private base = new Map<string, number>();
  /** Per direction: the sequence number after the highest byte, SYN or FIN sent that way. */
  private next = new Map<string, number>();
  negative = false;
  incarnation = false;
  label(p: PacketRecord, absolute: boolean): string {
    const s = p.segment;
    const fwd = `${s.src}:${s.sport}>${s.dst}:${s.dport}`;
    const rev = `${s.dst}:${s.dport}>${s.src}:${s.sport}`;
    let old = '';
    if (s.flagBits & 0x02) {
      const was = this.next.get(fwd);
      if (this.base.has(fwd) && this.base.get(fwd) !== s.seq && was !== undefined) {
        const d = seqDiff(s.seq, was);
        old = ` (old rcv_nxt ${d < 0 ? '-' : '+'} ${Math.abs(d)})`;
        this.incarnation = true;
        this.next.delete(fwd);
      }
      this.base.set(fwd, s.seq);
    } else if (!this.base.has(fwd)) {
      this.base.set(fwd, s.seq);
    }
    // An RST takes no sequence space, and a crafted one may lie anywhere: it does not move rcv_nxt.
    if (!(s.flagBits & 0x04)) {
      const end = (s.seq + s.payload.length + (s.flagBits & 0x02 ? 1 : 0) + (s.flagBits & 0x01 ? 1 : 0)) >>> 0;
      const n = this.next.get(fwd);
      if (n === undefined || seqDiff(end, n) > 0) this.next.set(fwd, end);
    }
    const rel = (v: number, key: string) => {
      const b = this.base.get(key);
      if (absolute || b === undefined) return String(v);
      const d = seqDiff(v, b);
      if (d < 0) this.negative = true;
      return String(d);
    };
    let out = `seq ${rel(s.seq, fwd)}${old}`;
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

/**
 * Word-wrap to lines of at most n characters, continuation lines indented by `indent`; a word longer
 * than a line is split (never cut).
 */
export function wrap(s: string, n: number, indent = 2): string[] {
  const out: string[] = [];
  const pad = ' '.repeat(Math.max(0, Math.min(indent, n - 1)));
  const start = () => (out.length ? pad : '');
  let line = start();
  let fresh = true; // no word on `line` yet
  for (let word of s.split(' ')) {
    for (;;) {
      const sep = fresh ? '' : ' ';
      if (line.length + sep.length + word.length <= n) {
        line += sep + word;
        fresh = false;
        break;
      }
      if (!fresh) {
        out.push(line);
        line = start();
        fresh = true;
        continue;
      }
      const room = n - line.length;
      out.push(line + word.slice(0, room));
      word = word.slice(room);
      line = start();
      if (!word) break;
    }
  }
  if (!fresh) out.push(line);
  return out.length ? out : [''];
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
  if (!Number.isInteger(width) || width < MIN_WIDTH) throw new RangeError(`width: an integer of at least ${MIN_WIDTH} columns, got ${width}`);
  const color = opts.color ?? false;
  const paint = (c: string, s: string) => (color && c && s ? c + s + C.reset : s);
  const maxFrame = opts.frames ? packets.reduce((m, p) => Math.max(m, p.frame ?? 0), 0) : 0;
  const fw = opts.frames ? Math.max(3, String(maxFrame).length) + 1 : 0; // 'No.' column, as Wireshark
  const timeW = 11;
  const sw = opts.states ? STATE_W + 1 : 0; // a state column on each side
  const lead = fw + timeW + sw; // before the first bar
  const inner = width - lead - 2 - sw; // from the first bar to the last
  const bars = cols.length === 2 ? [0, inner - 1] : [0, Math.floor((inner - 1) / 2), inner - 1];
  const rows: Row[] = [
    ...packets.map((p) => ({ tsNs: p.tsNs, kind: 'pkt' as const, p })),
    ...notes.map((n) => ({ tsNs: n.tsNs, kind: 'note' as const, n })),
  ].sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.kind === b.kind ? 0 : a.kind === 'note' ? -1 : 1));

  const heading = (c: LadderColumn) => `${c.label} (${c.addrs[0] ?? '?'})`;
  const lines: string[] = [];
  if (cols.length === 2) {
    // Long headings wrap within their half.
    const half = Math.floor(inner / 2);
    const left = wrap(heading(cols[0]!), half, 1);
    const right = wrap(heading(cols[1]!), half, 1);
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      const l = left[i] ?? '';
      const r = right[i] ?? '';
      lines.push((' '.repeat(lead) + l.padEnd(inner + 2 - r.length) + r).trimEnd());
    }
  } else {
    const room = Math.floor(inner / 3) - 1;
    const wrapped = cols.map((c) => wrap(heading(c), room, 1));
    for (let k = 0; k < Math.max(...wrapped.map((w) => w.length)); k++) {
      const head = Array<string>(inner + 2).fill(' ');
      wrapped.forEach((w, i) => {
        const t = w[k] ?? '';
        const at = Math.max(0, Math.min(inner + 2 - t.length, bars[i]! - Math.floor(t.length / 2)));
        for (let q = 0; q < t.length; q++) head[at + q] = t[q]!;
      });
      lines.push((' '.repeat(lead) + head.join('')).trimEnd());
    }
  }
  const barLine = Array<string>(inner).fill(' ');
  for (const b of bars) barLine[b] = '│';
  const bare = barLine.join('');
  lines.push(paint(C.dim, (fw ? 'No.'.padStart(fw - 1) + ' ' : '') + 'Δt(ms)'.padStart(timeW - 2)) + '  ' + ' '.repeat(sw) + bare);

  const rel = new RelSeq();
  let prev: bigint | undefined;
  const seen = new Map<string, string>(); // packet key -> capture point that showed it
  const shown: [string | undefined, string | undefined] = [undefined, undefined];
  for (const r of rows) {
    const dt = prev === undefined ? 0n : r.tsNs - prev;
    if (r.kind === 'note') {
      const who = r.n.who ? `${r.n.who}: ` : '';
      for (const part of wrap(`· ${who}${r.n.text}`, inner + 2 + sw)) lines.push(' '.repeat(lead) + paint(C.cyan, part));
      continue;
    }
    // The same packet captured at both ends of a link is drawn once.
    const s = r.p.segment;
    const key = `${s.src}:${s.sport}>${s.dst}:${s.dport}/${s.seq}/${s.ack}/${s.flagBits}/${s.payload.length}/${s.ip.id}/${r.tsNs / 1_000_000n}`;
    // Two identical segments at the same point are two sends (e.g. a crafted retransmission): both are
    // drawn; on loopback one send is seen leaving and arriving at the same point: drawn once.
    const at = seen.get(key);
    const here = `${r.p.point}|${r.p.dir}`;
    if (at !== undefined && at !== here) continue;
    seen.set(key, here);
    prev = r.tsNs;
    const [from, to] = ends(cols, s);
    const a = bars[from]!;
    const b = bars[to]!;
    const opt = optionsBrief(s.options);
    const label = `${s.flags.padEnd(3)} ${rel.label(r.p, opts.absolute ?? false)}${opt ? ` [${opt}]` : ''}`;
    // The label wraps inside the arrow's span; its other lines go below, between the same bars.
    const room = Math.abs(b - a) + 1 - 8;
    // A field and its value (seq 5, TS a/b, the old-incarnation note) stay on one line.
    const glued = label.replace(/\b(seq|ack|win|len|mss|ws|TS|sack) /g, '$1\u00a0').replace(/\(old rcv_nxt [+-] \d+\)/, (m) => m.replace(/ /g, '\u00a0'));
    const parts = wrap(glued, room, 2).map((l) => l.replace(/\u00a0/g, ' '));
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const place = (row: string[], text: string) => {
      if (a < b) for (let k = 0; k < text.length; k++) row[a + 3 + k] = text[k]!;
      else for (let k = 0; k < text.length; k++) row[a - 2 - text.length + k] = text[k]!;
    };
    const row = [...barLine];
    for (let i = lo + 1; i < hi; i++) row[i] = row[i] === '│' ? '┼' : '─';
    if (a < b) {
      row[a] = '├';
      row[b - 1] = '▶';
      row[a + 2] = ' ';
      row[a + 3 + parts[0]!.length] = ' ';
    } else {
      row[a] = '┤';
      row[b + 1] = '◀';
      row[a - 2] = ' ';
      row[a - 3 - parts[0]!.length] = ' ';
    }
    place(row, parts[0]!);
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
      const l = pick(0);
      const rt = pick(1);
      ls = ' '.repeat(Math.max(0, STATE_W - l.length)) + paint(C.dim, l) + ' ';
      rs = rt ? ' ' + paint(C.dim, rt) : '';
    }
    const no = fw ? (r.p.frame === undefined ? '' : String(r.p.frame)).padStart(fw - 1) + ' ' : '';
    lines.push(`${no}${('+' + fmtMs(dt)).padStart(timeW - 2)}  ${ls}${line}${rs}`.trimEnd());
    for (const more of parts.slice(1)) {
      const cont = [...barLine];
      place(cont, more);
      lines.push((' '.repeat(lead) + cont.join('')).trimEnd());
    }
  }
  if (rel.incarnation) {
    lines.push(...wrap('(old rcv_nxt ± n): a new incarnation\'s ISN against the next sequence number the old connection\'s receiver expected; without timestamps, tcp_timewait_state_process() reopens a TIME-WAIT only for a SYN above it (+)', width, 2).map((l) => paint(C.dim, l)));
  }
  if (rel.negative) {
    lines.push(...wrap('negative seq/ack: that many bytes before the ISN of the latest SYN sent that way, i.e. a number of the connection before it (an old incarnation answering)', width, 2).map((l) => paint(C.dim, l)));
  }
  return lines.join('\n');
}
