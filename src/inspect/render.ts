// Terminal output of `tcplab inspect`: the summary first (capture, findings aggregated per kind and
// (client, server:port), ports), then a ladder for each connection with findings (or asked for), with each
// side's state and the findings placed in the timeline.
import { renderLadder } from '../lab/ladder.js';
import type { NoteRecord, PacketRecord } from '../lab/packets.js';
import { epStr, findingExplanation, type Connection, type Finding } from './analyze.js';
import { spreadText, type FindingGroup } from './findings.js';
import type { InspectReport } from './file.js';

export interface RenderInspectOptions {
  color?: boolean;
  /** Print the rule behind each finding (`--explain`). */
  explain?: boolean;
  /** Absolute sequence numbers in ladders. */
  absolute?: boolean;
  /** Ladders for at most this many connections (those with findings first); default 20. 0: none. */
  maxLadders?: number;
  /** At most this many packets per ladder, besides a finding's packets and their context; default 200. */
  maxPackets?: number;
  /** Only these connection ids. */
  conns?: readonly number[];
  /** Unused since the summary lists groups, not connections (kept for callers). */
  maxConnections?: number;
  /** Every finding instance (needs the report made with `all`). */
  all?: boolean;
  width?: number;
}

const sec = (ns: bigint) => `${(Number(ns) / 1e9).toFixed(3)} s`;
const num = (x: number) => x.toLocaleString('en-US');

function ladderFor(c: Connection, o: RenderInspectOptions): string {
  const max = o.maxPackets ?? 200;
  // The first max packets, and a finding's packets wherever they are (with the kept context around them).
  const must = new Set<PacketRecord>(c.findings.flatMap((f) => f.packets));
  const mustAt: number[] = [];
  c.packets.forEach((p, i) => { if (must.has(p)) mustAt.push(i); });
  const shown: PacketRecord[] = [];
  const idx = new Map<PacketRecord, number>();
  let m = 0;
  c.packets.forEach((p, i) => {
    while (m < mustAt.length && mustAt[m]! < i - 3) m++;
    const near = m < mustAt.length && mustAt[m]! <= i + 3;
    idx.set(p, i);
    if (i < max || near) shown.push(p);
  });
  const notes: NoteRecord[] = [];
  const first = shown[0]?.tsNs;
  for (const inc of c.incarnations) {
    if (inc.n > 1 && (first === undefined || inc.startNs >= first)) {
      const gap = inc.gapNs !== undefined ? `, ${sec(inc.gapNs)} after incarnation ${inc.n - 1} closed` : '';
      notes.push({ tsNs: inc.startNs, text: `── incarnation ${inc.n}${gap} ──` });
    }
  }
  for (const f of c.findings) {
    // Just after the packet that shows it, before the next one.
    const at = f.packets[f.packets.length - 1]?.tsNs ?? f.tsNs;
    notes.push({ tsNs: at + 1n, text: `⚑ ${f.kind}: ${f.text}` });
  }
  // Gaps: packets of the connection not drawn here (past --max-packets) or not kept while reading.
  const pos = (q: PacketRecord) => c.index[idx.get(q)!] ?? idx.get(q)!;
  for (let i = 1; i < shown.length; i++) {
    const gap = pos(shown[i]!) - pos(shown[i - 1]!) - 1;
    if (gap > 0) notes.push({ tsNs: shown[i]!.tsNs - 1n, text: `… ${num(gap)} packet(s) not drawn (--max-packets)` });
  }
  const before = shown.length ? pos(shown[0]!) : 0;
  if (before > 0) notes.push({ tsNs: (first ?? 0n) - 1n, text: `… ${num(before)} earlier packet(s) not kept (the connection was drawn from its first finding on)` });
  const last = shown[shown.length - 1]?.tsNs;
  const after = shown.length ? c.totalPackets - 1 - pos(shown[shown.length - 1]!) : 0;
  if (after > 0 && last !== undefined) notes.push({ tsNs: last + 2n, text: `… ${num(after)} more packet(s) not drawn (--max-packets)` });
  const ns = last === undefined ? notes : notes.filter((n) => n.tsNs <= last + 2n);
  const [cl, sv] = c.ends;
  const same = cl.addr === sv.addr; // loopback: tell the sides apart by port
  return renderLadder(shown, ns, [
    { label: 'client', addrs: [cl.addr], ports: same ? [cl.port] : undefined },
    { label: 'server', addrs: [sv.addr], ports: same ? [sv.port] : undefined },
  ], {
    color: o.color,
    absolute: o.absolute,
    width: o.width ?? 120,
    frames: true, // the file's own frame numbers, as Wireshark shows them
    states: (p) => c.states.get(p),
  }).replace(/^( +)client \(([^)]*)\)/, `$1client (${epStr(cl)})`).replace(/server \(([^)]*)\)/, `server (${epStr(sv)})`);
}

