// Terminal output of `tcplab inspect`: a summary, a ladder per connection with each side's state and the
// findings placed in the timeline, the findings with their rules, and connection rates.
import { renderLadder } from '../lab/ladder.js';
import type { NoteRecord, PacketRecord } from '../lab/packets.js';
import { epStr, findingExplanation, type Connection, type Finding } from './analyze.js';
import type { InspectReport } from './index.js';

export interface RenderInspectOptions {
  color?: boolean;
  /** Print the rule behind each finding (`--explain`). */
  explain?: boolean;
  /** Absolute sequence numbers in ladders. */
  absolute?: boolean;
  /** Ladders for at most this many connections (those with findings first); default 20. 0: none. */
  maxLadders?: number;
  /** At most this many packets per ladder; default 200. */
  maxPackets?: number;
  /** Only these connection ids. */
  conns?: readonly number[];
  /** List at most this many connections without findings (those with findings are always listed); default 50. */
  maxConnections?: number;
  width?: number;
}

const sec = (ns: bigint) => `${(Number(ns) / 1e9).toFixed(3)} s`;

function ladderFor(c: Connection, o: RenderInspectOptions): string {
  const max = o.maxPackets ?? 200;
  const shown: PacketRecord[] = c.packets.slice(0, max);
  const notes: NoteRecord[] = [];
  for (const inc of c.incarnations) {
    if (inc.n > 1) {
      const gap = inc.gapNs !== undefined ? `, ${sec(inc.gapNs)} after incarnation ${inc.n - 1} closed` : '';
      notes.push({ tsNs: inc.startNs, text: `── incarnation ${inc.n}${gap} ──` });
    }
  }
  for (const f of c.findings) {
    // Just after the packet that shows it, before the next one.
    const at = f.packets[f.packets.length - 1]?.tsNs ?? f.tsNs;
    notes.push({ tsNs: at + 1n, text: `⚑ ${f.kind}: ${f.text}` });
  }
  const last = shown[shown.length - 1]?.tsNs;
  const ns = last === undefined ? notes : notes.filter((n) => n.tsNs <= last + 1n);
  if (c.packets.length > max) ns.push({ tsNs: (last ?? 0n) + 2n, text: `… ${c.packets.length - max} more packet(s) not drawn (--max-packets)` });
  const [cl, sv] = c.ends;
  const same = cl.addr === sv.addr; // loopback: tell the sides apart by port
  return renderLadder(shown, ns, [
    { label: 'client', addrs: [cl.addr], ports: same ? [cl.port] : undefined },
    { label: 'server', addrs: [sv.addr], ports: same ? [sv.port] : undefined },
  ], {
    color: o.color,
    absolute: o.absolute,
    width: o.width ?? 120,
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

export function renderInspect(r: InspectReport, o: RenderInspectOptions = {}): string {
  const bold = (s: string) => (o.color ? `\x1b[1m${s}\x1b[0m` : s);
  const t0 = r.firstNs ?? 0n;
  const out: string[] = [];
  const incs = r.connections.reduce((n, c) => n + c.incarnations.length, 0);
  out.push(bold(`tcplab inspect ${r.file}`));
  const when = r.firstNs !== undefined ? `, ${new Date(Number(r.firstNs / 1_000_000n)).toISOString()} + ${sec((r.lastNs ?? t0) - t0)}` : '';
  out.push(`${r.format}, ${r.linkTypes.join('/')}: ${r.frames} frame(s), ${r.tcpPackets} TCP packet(s), ${r.connections.length} connection(s), ${incs} incarnation(s)${when}`);
  if (r.snapped) out.push(`${r.snapped} frame(s) cut by the capture's snaplen: read from their headers`);
  const sk = Object.entries(r.skipped);
  if (sk.length) out.push(`skipped: ${sk.map(([k, v]) => `${v} ${k}`).join('; ')}`);
  out.push(`TIME-WAIT assumed to last ${r.timeWaitMs / 1000} s`);

  const all = r.connections.filter((c) => !o.conns?.length || o.conns.includes(c.id));
  let quiet = 0;
  const wanted = all.filter((c) => c.findings.length > 0 || quiet++ < (o.maxConnections ?? 50));
  const ranked = [...wanted].sort((a, b) => (b.findings.length ? 1 : 0) - (a.findings.length ? 1 : 0) || a.id - b.id);
  const ladders = new Set(ranked.slice(0, o.maxLadders ?? 20).map((c) => c.id));
  for (const c of wanted) {
    out.push('');
    out.push(bold(`== connection ${c.id}: client ${epStr(c.ends[0])} -> server ${epStr(c.ends[1])}, ${c.packets.length} packet(s), ${c.incarnations.length} incarnation(s)`));
    for (const i of c.incarnations) {
      const closed = i.closedBy ? `closed by ${i.closedBy} at +${sec(i.closedAtNs! - t0)}` : 'not closed in the capture';
      out.push(`   incarnation ${i.n}: +${sec(i.startNs - t0)} .. +${sec(i.endNs - t0)}, ${i.packets} packet(s), ${closed}; client ${i.finalStates[0]}, server ${i.finalStates[1]}`);
    }
    if (ladders.has(c.id)) {
      out.push('');
      out.push(ladderFor(c, o));
    }
    if (c.findings.length) {
      out.push('');
      out.push(...findingLines(c.findings, o, t0, '   '));
    }
  }
  if (all.length > wanted.length) {
    out.push('');
    out.push(`(${all.length - wanted.length} more connection(s) without findings not listed: --conn ID or --max-connections N)`);
  }
  if (wanted.length > ladders.size && (o.maxLadders ?? 20) > 0) {
    out.push('');
    out.push(`(ladders drawn for ${ladders.size} of ${wanted.length} connections: --conn ID or --max-ladders N for others)`);
  }
  if (r.rates.length) {
    out.push('');
    out.push(bold('== connection rates (client -> server:port)'));
    for (const x of r.rates) {
      out.push(`   ${x.client} -> ${x.server}: ${x.connections} connection(s) from ${x.distinctClientPorts} port(s) in ${x.spanSec} s, ` +
        `avg ${x.perSecAvg}/s, peak ${x.perSecPeak}/s; ${x.maxInTimeWait} within ${r.timeWaitMs / 1000} s = ${(x.usage * 100).toFixed(2)}% ` +
        `of ${x.ports} ephemeral ports -> exhaustion risk ${x.risk}; client closed first in ${x.clientTimeWaits}`);
    }
  }
  const global = r.findings.filter((f) => f.conn === 0);
  if (global.length) out.push(...findingLines(global, o, t0, '   '));
  out.push('');
  const counts = new Map<string, number>();
  for (const f of r.findings) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  out.push(bold(`findings: ${r.findings.length}`) + (counts.size ? ` (${[...counts].map(([k, n]) => `${k} ×${n}`).join(', ')})` : ''));
  if (!o.explain && r.findings.length) out.push('(--explain prints the rule behind each finding)');
  return out.join('\n');
}
