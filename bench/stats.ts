// Small statistics for the bench: medians and spreads over repeated runs, percentiles of samples.

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** Median and the relative half-range (max-min)/2/median, the spread printed next to each figure. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}
export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: [...values] };
}
export function spreadPct(s: Summary): number {
  return s.median > 0 ? ((s.max - s.min) / 2 / s.median) * 100 : 0;
}