function findingLines(fs: readonly Finding[], o: RenderInspectOptions, t0: bigint, indent: string): string[] {
  const out: string[] = [];
  const y = (s: string) => (o.color ? `\x1b[33m${s}\x1b[0m` : s);
  for (const f of fs) {
    const frames = f.packets.length ? ` (frame${f.packets.length > 1 ? 's' : ''} ${f.packets.map((p) => p.frame).join(', ')})` : '';
    out.push(`${indent}${y('⚑ ' + f.kind)} +${sec(f.tsNs - t0)}${frames}: ${f.text}`);
    if (o.explain) {
      const e = findingExplanation(f.kind);
      out.push(`${indent}    why: ${e.text}`);
      out.push(`${indent}    rule: ${e.rules.join('; ')}`);
    }
  }
  return out;
}

function groupLines(g: FindingGroup, o: RenderInspectOptions, t0: bigint, origin: bigint): string[] {
  const y = (s: string) => (o.color ? `\x1b[33m${s}\x1b[0m` : s);
  const e = findingExplanation(g.kind);
  const spread = spreadText(g);
  const outcomes = Object.entries(g.outcomes).map(([k, v]) => `${k} ×${num(v)}`).join(', ');
  const head = `   ${y(`⚑ ${g.kind} ×${num(g.count)}`)} ${g.client} -> ${g.server}, ${num(g.connections)} connection(s)` +
    `${spread ? `: ${spread}` : ''}${outcomes ? `; ${outcomes}` : ''}`;
  const ex = g.examples.map((x) => `conn ${x.conn} +${sec(origin + BigInt(Math.round(x.t)) - t0)} frame${x.frames.length > 1 ? 's' : ''} ${x.frames.join(', ')}`).join('; ');
  const lines = [head, `       means: ${e.title}. ${e.text}`, `       e.g. ${ex}${g.count > g.examples.length ? ' (--all for every one)' : ''}`];
  if (g.examples[0]) lines.push(`       first: ${g.examples[0].text}`);
  if (o.explain) lines.push(`       rule: ${e.rules.join('; ')}`);
  return lines;
}

