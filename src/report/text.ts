// The terminal reporter: a lab's story, each case's ladder (states and TIME-WAIT events worked out by
// inspect's tracker) and its checks.
import { annotate } from '../inspect/annotate.js';
import { renderLadder } from '../lab/ladder.js';
import type { LabResult, Verdict } from '../lab/result.js';

const MARK: Record<Verdict, string> = { PASS: 'PASS   ', DIFFERS: 'DIFFERS', ERROR: 'ERROR  ' };

export function renderText(r: LabResult, opts: { color?: boolean; absolute?: boolean; explain?: boolean; width?: number } = {}): string {
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
      out.push(renderLadder(c.packets, [...c.notes, ...a.notes], c.columns, { color, absolute: opts.absolute, states: a.states, frames: true, ...(opts.width ? { width: opts.width } : {}) }));
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
        for (const p of k.evidence.packets) out.push(`          packet: ${p.frame ? `frame ${p.frame} ` : ''}+${(Number(p.tNs) / 1e6).toFixed(3)}ms ${p.src} > ${p.dst} ${p.flags} seq ${p.seq} ack ${p.ack} ${p.options}`);
      }
    }
    if (c.error) out.push(`  ${paint('ERROR', MARK.ERROR)} ${c.error}`);
    out.push(`  case verdict: ${paint(c.verdict, c.verdict)} (${(c.durationMs / 1000).toFixed(1)} s)${c.pcap ? `  pcap: ${c.pcap}` : ''}`);
  }
  out.push('');
  out.push(bold(`verdict: ${paint(r.verdict, r.verdict)}  (${r.cases.length} case(s), ${(r.durationMs / 1000).toFixed(1)} s)`));
  return out.join('\n');
}
