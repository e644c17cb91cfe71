// KTAP version 1 (Documentation/dev-tools/ktap.rst), shaped as kselftest prints it
// (tools/testing/selftests/kselftest/ktap_helpers.sh): the run is a plan of labs, each lab a test whose
// subtests are its cases, each case a test whose subtests are its checks. Nested results are indented two
// spaces per level and start with their own version line and plan; diagnostic lines ("# ...") come right
// before the result line they are about; the run ends with kselftest's "# Totals:" line. A nested test also
// carries KUnit's "# Subtest: NAME" after its version line (a diagnostic to ktap.rst, a name to kunit.py parse).
import type { ReportJson } from './json.js';

type Lab = ReportJson['labs'][number];
type Case = Lab['cases'][number];
type Check = Case['checks'][number];

/** Totals as ktap_print_totals() counts them: check-level results plus skipped and errored cases. */
interface Totals { pass: number; fail: number; skip: number; error: number }

/** A description cannot contain '#' (it starts the directive) and is one line. */
function name(s: string): string {
  return s.replace(/#/g, '_').replace(/\s+/g, ' ').trim();
}

/** Diagnostic data after "# DIRECTIVE": one line (a newline would end the result line). */
function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

class Writer {
  readonly lines: string[] = [];
  constructor(private readonly depth = 0) {}
  nested(): Writer {
    return new Writer(this.depth + 1);
  }
  line(s: string): void {
    this.lines.push('  '.repeat(this.depth) + s);
  }
  diag(s: string): void {
    this.line(`# ${oneLine(s)}`);
  }
  /** The version line and plan; a nested test also names itself as KUnit does ("# Subtest: NAME"). */
  header(plan: number, subtest?: string): void {
    this.line('KTAP version 1');
    if (subtest !== undefined) this.line(`# Subtest: ${subtest}`);
    this.line(`1..${plan}`);
  }
  append(w: Writer): void {
    this.lines.push(...w.lines);
  }
}

function checkPoint(w: Writer, n: number, k: Check, t: Totals): boolean {
  if (k.verdict === 'PASS') {
    t.pass++;
    w.line(`ok ${n} ${name(k.id)}`);
    return true;
  }
  w.diag(`${k.title}`);
  w.diag(`observed ${JSON.stringify(k.observed)}${k.rule === 'none' ? '' : `, expected ${k.expected} (${k.rule})`}`);
  if (k.because) w.diag(`expected because: ${k.because}`);
  const ctr = Object.entries(k.evidence.counters);
  if (ctr.length) w.diag(`counters: ${ctr.map(([c, v]) => `${c} ${v >= 0 ? '+' : ''}${v}`).join(', ')}`);
  if (k.verdict === 'ERROR') {
    t.error++;
    // The runner's two reasons (src/lab/runner.ts record()): no rule for this stack, or no evidence.
    const why = k.rule === 'none' ? k.expected : (k.explain ?? 'no evidence');
    w.line(`not ok ${n} ${name(k.id)} # ERROR ${oneLine(why)}`);
  } else {
    t.fail++;
    w.line(`not ok ${n} ${name(k.id)}`);
  }
  return false;
}

function casePoint(w: Writer, n: number, c: Case, pcapNote: boolean, t: Totals): boolean {
  // A case that made no check has no subtests: its result line carries the error (ktap.rst: ERROR is "not ok").
  if (c.checks.length === 0) {
    t.error++;
    w.line(`not ok ${n} ${name(c.id)} # ERROR ${oneLine(c.error ?? 'the case made no checks')}`);
    return false;
  }
  const sub = w.nested();
  sub.header(c.checks.length, name(c.id));
  let ok = true;
  c.checks.forEach((k, i) => {
    ok = checkPoint(sub, i + 1, k, t) && ok;
  });
  w.append(sub);
  w.diag(`${c.id}: ${c.title} (${(c.durationMs / 1000).toFixed(1)} s)`);
  if (pcapNote && c.pcap) w.diag(`pcap: ${c.pcap}`);
  if (c.error) {
    t.error++;
    w.line(`not ok ${n} ${name(c.id)} # ERROR ${oneLine(c.error)}`);
    return false;
  }
  w.line(`${ok ? 'ok' : 'not ok'} ${n} ${name(c.id)}`);
  return ok;
}

function labPoint(w: Writer, n: number, lab: Lab, t: Totals): void {
  const skipped = lab.skipped ?? [];
  const sub = w.nested();
  sub.header(lab.cases.length + skipped.length, name(lab.id));
  let ok = true;
  let i = 0;
  for (const c of lab.cases) ok = casePoint(sub, ++i, c, true, t) && ok;
  // Cases the runner did not start because they cannot apply to this stack (kselftest's skip).
  for (const k of skipped) {
    t.skip++;
    sub.line(`ok ${++i} ${name(k.id)} # SKIP ${oneLine(k.why)}`);
  }
  w.append(sub);
  w.diag(`${lab.id}: ${lab.title} (${lab.stack.os} ${lab.stack.release}${lab.target ? ` on ${lab.target}` : ''}) ${lab.verdict}`);
  // A lab whose cases were all skipped is itself a skip (ktap.rst "Nested tests"): none ran, none failed.
  if (lab.cases.length === 0 && skipped.length > 0) w.line(`ok ${n} ${name(lab.id)} # SKIP no case applies to this stack`);
  else w.line(`${ok ? 'ok' : 'not ok'} ${n} ${name(lab.id)}`);
}

export function renderKtap(report: ReportJson): string {
  const w = new Writer();
  const t: Totals = { pass: 0, fail: 0, skip: 0, error: 0 };
  w.header(report.labs.length);
  report.labs.forEach((lab, i) => labPoint(w, i + 1, lab, t));
  if (t.skip > 0) w.diag(`${t.skip} skipped test(s) detected: cases that cannot run on this stack`);
  w.diag(`Totals: pass:${t.pass} fail:${t.fail} xfail:0 xpass:0 skip:${t.skip} error:${t.error}`);
  return w.lines.join('\n') + '\n';
}
