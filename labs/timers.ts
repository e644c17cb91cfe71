// Kernel timer facts the timing labs judge against: the tick (HZ) and the timer wheel's slack, so a
// tolerance is derived from how the kernel arms its timers, not from how loaded this machine is.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { release } from 'node:os';
import type { Tolerance } from '../src/lab/timing.js';

/** CONFIG_HZ of this machine's kernel (/boot/config-RELEASE or /proc/config.gz's text), or undefined. */
export function localHz(): number | undefined {
  for (const f of [`/boot/config-${release()}`, '/proc/config.gz']) {
    try {
      const raw = readFileSync(f);
      const m = /^CONFIG_HZ=(\d+)$/m.exec((f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
      if (m) return Number(m[1]);
    } catch {
      // not there: try the next
    }
  }
  return undefined;
}

/** The HZ the tolerances assume when the kernel does not say: 100 is the coarsest tick Linux builds with. */
export const WORST_HZ = 100;

/**
 * Tolerance for a TCP timer of `ms` (jiffies-based, armed with sk_reset_timer()). Since 4.8 the timer wheel
 * does not cascade: a timer lands in the level whose granularity is at most 1/8 of its timeout
 * (LVL_CLK_SHIFT 3), so it fires up to T/8 late, never early; plus two ticks (rounding up to the next
 * jiffy, and the softirq that runs it) and the capture's clock (both ends stamped by the same AF_PACKET
 * socket, well under a ms). checkGap() takes the window symmetrically, which errs on the strict side.
 */
export function timerTolerance(hz: number | undefined): Tolerance {
  const tick = 1000 / (hz ?? WORST_HZ);
  return { absMs: 2 * tick + 2, pct: 0.125 };
}

/** One jiffy in ms. */
export function jiffyMs(hz: number | undefined): number {
  return 1000 / (hz ?? WORST_HZ);
}
