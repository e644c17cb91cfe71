// The version matrix (issue 12): reuse + timewait-syn across every built Linux kernel (the `linux`
// alias: this machine's plus each guest), wall time of the whole matrix and each stack's share. The
// goal: five kernels in under 5 minutes on a 2-core machine. One run by default (it takes minutes);
// --runs N repeats it.
import { reuseLab } from '../labs/reuse.js';
import { timewaitSynLab } from '../labs/timewait-syn.js';
import { runMatrix } from '../src/matrix/matrix.js';
import { resolveStacks } from '../src/targets/registry.js';
import type { BenchOptions, Row } from './types.js';

export async function benchVersions(opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const stacks = await resolveStacks(['linux']);
  const whole: Row = { section: 'versions', name: `version matrix: reuse + timewait-syn on ${stacks.length} kernels`, unit: 's', runs: [], extra: { stacks: stacks.map((s) => s.id).join(' ') } };
  const per = new Map<string, number[]>();
  for (let i = 0; i < Math.max(1, Math.min(opts.runs, 3)); i++) {
    const t0 = performance.now();
    const started = new Map<string, number>();
    let bad = 0;
    const m = await runMatrix([reuseLab, timewaitSynLab], stacks, {
      onProgress: (l) => {
        const s = /^stack (\S+): starting$/.exec(l)?.[1];
        if (s) started.set(s, performance.now());
        if (/✘ (DIFFERS|ERROR)/.test(l)) bad++;
      },
    });
    whole.runs.push((performance.now() - t0) / 1000);
    // A stack's share: from its start to the next stack's start (or the end).
    const order = [...started.entries()];
    order.forEach(([id, t], k) => {
      const end = order[k + 1]?.[1] ?? performance.now();
      per.set(id, [...(per.get(id) ?? []), (end - t) / 1000]);
    });
    whole.extra = { ...whole.extra, [`run ${i + 1}: checks not PASS`]: bad, [`run ${i + 1}: rows`]: m.rows.length };
    log(`bench: version matrix ${i + 1}: ${whole.runs.at(-1)!.toFixed(1)} s, ${m.rows.length} rows, ${bad} checks not PASS`);
  }
  const rows: Row[] = [whole];
  for (const [id, runs] of per) rows.push({ section: 'versions', name: `  ${id}: start + both labs`, unit: 's', runs });
  return rows;
}
