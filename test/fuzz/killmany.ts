// The fault-injection campaign: `runs` kills spread over every non-slow lab of labs/index.ts (one short
// case each), signals in turn SIGINT, SIGTERM, SIGKILL (+ tcplab clean), at a random moment within the
// case's expected length. Root sysctls are compared before/after the whole campaign.
//   node dist-test/test/fuzz/killmany.js [--runs 50] [--seed 1]
import { parseArgs } from 'node:util';
import { allLabs } from '../../labs/index.js';
import { killRun, NOTHING, rootSysctls, sysctlDiff, type KillResult, type Sig } from './killrun.js';
import { Rng } from './rng.js';

/** A short case of the labs we know and how long it runs here (ms, `tcplab run <lab> --case`). */
const SHORT: Readonly<Record<string, { caseId: string; ms: number }>> = {
  reuse: { caseId: 'reuse2', ms: 4500 },
  'timewait-syn': { caseId: 'isn-above', ms: 2000 },
  rfc1337: { caseId: 'rfc1337-1', ms: 2000 },
  linger: { caseId: 'linger0', ms: 2000 },
  lastack: { caseId: 'normal', ms: 2800 },
  duplicate: { caseId: 'ts-on', ms: 2200 },
  exhaustion: { caseId: 'linger0', ms: 2200 },
};

/** One case per non-slow lab of labs/index.ts: the known short one, else the lab's first case. */
export function killCases(): Array<{ lab: string; caseId: string; ms: number }> {
  return allLabs.filter((l) => !l.slow).map((l) => {
    const k = SHORT[l.id];
    return { lab: l.id, ...(k && l.cases.some((c) => c.id === k.caseId) ? k : { caseId: l.cases[0]!.id, ms: 3000 }) };
  });
}

export interface Campaign {
  results: KillResult[];
  sysctlDiff: string[];
  wallMs: number;
}

export async function killCampaign(runs: number, seed = 1, onResult?: (r: KillResult) => void): Promise<Campaign> {
  const rng = new Rng(seed);
  const sigs: Sig[] = ['SIGINT', 'SIGTERM', 'SIGKILL'];
  const before = rootSysctls();
  const t0 = Date.now();
  const results: KillResult[] = [];
  const cases = killCases();
  const est = new Map<string, number>();
  for (let i = 0; i < runs; i++) {
    const c = cases[i % cases.length]!;
    // a third of the kills land in the first 400 ms (node starting, testbed half built), the rest anywhere
    // in the run; a run that ended before its kill teaches us how long that case really takes here
    const len = est.get(c.lab) ?? c.ms;
    // every other run waits for its testbed first, so some kills surely land with everything live
    const afterTestbed = i % 2 === 0;
    const delay = afterTestbed ? rng.int(300) : rng.chance(0.33) ? rng.int(Math.min(400, len)) : rng.int(len);
    const r = await killRun(c.lab, c.caseId, sigs[i % 3]!, delay, afterTestbed);
    if (r.finishedMs !== undefined) est.set(c.lab, Math.max(100, Math.floor(r.finishedMs * 0.9)));
    results.push(r);
    onResult?.(r);
  }
  let diff = sysctlDiff(before, rootSysctls());
  // Another test file may be mid-way through changing and restoring a root sysctl (test/integration/
  // kill.test.ts does): a change left by a killed run would persist, so look again after a pause.
  if (diff.length) {
    await new Promise((r) => setTimeout(r, 3000));
    diff = sysctlDiff(before, rootSysctls());
  }
  return { results, sysctlDiff: diff, wallMs: Date.now() - t0 };
}

export function clean(r: KillResult): boolean {
  return JSON.stringify(r.leftovers) === JSON.stringify(NOTHING) && r.exit.signal !== 'HUNG';
}

export function describeRun(r: KillResult): string {
  const how = r.finishedMs !== undefined ? `finished by itself after ${r.finishedMs} ms (exit ${r.exit.code})` : r.exit.signal ?? `exit ${r.exit.code}`;
  const mid = r.runIds.length ? `${r.runIds.length} testbed(s)` : 'before any testbed';
  return `${r.lab}/${r.caseId} ${r.sig}@${r.delayMs}ms -> ${how}, ${mid}, ${r.pids.length} child pids, clean ${r.cleanMs} ms: ${clean(r) ? 'nothing left' : JSON.stringify(r.leftovers)}`;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' } } });
  const c = await killCampaign(Number(values.runs), Number(values.seed), (r) => process.stdout.write(`${describeRun(r)}\n`));
  const bad = c.results.filter((r) => !clean(r));
  const bySig = (s: Sig) => c.results.filter((r) => r.sig === s).length;
  const midRun = c.results.filter((r) => r.runIds.length > 0 && r.finishedMs === undefined).length;
  const late = c.results.filter((r) => r.finishedMs !== undefined).length;
  process.stdout.write(`${c.results.length} runs (${bySig('SIGINT')} SIGINT, ${bySig('SIGTERM')} SIGTERM, ${bySig('SIGKILL')} SIGKILL), ${midRun} killed with a testbed up, ${late} finished before their kill, ` +
    `${bad.length} with leftovers, root sysctls changed: ${c.sysctlDiff.length}, wall ${(c.wallMs / 1000).toFixed(1)} s\n`);
  for (const d of c.sysctlDiff) process.stdout.write(`  sysctl ${d}\n`);
  process.exitCode = bad.length || c.sysctlDiff.length ? 1 : 0;
}
