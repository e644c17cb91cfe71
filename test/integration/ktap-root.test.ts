// --ktap on a live run (one short case of timewait-syn, ~1 s, root): stdout is KTAP v1 and nothing else,
// it parses (test/helpers/ktap.ts), its plan counts match the run's checks, and it names this kernel.
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/labrun.js';
import { parseKtap, totals } from '../helpers/ktap.js';
import { requireRoot } from '../helpers/root.js';

describe('tcplab run --ktap as root', () => {
  requireRoot();

  it('a live timewait-syn case: lab > case > checks, all ok, kselftest totals', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', 'timewait-syn', '--case', 'isn-above', '--no-pcap', '--ktap'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const { tests, trailing } = parseKtap(r.stdout);
    expect(tests.map((t) => [t.n, t.name, t.ok])).toEqual([[1, 'timewait-syn', true]]);
    const [lab] = tests;
    expect(lab!.subtests.map((c) => c.name)).toEqual(['isn-above']);
    const checks = lab!.subtests[0]!.subtests;
    expect(checks.length).toBeGreaterThanOrEqual(3);
    expect(checks.every((k) => k.ok && !k.directive)).toBe(true);
    expect(totals(tests)).toEqual({ pass: checks.length, fail: 0, skip: 0, error: 0 });
    expect(trailing.at(-1)).toBe(`Totals: pass:${checks.length} fail:0 xfail:0 xpass:0 skip:0 error:0`);
    expect(lab!.diag.join('\n')).toContain(`(linux ${release()})`);
  });
});
