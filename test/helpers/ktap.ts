// A small parser of KTAP version 1 (Documentation/dev-tools/ktap.rst) for the tests, strict where the spec
// says "must": every level starts with "KTAP version 1" and a plan "1..N" at its indentation (KUnit's
// optional "# Subtest: NAME" between them, which must then name the result line), results are
// "<ok|not ok> <n> <description>[ # ...]" numbered from 1, nested lines are indented two more spaces and end
// before the parent's result line, a parent fails when a subtest fails, ERROR and TIMEOUT are "not ok", and
// every other line is a "# " diagnostic.
import { expect } from 'vitest';

export interface KtapTest {
  n: number;
  ok: boolean;
  name: string;
  directive?: string;
  reason?: string;
  diag: string[];
  subtests: KtapTest[];
}

const RESULT = /^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # (?:(SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b ?)?(.*))?$/;

/** Parses one level starting at lines[i] (its version line) at `depth`; returns its tests and the next line. */
function parseLevel(lines: string[], i: number, depth: number): { tests: KtapTest[]; next: number; diag: string[]; subtest?: string } {
  const pad = '  '.repeat(depth);
  expect(lines[i], `line ${i + 1}: version line at depth ${depth}`).toBe(`${pad}KTAP version 1`);
  // KUnit's optional "# Subtest: NAME" between the version line and the plan (a diagnostic line to ktap.rst).
  const header = depth > 0 ? new RegExp(`^${pad}# Subtest: (.*)$`).exec(lines[i + 1] ?? '') : null;
  if (header) i++;
  const plan = /^(\d+)\.\.(\d+)$/.exec(lines[i + 1]?.slice(pad.length) ?? '');
  expect(lines[i + 1]!.startsWith(pad) && plan, `line ${i + 2}: plan after the version line: ${lines[i + 1]}`).toBeTruthy();
  expect(plan![1]).toBe('1');
  const planned = Number(plan![2]);
  const tests: KtapTest[] = [];
  let diag: string[] = [];
  let sub: KtapTest[] = [];
  let subName: string | undefined;
  let j = i + 2;
  while (j < lines.length) {
    const l = lines[j]!;
    if (l.startsWith(`${pad}  KTAP version 1`)) {
      expect(sub, `line ${j + 1}: two subtest blocks before one result line`).toEqual([]);
      const r = parseLevel(lines, j, depth + 1);
      sub = r.tests;
      subName = r.subtest;
      diag.push(...r.diag);
      j = r.next;
      continue;
    }
    // A line at a shallower indentation belongs to the parent: this level has ended.
    if (!l.startsWith(pad) || l[pad.length] === ' ') break;
    const body = l.slice(pad.length);
    if (body.startsWith('# ')) {
      diag.push(body.slice(2));
      j++;
      continue;
    }
    const m = RESULT.exec(body);
    expect(m, `line ${j + 1}: neither a result nor a diagnostic: ${JSON.stringify(l)}`).toBeTruthy();
    const t: KtapTest = { n: Number(m![2]), ok: m![1] === 'ok', name: m![3] ?? '', diag, subtests: sub };
    if (m![4]) t.directive = m![4];
    if (m![5]) t.reason = m![5];
    expect(t.n, `line ${j + 1}: numbers start at 1 and go up by 1`).toBe(tests.length + 1);
    if (t.directive === 'ERROR' || t.directive === 'TIMEOUT') expect(t.ok, `line ${j + 1}: ${t.directive} is "not ok"`).toBe(false);
    // A parent fails when a subtest fails (skips do not count against it).
    if (sub.length) expect(t.ok, `line ${j + 1}: ${t.name} vs its subtests`).toBe(sub.every((s) => s.ok));
    if (subName !== undefined) expect(t.name, `line ${j + 1}: the result line names the test its "# Subtest:" named`).toBe(subName);
    subName = undefined;
    tests.push(t);
    diag = [];
    sub = [];
    j++;
  }
  expect(sub, 'a subtest block with no result line after it').toEqual([]);
  expect(tests.length, `plan 1..${planned} at depth ${depth} (line ${i + 2})`).toBe(planned);
  return { tests, next: j, diag, ...(header ? { subtest: header[1]! } : {}) };
}

export function parseKtap(text: string): { tests: KtapTest[]; trailing: string[] } {
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n');
  const r = parseLevel(lines, 0, 0);
  // After the last top-level result only diagnostics (kselftest's totals) may follow.
  const rest = lines.slice(r.next);
  for (const l of rest) expect(l).toMatch(/^# /);
  return { tests: r.tests, trailing: [...r.diag, ...rest.map((l) => l.slice(2))] };
}

export function totals(tests: readonly KtapTest[]): { pass: number; fail: number; skip: number; error: number } {
  const t = { pass: 0, fail: 0, skip: 0, error: 0 };
  // Leaves are checks (or cases that never ran); a parent counts only when it adds an ERROR of its own.
  const walk = (ts: readonly KtapTest[]) => {
    for (const x of ts) {
      if (x.directive === 'ERROR') t.error++;
      if (x.subtests.length) walk(x.subtests);
      else if (x.directive === 'SKIP') t.skip++;
      else if (x.directive !== 'ERROR') t[x.ok ? 'pass' : 'fail']++;
    }
  };
  walk(tests);
  return t;
}
