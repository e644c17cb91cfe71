// The packet ladder as inline SVG for the HTML report: two timelines, one sloped arrow per segment with
// its flags, relative seq/ack and options, the time since the previous packet, notes between packets and,
// when known, each side's TCP state where it changes. Sized for a classroom: no text under 15 units, and
// the page never shows it below 14/15 of its size (SVG_CSS's min-width), so every label stays >= 14 px.
import { humanOffset } from './time.js';
import type { PacketJson } from '../lab/packets.js';

/** A report's packet (or inspect's) with what the ladder adds: each side's state after it, its frame. */
export interface SvgPacket extends Pick<PacketJson, 'tNs' | 'src' | 'dst' | 'flags' | 'seq' | 'ack' | 'win' | 'len' | 'options'> {
  states?: readonly [string, string] | null;
  frame?: number;
}

export interface SvgNote {
  tNs: string | null;
  who?: string;
  text: string;
  /** A link for the note (a finding marker points at its card: '#finding-...'). */
  href?: string;
}

export interface SvgLadderOptions {
  labels?: readonly [string, string];
  /** The lab's columns (2 or 3: e.g. client, prober, server) with the addresses each owns. */
  columns?: ReadonlyArray<{ label: string; addrs: readonly string[]; ports?: readonly number[] }>;
  absolute?: boolean;
  /** At most this many packets (the rest is summarised in a note). Default 300. */
  maxPackets?: number;
  /** Prefix of the arrowheads' ids, unique per ladder when a page holds several (default 'head'). */
  idPrefix?: string;
}

/** The ladder's width in SVG units (its drawing scales to the page; see SVG_CSS). */
export const LADDER_WIDTH = 1000;
const W = LADDER_WIDTH;
const XL = 250;
const XR = 800;
const ROW = 40;
const ROW_OPT = 56;
const NOTE = 24;
/** Smallest font in the ladder (SVG units); SVG_CSS keeps the drawing at >= 14/SMALLEST of its size. */
export const SMALLEST_FONT = 15;
/** Characters of a note per line (16-unit proportional text from XL + 12 to the right edge). */
const NOTE_CHARS = Math.floor((W - XL - 24) / 8.2);

