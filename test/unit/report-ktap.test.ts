// The KTAP reporter, read back by a small parser of Documentation/dev-tools/ktap.rst (test/helpers/ktap.ts):
// a real lab run's report and synthetic ones with DIFFERS, ERROR and skipped cases.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderKtap } from '../../src/report/ktap.js';
import type { ReportJson } from '../../src/report/json.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';
import { parseKtap, totals, type KtapTest } from '../helpers/ktap.js';

describe('KTAP reporter', () => {
  it('a real lab run (timewait-syn on 6.18): one lab, its cases nested, their checks nested in them', () => {
    const real = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'report-timewait-syn.json'), 'utf8')) as ReportJson;
    const text = renderKtap(real);
    const { tests, trailing } = parseKtap(text);
    expect(text.split('\n').slice(0, 5)).toEqual(['KTAP version 1', '1..1', '  KTAP version 1', '  # Subtest: timewait-syn', `  1..${real.labs[0]!.cases.length}`]);
    expect(tests.map((t) => [t.name, t.ok])).toEqual([['timewait-syn', true]]);
    const lab = real.labs[0]!;
    expect(tests[0]!.subtests.map((c) => c.name)).toEqual(lab.cases.map((c) => c.id));
    for (const [i, c] of lab.cases.entries()) {
      expect(tests[0]!.subtests[i]!.subtests.map((k) => `ok ${k.n} ${k.name}`)).toEqual(c.checks.map((k, j) => `ok ${j + 1} ${k.id}`));
    }
    const checks = lab.cases.reduce((s, c) => s + c.checks.length, 0);
    expect(trailing.at(-1)).toBe(`Totals: pass:${checks} fail:0 xfail:0 xpass:0 skip:0 error:0`);
    expect(totals(tests)).toEqual({ pass: checks, fail: 0, skip: 0, error: 0 });
    // Diagnostic lines name the lab and its kernel, before the lab's result line.
    expect(tests[0]!.diag.join('\n')).toContain(`timewait-syn: ${lab.title} (linux ${lab.stack.release}) PASS`);
  });

  it('a real run with a case that cannot run on the target (lastack on the Linux 6.12 QEMU guest): ok # SKIP why', () => {
    // Saved with: tcplab run lastack --target linux-6.12-qemu --no-pcap --json-file test/fixtures/report-lastack-qemu.json
    const real = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'report-lastack-qemu.json'), 'utf8')) as ReportJson;
    const lab = real.labs[0]!;
    expect(lab.skipped?.map((k) => k.id)).toEqual(['rfc1337-rst']);
    const { tests, trailing } = parseKtap(renderKtap(real));
    const cases = tests[0]!.subtests;
    expect(cases.map((c) => `${c.ok ? 'ok' : 'not ok'} ${c.n} ${c.name}${c.directive ? ` # ${c.directive}` : ''}`)).toEqual([
      ...lab.cases.map((c, i) => `ok ${i + 1} ${c.id}`), `ok ${lab.cases.length + 1} rfc1337-rst # SKIP`,
    ]);
    expect(cases.at(-1)!.reason).toBe(lab.skipped![0]!.why);
    const checks = lab.cases.reduce((n, c) => n + c.checks.length, 0);
    expect(totals(tests)).toEqual({ pass: checks, fail: 0, skip: 1, error: 0 });
    expect(trailing.at(-1)).toBe(`Totals: pass:${checks} fail:0 xfail:0 xpass:0 skip:1 error:0`);
    expect(tests[0]!.diag.join('\n')).toContain('(linux 6.12.117+deb13-amd64 on linux-6.12-qemu) PASS');
  });

  it('fail, error and skip (synthetic): not ok, # ERROR with the reason, ok # SKIP with why', async () => {
    const j = await sampleReportJson();
    j.labs[0]!.skipped = [{ id: 'on-target', title: 'needs two hosts', why: 'slirp offers no partner link for two-host labs' }];
    // A second lab: a check with no rule for the stack (ERROR), a case that errored after its checks.
    const second = structuredClone(j.labs[0]!);
    second.id = 'paws';
    delete second.skipped;
    second.cases = [structuredClone(j.labs[0]!.cases[0]!)];
    second.cases[0]!.checks[1]!.verdict = 'ERROR';
    second.cases[0]!.checks[1]!.rule = 'none';
    second.cases[0]!.checks[1]!.expected = 'no expectation for lwip 2.1.3';
    second.cases[0]!.error = 'timeout waiting for the SYN-ACK';
    // A third lab with every case skipped: the lab itself is a skip.
    const third = structuredClone(j.labs[0]!);
    third.id = 'linger';
    third.cases = [];
    third.skipped = [{ id: 'linger0', title: 'x', why: 'needs this machine\'s kernel' }];
    j.labs.push(second, third);
    const text = renderKtap(j);
    const { tests, trailing } = parseKtap(text);
    expect(tests.map((t) => `${t.ok ? 'ok' : 'not ok'} ${t.n} ${t.name}${t.directive ? ` # ${t.directive}` : ''}`)).toEqual([
      'not ok 1 timewait-syn', 'not ok 2 paws', 'ok 3 linger # SKIP',
    ]);
    const [tw, paws, linger] = tests as [KtapTest, KtapTest, KtapTest];
    expect(tw.subtests.map((c) => `${c.ok ? 'ok' : 'not ok'} ${c.name}${c.directive ? ` # ${c.directive} ${c.reason}` : ''}`)).toEqual([
      'ok newer-isn',
      'not ok older-isn',
      'not ok broken # ERROR EPERM: raw sockets need root',
      'ok on-target # SKIP slirp offers no partner link for two-host labs',
    ]);
    // The failing check carries what was expected and seen as diagnostics right before its result line,
    // and a multi-line 'because' with a '#' stays on diagnostic lines.
    const older = tw.subtests[1]!.subtests[0]!;
    expect([older.ok, older.name]).toEqual([false, 'answer']);
    expect(older.diag).toContain('observed ".", expected "S." (linux >=4.12)');
    expect(older.diag).toContain('expected because: a # sign and "quotes" and a second line');
    expect(older.diag).toContain('counters: TcpExt.TWRecycled +0, TcpExt.PAWSActive +1');
    const pc = paws.subtests[0]!;
    expect([pc.ok, pc.directive, pc.reason]).toEqual([false, 'ERROR', 'timeout waiting for the SYN-ACK']);
    expect(pc.subtests.map((k) => `${k.ok} ${k.directive ?? ''} ${k.reason ?? ''}`.trim())).toEqual(['true', 'false ERROR no expectation for lwip 2.1.3']);
    expect([linger.reason, linger.subtests[0]!.directive]).toEqual(['no case applies to this stack', 'SKIP']);
    // kselftest's totals agree with the tree: 3 passing checks (tw 2, paws 1), 1 DIFFERS, 2 skipped cases,
    // errors: tw's broken case, paws' ERROR check and its errored case.
    expect(totals(tests)).toEqual({ pass: 3, fail: 1, skip: 2, error: 3 });
    expect(trailing.at(-1)).toBe('Totals: pass:3 fail:1 xfail:0 xpass:0 skip:2 error:3');
    expect(trailing).toContain('2 skipped test(s) detected: cases that cannot run on this stack');
    // The '#' rule: no description holds one.
    j.labs[0]!.cases[0]!.checks[0]!.id = 'a#b';
    expect(renderKtap(j)).toContain('\n    ok 1 a_b\n');
  });

  it('an empty run is a plan of zero', () => {
    expect(renderKtap({ schema: 'tcplab.report/1', verdict: 'PASS', labs: [] })).toBe('KTAP version 1\n1..0\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
  });
});
