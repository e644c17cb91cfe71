// Start-to-ready of the QEMU target (issue 6: "boot to ready in a few seconds"): restored from the guest
// snapshot, against a cold boot of the same guest measured in the same run (the peer). The first restored
// start may build the snapshot; it is left out of the figures.
import { qemuUnavailable, QemuTarget } from '../src/targets/qemu.js';
import type { BenchOptions, Row } from './types.js';

async function startMs(cold: boolean): Promise<{ ms: number; mode: string }> {
  const t0 = performance.now();
  const t = await QemuTarget.start({ cold });
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
  return [restored, cold];
}