/** Words into lines of at most `n` characters (a longer word gets a line of its own). */
function wrap(text: string, n: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/)) {
    if (cur && cur.length + 1 + w.length > n) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.length ? lines : [''];
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** 'addr:port' (or '[v6]:port') -> port. */
export function portOf(ep: string): number {
  const i = ep.lastIndexOf(':');
  return i < 0 ? NaN : Number(ep.slice(i + 1));
}

/** 'addr:port' (or '[v6]:port') -> addr. */
export function addrOf(ep: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(ep);
  if (m) return m[1]!;
  const i = ep.lastIndexOf(':');
  return i < 0 ? ep : ep.slice(0, i);
}

function colour(flags: string): string {
  if (flags.includes('R')) return 'rst';
  if (flags.includes('S')) return 'syn';
  if (flags.includes('F')) return 'fin';
  return 'ack';
}


const u32 = (v: number) => v >>> 0;
const diff = (a: number, b: number) => (u32(a) - u32(b)) | 0;

export function svgLadder(packets: readonly SvgPacket[], notes: readonly SvgNote[], opts: SvgLadderOptions = {}): string {
  const max = opts.maxPackets ?? 300;
  const head = esc(opts.idPrefix ?? 'head');
  const seen = new Set<string>();
  const uniq = packets.filter((p) => {
    const k = `${p.src}>${p.dst}/${p.flags}/${p.seq}/${p.ack}/${p.len}/${BigInt(p.tNs) / 1_000_000n}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const drawn = uniq.slice(0, max);
  const first = drawn.find((p) => p.flags.includes('S') && !p.flags.includes('.')) ?? drawn[0];
  const leftAddr = first ? addrOf(first.src) : '';
  const rightEp = first?.dst ?? '';
  // Loopback captures have one address on both ends: then the ports tell the sides apart.
  const same = first !== undefined && addrOf(first.src) === addrOf(first.dst);
  type Col = { label: string; addrs: readonly string[]; ports?: readonly number[] };
  const cols: Col[] = opts.columns && opts.columns.length >= 2 && opts.columns.length <= 3
    ? opts.columns.map((c) => ({ label: `${c.label} (${c.addrs[0] ?? '?'})`, addrs: c.addrs, ports: c.ports }))
    : [
      { label: (opts.labels ?? [])[0] ?? first?.src ?? 'left', addrs: [leftAddr], ports: same ? [portOf(first!.src)] : undefined },
      { label: (opts.labels ?? [])[1] ?? (rightEp || 'right'), addrs: same ? [leftAddr] : [], ports: same ? [portOf(first!.dst)] : undefined },
    ];
  const owns = (c: Col, ep: string) => c.addrs.includes(addrOf(ep)) && (c.ports === undefined || c.ports.includes(portOf(ep)));
  const xs = cols.length === 3 ? [XL, (XL + XR) / 2, XR] : [XL, XR];
  /** [from, to] column indexes; unknown addresses fall to an outer column, as in the terminal ladder. */
  const ends = (p: SvgPacket): [number, number] => {
    const n = cols.length;
    let from = cols.findIndex((c) => owns(c, p.src));
    let to = cols.findIndex((c) => owns(c, p.dst));
    if (n === 2) return from === 0 || (from < 0 && to === 1) ? [0, 1] : [1, 0];
    if (from < 0 && to < 0) return [0, n - 1];
    if (from < 0) from = to === 0 ? n - 1 : 0;
    if (to < 0 || to === from) to = from === n - 1 ? 0 : n - 1;
    return [from, to];
  };
  const hasStates = drawn.some((p) => p.states);

  type Row = { t: bigint; p?: SvgPacket; n?: SvgNote };
  const rows: Row[] = [
    ...drawn.map((p) => ({ t: BigInt(p.tNs), p })),
    ...notes.filter((n) => n.tNs !== null).map((n) => ({ t: BigInt(n.tNs!), n })),
  ];
  if (uniq.length > drawn.length) {
    rows.push({ t: BigInt(drawn[drawn.length - 1]!.tNs) + 1n, n: { tNs: null, text: `… ${uniq.length - drawn.length} more packet(s) not drawn` } });
  }
  rows.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.n && !b.n ? -1 : !a.n && b.n ? 1 : 0));

  const base = new Map<string, number>();
  const body: string[] = [];
  let y = 64;
  let prev: bigint | undefined;
  const shown: [string?, string?] = [];
  for (const r of rows) {
    if (r.n) {
      const cls = r.n.text.startsWith('⚑') ? 'note finding' : r.n.text.startsWith('──') ? 'note inc' : 'note';
      const who = r.n.who ? `${r.n.who}: ` : '';
      const full = who + r.n.text;
      const lines = wrap(full.length > 600 ? `${full.slice(0, 599)}…` : full, NOTE_CHARS);
      const text = `<text class="${cls}" x="${XL + 12}" y="${y + 17}">` +
        lines.map((l, i) => `<tspan x="${XL + 12}" dy="${i ? NOTE : 0}">${esc(l)}</tspan>`).join('') + `<title>${esc(full)}</title></text>`;
      body.push(r.n.href ? `<a class="marker" href="${esc(r.n.href)}">${text}</a>` : text);
      y += NOTE * lines.length;
      continue;
    }
    const p = r.p!;
    const [fi, ti] = ends(p);
    const fromLeft = fi < ti;
    const fwd = `${p.src}>${p.dst}`;
    const rev = `${p.dst}>${p.src}`;
    if (p.flags.includes('S') || !base.has(fwd)) base.set(fwd, p.seq);
    const rel = (v: number, key: string) => {
      const b = base.get(key);
      return opts.absolute || b === undefined ? String(v) : String(diff(v, b));
    };
    let label = `${p.flags} seq ${rel(p.seq, fwd)}`;
    if (p.flags.includes('.')) label += ` ack ${rel(p.ack, rev)}`;
    label += ` win ${p.win}`;
    if (p.len) label += ` len ${p.len}`;
    const detail = `${p.frame !== undefined ? `frame ${p.frame}: ` : ''}${p.src} > ${p.dst} ${p.flags} seq ${p.seq} ack ${p.ack} win ${p.win} len ${p.len}${p.options ? ` [${p.options}]` : ''}`;
    const dt = prev === undefined ? 0n : r.t - prev;
    prev = r.t;
    const x1 = xs[fi]!;
    const x2 = xs[ti]!;
    const c = colour(p.flags);
    const mid = (x1 + x2) / 2;
    body.push(`<g class="pkt ${c}">` +
      `<text class="dt" x="12" y="${y + 26}">${esc(humanOffset(dt))}</text>` +
      `<line class="arrow" x1="${x1}" y1="${y + 19}" x2="${x2 + (fromLeft ? -3 : 3)}" y2="${y + 35}" marker-end="url(#${head}-${c})"/>` +
      `<text class="lbl" x="${mid}" y="${y + 17}" text-anchor="middle">${esc(label)}</text>` +
      (p.options ? `<text class="opt" x="${mid}" y="${y + 51}" text-anchor="middle">${esc(p.options)}</text>` : '') +
      `<title>${esc(detail)}</title></g>`);
    if (p.states) {
      for (const i of [0, 1] as const) {
        const st = p.states[i];
        if (st === shown[i]) continue;
        shown[i] = st;
        const x = i === 0 ? XL - 8 : XR + 8;
        body.push(`<text class="state" x="${x}" y="${y + (i === (fromLeft ? 0 : 1) ? 20 : 37)}" text-anchor="${i === 0 ? 'end' : 'start'}">${esc(st)}</text>`);
      }
    }
    y += p.options ? ROW_OPT : ROW;
  }
  const h = y + 16;
  const markers = ['syn', 'fin', 'rst', 'ack'].map((c) =>
    `<marker id="${head}-${c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path class="head ${c}" d="M0,0 L10,5 L0,10 z"/></marker>`).join('');
  return `<svg class="ladder" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="packet ladder: ${drawn.length} packets">` +
    `<defs>${markers}</defs>` +
    cols.map((c, i) => `<text class="side" x="${xs[i]}" y="22" text-anchor="middle">${esc(c.label)}</text>`).join('') +
    (hasStates ? `<text class="statehd" x="${XL - 8}" y="48" text-anchor="end">state</text><text class="statehd" x="${XR + 8}" y="48">state</text>` : '') +
    `<text class="statehd" x="12" y="48">Δt</text>` +
    xs.map((x) => `<line class="life" x1="${x}" y1="30" x2="${x}" y2="${h - 6}"/>`).join('') +
    body.join('') + '</svg>';
}

// Fluid: the drawing fills its figure (viewBox scaling), but never shrinks below 14/SMALLEST_FONT of its
// size, so no text is drawn under 14 px; narrower screens scroll the figure instead.
export const SVG_CSS = `
svg.ladder { display: block; width: 100%; min-width: ${Math.ceil((LADDER_WIDTH * 14) / SMALLEST_FONT)}px; height: auto; background: #fff; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
svg.ladder .side { font: bold 18px system-ui, "DejaVu Sans", sans-serif; fill: #1a237e; }
svg.ladder .life { stroke: #90a4ae; stroke-width: 2; }
svg.ladder .arrow { stroke-width: 2.5; }
svg.ladder .lbl { font-size: 16px; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
svg.ladder .opt { font-size: 15px; fill: #546e7a; }
svg.ladder .dt { font-size: 15px; fill: #455a64; }
svg.ladder .state { font: 600 15px system-ui, "DejaVu Sans", sans-serif; fill: #4a148c; }
svg.ladder .statehd { font: 15px system-ui, sans-serif; fill: #78909c; text-transform: uppercase; }
svg.ladder .note { font: italic 16px system-ui, "DejaVu Sans", sans-serif; fill: #00695c; }
svg.ladder .note.finding { fill: #bf360c; font-style: normal; font-weight: 600; }
svg.ladder a.marker .note { text-decoration: underline; cursor: pointer; }
svg.ladder a.marker:focus .note, svg.ladder a.marker:hover .note { fill: #870000; }
svg.ladder .note.inc { fill: #37474f; font-weight: 600; }
svg.ladder .syn .arrow, svg.ladder .head.syn { stroke: #2e7d32; fill: #2e7d32; }
svg.ladder .fin .arrow, svg.ladder .head.fin { stroke: #ef6c00; fill: #ef6c00; }
svg.ladder .rst .arrow, svg.ladder .head.rst { stroke: #c62828; fill: #c62828; }
svg.ladder .ack .arrow, svg.ladder .head.ack { stroke: #455a64; fill: #455a64; }
svg.ladder .syn .lbl { fill: #1b5e20; } svg.ladder .fin .lbl { fill: #e65100; } svg.ladder .rst .lbl { fill: #b71c1c; } svg.ladder .ack .lbl { fill: #263238; }
`;
