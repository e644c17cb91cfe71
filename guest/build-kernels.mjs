// Builds the catalogue kernels' guests (src/targets/kernels.ts, guest/build.sh) and their snapshots (one
// start each, which makes the snapshot when it is missing); a cached kernel is not fetched again (its
// initramfs is remade when its sources changed); prints the time of each. Needs the build (dist/). guest/ci-setup.sh runs it; by hand:
//   node guest/build-kernels.mjs [ID|SUITE...]    default: every catalogue kernel
// A kernel that cannot be built fails the run, except experimental's rc when there is none.
import { kernelFactories } from '../dist/src/targets/kernels.js';
import { buildGuest } from '../dist/src/targets/qemu.js';

const want = process.argv.slice(2);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
let failed = 0;
for (const f of kernelFactories()) {
  if (want.length && !want.includes(f.id) && !want.includes(f.spec.suite)) continue;
  const why = await f.unavailable();
  if (why) {
    const optional = f.id === 'linux-rc-qemu';
    console.log(`kernels: ${f.id}: ${optional ? 'skipped' : 'FAILED'}: ${why}`);
    if (!optional) failed++;
    continue;
  }
  const t0 = Date.now();
  let built = 'cached';
  try {
    // A cached guest is refreshed (its initramfs when guest/init, peer.c or build.sh changed), not fetched again.
    await buildGuest(f.spec.buildArgs);
    if (!f.built) built = `built in ${s(Date.now() - t0)}`;
    const t1 = Date.now();
    const t = await f.start();
    const boot = t.boot;
    const title = kernelFactories().find((k) => k.id === t.id)?.title ?? f.title; // as built now
    const line = `kernels: ${t.id}: ${t.stack.release} (${title.replace(/ in QEMU\/TCG$/, '')}): guest ${built}, ` +
      `snapshot ${boot.built ? `built in ${s(Date.now() - t1)}` : `cached (restored start ${s(boot.ms)})`}${boot.note ? ` [${boot.note}]` : ''}`;
    await t.dispose();
    console.log(line);
  } catch (e) {
    const optional = f.id === 'linux-rc-qemu' && /no package matching/.test(e.message);
    console.log(`kernels: ${f.id}: ${optional ? 'skipped' : 'FAILED'}: ${e.message}`);
    if (!optional) failed++;
  }
}
process.exit(failed ? 1 : 0);
