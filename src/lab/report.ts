// The report model (stable JSON) and the terminal reporter.
import { renderLadder, type LadderColumn } from './ladder.js';
import { annotate } from '../inspect/annotate.js';
import type { StackInfo } from './kernel.js';
import { packetJson, type NoteRecord, type PacketRecord } from './packets.js';
import type { PeerCallRecord } from '../peer/record.js';

export type Verdict = 'PASS' | 'DIFFERS' | 'ERROR';

export interface CheckResult {
  id: string;
  title: string;
  verdict: Verdict;
  expected: string;
  /** Which rule gave the expectation, e.g. 'linux >=4.12'. */
  rule: string;
  because?: string;
  observed: string | number | boolean | null;
  explain?: string;
  evidence: {
    packets: ReturnType<typeof packetJson>[];
    sockets: string[];
    counters: Record<string, number>;
  };
  /** Kept for the terminal ladder of a DIFFERS check. */
  packetRecords: PacketRecord[];
}

export interface CaseResult {
  id: string;
  title: string;
  verdict: Verdict;
  error?: string;
  durationMs: number;
  steps: string[];
  sysctls: Record<string, string>;
  checks: CheckResult[];
  packets: PacketRecord[];
  notes: NoteRecord[];
  columns?: readonly [LadderColumn, LadderColumn];
  pcap?: string;
  t0: bigint;
  /** The socket calls the case's peers made, in order, with RunOptions.recordPeerCalls (for exporters such as packetdrill; not in the JSON). */
  peerCalls?: PeerCallRecord[];
}

export interface LabResult {
  lab: { id: string; title: string; summary: string; rfcs: readonly string[]; sources: readonly string[] };
  /** The subject's stack: the kernel (or user-space stack) the verdicts are about. */
  stack: StackInfo;
  /** The target the subject ran on (absent: this machine's kernel). */
  target?: string;
  /** The role on trial (Lab.roles). */
  subject?: string;
  startedAt: string;
  durationMs: number;
  verdict: Verdict;
  cases: CaseResult[];
  /** Cases that cannot run on this stack, with why. */
  skipped?: { id: string; title: string; why: string }[];
}

export function worst(vs: readonly Verdict[]): Verdict {
  if (vs.includes('ERROR')) return 'ERROR';
  if (vs.includes('DIFFERS')) return 'DIFFERS';
  return 'PASS';
}

export const REPORT_SCHEMA = 'tcplab.report/1';

/** Stable machine-readable form: field names here are a public interface. */
export function toJson(results: readonly LabResult[]) {
  return {
    schema: REPORT_SCHEMA,
    verdict: worst(results.map((r) => r.verdict)),
    labs: results.map((r) => ({
      id: r.lab.id,
      title: r.lab.title,
      summary: r.lab.summary,
      rfcs: r.lab.rfcs,
      sources: r.lab.sources,
      stack: { os: r.stack.os, release: r.stack.release },
      ...(r.target ? { target: r.target } : {}),
      ...(r.subject ? { subject: r.subject } : {}),
      ...(r.skipped?.length ? { skipped: r.skipped } : {}),
      startedAt: r.startedAt,
      durationMs: Math.round(r.durationMs),
      verdict: r.verdict,
      cases: r.cases.map((c) => ({
        id: c.id,
        title: c.title,
        verdict: c.verdict,
        error: c.error,
        durationMs: Math.round(c.durationMs),
        steps: c.steps,
        sysctls: c.sysctls,
        pcap: c.pcap,
        columns: c.columns,
        checks: c.checks.map(({ packetRecords: _omit, ...rest }) => rest),
        packets: c.packets.map((p) => packetJson(p, c.t0)),
        notes: c.notes.map((n) => ({ tNs: (n.tsNs - c.t0).toString(), who: n.who, text: n.text })),
      })),
    })),
  };
}

const MARK: Record<Verdict, string> = { PASS: 'PASS   ', DIFFERS: 'DIFFERS', ERROR: 'ERROR  ' };

export function renderText(r: LabResult, opts: { color?: boolean; absolute?: boolean; explain?: boolean } = {}): string {
  const color = opts.color ?? false;
  const paint = (v: Verdict, s: string) =>
    !color ? s : (v === 'PASS' ? '\x1b[32m' : v === 'DIFFERS' ? '\x1b[33m' : '\x1b[31m') + s + '\x1b[0m';
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
  const out: string[] = [];
  out.push(bold(`tcplab ${r.lab.id}: ${r.lab.title}`));
  const where = r.target ? ` on ${r.target}` : '';
  out.push(`kernel: ${r.stack.os} ${r.stack.release}${r.subject ? ` (the ${r.subject}'s${where}: the kernel on trial)` : ''}`);
  for (const k of r.skipped ?? []) out.push(`not run${where}: case ${k.id}: ${k.why}`);
  out.push(`rfcs: ${r.lab.rfcs.join('; ')}`);
  for (const c of r.cases) {
    out.push('');
    out.push(bold(`== case ${c.id}: ${c.title}`));
    const sys = Object.entries(c.sysctls);
    if (sys.length) out.push(`sysctls: ${sys.map(([k, v]) => `${k}=${v}`).join('  ')}`);
    c.steps.forEach((s, i) => out.push(`  ${i + 1}. ${s}`));
    if (c.columns && c.packets.length) {
      out.push('');
      // Each side's TCP state and the TIME-WAIT events, worked out from the packets (with rules on --explain).
      const a = annotate(c.packets, c.columns, { explain: opts.explain });
      out.push(renderLadder(c.packets, [...c.notes, ...a.notes], c.columns, { color, absolute: opts.absolute, states: a.states, wrapNotes: opts.explain }));
    }
    out.push('');
    for (const k of c.checks) {
      out.push(`  ${paint(k.verdict, MARK[k.verdict])} ${k.title}`);
      out.push(`          observed ${JSON.stringify(k.observed)}, expected ${k.expected} (${k.rule})`);
      if (k.explain) out.push(`          ${k.explain}`);
      if (k.because && k.verdict !== 'PASS') out.push(`          expected because: ${k.because}`);
      const ctr = Object.entries(k.evidence.counters);
      if (ctr.length) out.push(`          counters: ${ctr.map(([n, v]) => `${n} ${v >= 0 ? '+' : ''}${v}`).join(', ')}`);
      if (k.verdict === 'DIFFERS') {
        for (const s of k.evidence.sockets) out.push(`          socket: ${s}`);
        for (const p of k.evidence.packets) out.push(`          packet: +${(Number(p.tNs) / 1e6).toFixed(3)}ms ${p.src} > ${p.dst} ${p.flags} seq ${p.seq} ack ${p.ack} ${p.options}`);
      }
    }
    if (c.error) out.push(`  ${paint('ERROR', MARK.ERROR)} ${c.error}`);
    out.push(`  case verdict: ${paint(c.verdict, c.verdict)} (${(c.durationMs / 1000).toFixed(1)} s)${c.pcap ? `  pcap: ${c.pcap}` : ''}`);
  }
  out.push('');
  out.push(bold(`verdict: ${paint(r.verdict, r.verdict)}  (${r.cases.length} case(s), ${(r.durationMs / 1000).toFixed(1)} s)`));
  return out.join('\n');
}
