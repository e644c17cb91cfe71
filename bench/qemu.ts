// Start-to-ready of the QEMU target (issue 6: "boot to ready in a few seconds"): restored from the guest
// snapshot, against a cold boot of the same guest measured in the same run (the peer). The first restored
// start may build the snapshot; it is left out of the figures. Then a restored start of every other built
// catalogue kernel (src/targets/kernels.ts), each from its own snapshot.
import { builtKernelFactories, type KernelFactory } from '../src/targets/kernels.js';
import { qemuUnavailable, QemuTarget } from '../src/targets/qemu.js';
import type { BenchOptions, Row } from './types.js';

async function startMs(cold: boolean, f?: KernelFactory): Promise<{ ms: number; mode: string }> {
  const t0 = performance.now();
  const t = f ? await f.start() : await QemuTarget.start({ cold });
  const ms = performance.now() - t0;
  const mode = t.boot.mode;
  await t.dispose();
  return { ms, mode };
}

export async function benchQemu(opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const why = await qemuUnavailable();
  if (why) {
    log(`bench: targets: linux-6.1-qemu unavailable: ${why}`);
    return [];
  }
  const warm = await startMs(false); // builds the snapshot when there is none
  log(`bench: linux-6.1-qemu first start ${(warm.ms / 1000).toFixed(2)} s (${warm.mode})`);
  const restored: Row = { section: 'targets', name: 'linux-6.1-qemu start, restored', unit: 's', runs: [], peer: 'linux-6.1-qemu start, cold boot' };
  const cold: Row = { section: 'targets', name: 'linux-6.1-qemu start, cold boot', unit: 's', runs: [], note: 'TCPLAB_QEMU_COLD=1' };
  const coldRuns = Math.max(1, Math.min(opts.runs, 3)); // a cold boot costs seconds of TCG
  for (let i = 0; i < opts.runs; i++) {
    const r = await startMs(false);
    if (r.mode !== 'restored') throw new Error(`bench: linux-6.1-qemu start ${i + 1} was ${r.mode}, not restored`);
    restored.runs.push(r.ms / 1000);
    if (i < coldRuns) cold.runs.push((await startMs(true)).ms / 1000);
    log(`bench: linux-6.1-qemu start ${i + 1}/${opts.runs}: restored ${restored.runs.at(-1)!.toFixed(2)} s${i < coldRuns ? `, cold ${cold.runs.at(-1)!.toFixed(2)} s` : ''}`);
  }
  return [restored, cold, ...(await benchKernels(opts, log))];
}

/** One restored start per run of each built catalogue kernel other than 6.1 (measured above with its cold peer). */
async function benchKernels(opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const f of builtKernelFactories().filter((k) => k.id !== 'linux-6.1-qemu')) {
    const why = await f.unavailable();
    if (why) {
      log(`bench: targets: ${f.id} unavailable: ${why}`);
      continue;
    }
    const first = await startMs(false, f); // builds its snapshot when there is none
    const row: Row = { section: 'targets', name: `${f.id} start, restored`, unit: 's', runs: [], note: f.title.replace(/ in QEMU\/TCG$/, '') };
    for (let i = 0; i < opts.runs; i++) {
      const r = await startMs(false, f);
      if (r.mode !== 'restored') throw new Error(`bench: ${f.id} start ${i + 1} was ${r.mode}, not restored`);
      row.runs.push(r.ms / 1000);
    }
    log(`bench: ${f.id} first start ${(first.ms / 1000).toFixed(2)} s (${first.mode}), restored: ${row.runs.map((x) => x.toFixed(2)).join(' ')} s`);
    rows.push(row);
  }
  return rows;
}
