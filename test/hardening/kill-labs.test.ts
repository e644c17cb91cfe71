// Fault injection on the real CLI: every non-slow lab (one short case) killed at random moments with
// SIGINT, SIGTERM and SIGKILL (+ tcplab clean). Nothing of the run may remain and the root namespace's
// sysctls must be byte-identical. CI runs 3 kills per lab; the 50-run campaign is
// `node dist-test/test/fuzz/killmany.js --runs 50`.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { requireRoot } from '../helpers/root.js';
import { CLI, NOTHING } from '../fuzz/killrun.js';
import { allLabs } from '../../labs/index.js';
import { describeRun, killCampaign, killCases } from '../fuzz/killmany.js';

describe('labs killed at random points leave nothing behind', () => {
  requireRoot();

  const cases = killCases();
  it('every non-slow lab is in the campaign, with a case it has', () => {
    expect(cases.map((c) => c.lab)).toEqual(allLabs.filter((l) => !l.slow).map((l) => l.id));
    for (const c of cases) expect(allLabs.find((l) => l.id === c.lab)!.cases.map((x) => x.id)).toContain(c.caseId);
  });

  it(`${cases.length * 3} runs of tcplab run <lab> --case, killed with SIGINT/SIGTERM/SIGKILL`, { timeout: 150_000 }, async () => {
    expect(existsSync(CLI), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const c = await killCampaign(cases.length * 3, Number(process.env.TCPLAB_KILL_SEED ?? Date.now() % 100_000));
    console.log(c.results.map(describeRun).join('\n'));
    for (const r of c.results) {
      expect({ run: `${r.lab}/${r.caseId} ${r.sig}@${r.delayMs}`, hung: r.exit.signal === 'HUNG', ...r.leftovers })
        .toEqual({ run: `${r.lab}/${r.caseId} ${r.sig}@${r.delayMs}`, hung: false, ...NOTHING });
      // SIGINT/SIGTERM: the CLI finishes its clean-up and exits 130/143 (or dies of the signal itself while node
      // is still starting, before its handlers exist)
      if (r.sig !== 'SIGKILL' && r.finishedMs === undefined) expect(r.exit.signal === r.sig || [130, 143].includes(r.exit.code ?? -1), describeRun(r)).toBe(true);
    }
    expect(c.sysctlDiff).toEqual([]);
    // the kills must have hit runs with testbeds up, not only node starting or finished runs
    const hit = c.results.filter((r) => r.finishedMs === undefined && r.runIds.length > 0 && r.pids.length > 0);
    expect(hit.length).toBeGreaterThanOrEqual(cases.length);
    expect(new Set(hit.map((r) => r.sig)).size).toBe(3);
  });
});
