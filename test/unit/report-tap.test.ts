import { describe, expect, it } from 'vitest';
import { renderTap } from '../../src/report/tap.js';
import { sampleReportJson } from '../fixtures/inspect-labresult.js';

describe('TAP 13 reporter', () => {
  it('one test point per check, failures with a YAML block, an errored case as not ok', async () => {
    const tap = renderTap(await sampleReportJson());
    const lines = tap.trimEnd().split('\n');
    expect(lines[0]).toBe('TAP version 13');
    expect(lines[1]).toBe('1..4');
    const points = lines.filter((l) => /^(not )?ok \d+ /.test(l));
    expect(points).toEqual([
      'ok 1 - timewait-syn/newer-isn/syn-ack',
      'ok 2 - timewait-syn/newer-isn/tw-state',
      'not ok 3 - timewait-syn/older-isn/answer',
      'not ok 4 - timewait-syn/broken case error',
    ]);
    // The YAML block of point 3: indented, between --- and ..., with the fields CI needs.
    const i = lines.indexOf('not ok 3 - timewait-syn/older-isn/answer');
    const end = lines.indexOf('  ...', i);
    expect(lines[i + 1]).toBe('  ---');
    const yaml = lines.slice(i + 2, end);
    expect(yaml).toContain('  expected: "\\"S.\\""');
    expect(yaml).toContain('  observed: "."');
    expect(yaml).toContain('  rule: "linux >=4.12"');
    expect(yaml).toContain('  verdict: DIFFERS');
    expect(yaml).toEqual(expect.arrayContaining(['  evidence:', '    packets: 2', '    sockets: 0', '    counters: 2']));
    // Multi-line strings stay on one YAML line (JSON escapes are valid YAML double-quoted scalars).
    expect(yaml.find((l) => l.startsWith('  because:'))).toBe('  because: "a # sign and \\"quotes\\"\\nand a second line"');
    expect(yaml.every((l) => l.startsWith('  '))).toBe(true);
    expect(lines[lines.indexOf('not ok 4 - timewait-syn/broken case error') + 2]).toBe('  message: "EPERM: raw sockets need root"');
    expect(lines.at(-1)).toBe('# verdict: ERROR');
  });

  it('escapes # in descriptions and counts points in the plan', async () => {
    const j = await sampleReportJson();
    j.labs[0]!.cases[0]!.checks[0]!.id = 'a#b';
    j.labs[0]!.cases = j.labs[0]!.cases.slice(0, 1);
    const tap = renderTap(j);
    expect(tap).toContain('ok 1 - timewait-syn/newer-isn/a\\#b');
    expect(tap.split('\n')[1]).toBe('1..2');
  });

  it('an empty run is a valid plan of zero', () => {
    expect(renderTap({ schema: 'tcplab.report/1', verdict: 'PASS', labs: [] })).toBe('TAP version 13\n1..0\n# verdict: PASS\n');
  });
});
