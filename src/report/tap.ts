// TAP version 13 for CI: one test point per check ("ok N - lab/case/check"), a failing point per case
// that errored without checks; failures carry a YAML block with what was expected and seen.
import type { ReportJson } from './json.js';

/** TAP descriptions end at '#' (a directive): escape it, and keep to one line. */
function desc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/#/g, '\\#').replace(/[\r\n]+/g, ' ');
}

/** A YAML scalar: JSON strings and numbers are valid YAML flow scalars. */
function y(v: unknown): string {
  return v === undefined ? 'null' : JSON.stringify(v);
}

export function renderTap(report: ReportJson): string {
  const points: string[] = [];
  const diag: string[] = [];
  let n = 0;
  for (const lab of report.labs) {
    points.push(`# ${desc(lab.id)}: ${desc(lab.title)} (${lab.stack.os} ${lab.stack.release}) ${lab.verdict}`);
    for (const c of lab.cases) {
      for (const k of c.checks) {
        n++;
        const name = `${lab.id}/${c.id}/${k.id}`;
        if (k.verdict === 'PASS') {
          points.push(`ok ${n} - ${desc(name)}`);
          continue;
        }
        points.push(`not ok ${n} - ${desc(name)}`);
        points.push('  ---');
        points.push(`  message: ${y(k.title)}`);
        points.push(`  severity: ${k.verdict === 'ERROR' ? 'error' : 'fail'}`);
        points.push(`  verdict: ${k.verdict}`);
        points.push(`  expected: ${y(k.expected)}`);
        points.push(`  observed: ${y(k.observed)}`);
        points.push(`  rule: ${y(k.rule)}`);
        if (k.because) points.push(`  because: ${y(k.because)}`);
        if (k.explain) points.push(`  explain: ${y(k.explain)}`);
        points.push('  evidence:');
        points.push(`    packets: ${k.evidence.packets.length}`);
        points.push(`    sockets: ${k.evidence.sockets.length}`);
        points.push(`    counters: ${Object.keys(k.evidence.counters).length}`);
        if (c.pcap) points.push(`  pcap: ${y(c.pcap)}`);
        points.push('  ...');
      }
      if (c.error || c.checks.length === 0) {
        n++;
        points.push(`not ok ${n} - ${desc(`${lab.id}/${c.id}`)} case error`);
        points.push('  ---');
        points.push(`  message: ${y(c.error ?? 'the case made no checks')}`);
        points.push('  severity: error');
        points.push('  verdict: ERROR');
        points.push('  ...');
      }
    }
  }
  diag.push(`# verdict: ${report.verdict}`);
  return ['TAP version 13', `1..${n}`, ...points, ...diag].join('\n') + '\n';
}