export function renderInspect(r: InspectReport, o: RenderInspectOptions = {}): string {
  const bold = (s: string) => (o.color ? `\x1b[1m${s}\x1b[0m` : s);
  const t0 = r.firstNs ?? 0n;
  const out: string[] = [];
  out.push(bold(`tcplab inspect ${r.file}`));
  const when = r.firstNs !== undefined ? `, ${new Date(Number(r.firstNs / 1_000_000n)).toISOString()} + ${sec((r.lastNs ?? t0) - t0)}` : '';
  out.push(`${r.format}${r.gzip ? ' (gzip)' : ''}, ${r.linkTypes.join('/')}: ${num(r.frames)} frame(s), ${num(r.tcpPackets)} TCP packet(s), ` +
    `${num(r.totalConnections)} connection(s), ${num(r.totalIncarnations)} incarnation(s)${when}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (r.snapped) out.push(`${num(r.snapped)} frame(s) cut by the capture's snaplen: analysed from their headers`);
  const sk = Object.entries(r.skipped);
  if (sk.length) out.push(`skipped: ${sk.map(([k, v]) => `${num(v)} ${k}`).join('; ')}`);
  if (r.directions === 'one') out.push('only one direction of every connection was captured (a mirror port or an asymmetric route?): the other side\'s states are inferred, findings that need its answers cannot show');
  out.push(`TIME-WAIT assumed to last ${r.timeWaitMs / 1000} s; at most ${num(r.peakLive)} connection(s) tracked at once`);

  const groups = r.findingGroups;
  const total = groups.reduce((n, g) => n + g.count, 0);
  out.push('');
  out.push(bold(`== findings: ${num(total)}${groups.length ? ` in ${groups.length} group(s) (kind, client -> server:port)` : ''}`));
  for (const g of groups) out.push(...groupLines(g, o, t0, r.originNs));
  if (o.all && r.allFindings) {
    out.push('');
    out.push(bold('== every finding (--all)'));
    for (const x of r.allFindings) out.push(`   ⚑ conn ${x.conn} +${sec(r.originNs + BigInt(Math.round(x.t)) - t0)} frames ${x.frames.join(', ')}: ${x.text}`);
  }
  if (r.rates.length) {
    out.push('');
    out.push(bold('== ports (client -> server:port)'));
    for (const x of r.rates) {
      out.push(`   ${x.client} -> ${x.server}: ${num(x.connections)} connection(s) in ${x.spanSec} s, avg ${x.perSecAvg}/s, peak ${x.perSecPeak}/s; ` +
        `client closed first in ${num(x.clientTimeWaits)}; exhaustion ${x.risk}`);
      out.push(`      ${x.verdict}`);
    }
  }
  const global = r.findings.filter((f) => f.conn === 0);
  if (global.length) out.push(...findingLines(global, o, t0, '   '));

  const all = r.connections.filter((c) => !o.conns?.length || o.conns.includes(c.id));
  const ranked = [...all].sort((a, b) => (b.findings.length ? 1 : 0) - (a.findings.length ? 1 : 0) || a.id - b.id);
  const ladders = new Set(ranked.slice(0, o.maxLadders ?? 20).map((c) => c.id));
  for (const c of all) {
    out.push('');
    out.push(bold(`== connection ${c.id}: client ${epStr(c.ends[0])} -> server ${epStr(c.ends[1])}, ${num(c.totalPackets)} packet(s), ${num(c.totalIncarnations)} incarnation(s)`));
    const shownIncs = c.incarnations.slice(0, 10);
    for (const i of shownIncs) {
      const closed = i.closedBy ? `closed by ${i.closedBy} at +${sec(i.closedAtNs! - t0)}` : 'not closed in the capture';
      out.push(`   incarnation ${i.n}: +${sec(i.startNs - t0)} .. +${sec(i.endNs - t0)}, ${i.packets} packet(s), ${closed}; client ${i.finalStates[0]}, server ${i.finalStates[1]}`);
    }
    if (c.totalIncarnations > shownIncs.length) out.push(`   … ${num(c.totalIncarnations - shownIncs.length)} more incarnation(s)`);
    if (ladders.has(c.id)) {
      out.push('');
      out.push(ladderFor(c, o));
    }
    if (c.findings.length) {
      out.push('');
      out.push(...findingLines(c.findings, o, t0, '   '));
    }
  }
  const withFindings = groups.reduce((n, g) => n + g.connections, 0);
  if (withFindings > all.filter((c) => c.findings.length).length && !o.conns?.length) {
    out.push('');
    out.push(`(ladders kept for the first ${r.connections.filter((c) => c.findings.length).length} connection(s) with findings: --max-ladders N or --conn ID for others)`);
  }
  out.push('');
  out.push(bold(`findings: ${num(total + global.length)}`) + (groups.length || global.length ? ` (${[...kindCounts(groups, global)].map(([k, n]) => `${k} ×${num(n)}`).join(', ')})` : ''));
  if (!o.explain && total) out.push('(--explain prints the rule behind each finding)');
  return out.join('\n');
}

function kindCounts(groups: readonly FindingGroup[], global: readonly Finding[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const g of groups) m.set(g.kind, (m.get(g.kind) ?? 0) + g.count);
  for (const f of global) m.set(f.kind, (m.get(f.kind) ?? 0) + 1);
  return m;
}
