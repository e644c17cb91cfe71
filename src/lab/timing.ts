// packetdrill's timing rule: an event may be late or early by max(absolute, percent of the gap since
// the previous event), anchored on the observed previous event, scaled for slow machines and VMs.

export interface Tolerance {
  /** Absolute slack in ms. packetdrill's default is 4 ms (one HZ=250 tick here). */
  absMs: number;
  /** Fraction of the expected gap, e.g. 0.25. Kernel timers fire up to 12.5 % late on their own. */
  pct: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { absMs: 4, pct: 0.25 };

/** TCPLAB_TOLERANCE_SCALE (or --tolerance-scale) widens every timing check; 1 by default. */
export function toleranceScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TCPLAB_TOLERANCE_SCALE;
  if (raw === undefined || raw === '') return 1;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    throw new RangeError(`TCPLAB_TOLERANCE_SCALE: must be a positive number like 2, got '${raw}'`);
  }
  return v;
}

export interface TimingResult {
  ok: boolean;
  expectedMs: number;
  observedMs: number;
  slackMs: number;
}

/** Was the observed gap (ns, between two observed events) within tolerance of the expected gap (ms)? */
export function checkGap(observedGapNs: bigint, expectedMs: number, tol: Tolerance = DEFAULT_TOLERANCE, scale = 1): TimingResult {
  const observedMs = Number(observedGapNs) / 1e6;
  const slackMs = Math.max(tol.absMs, tol.pct * expectedMs) * scale;
  return { ok: Math.abs(observedMs - expectedMs) <= slackMs, expectedMs, observedMs, slackMs };
}
