// Times as a person reads them off a slide: seconds from 1 s up, milliseconds below, never raw µs or ns,
// with as many decimals as the size warrants (a 10 ms retransmit and a 60 s TIME-WAIT both read at a glance).

/** A duration in ns (bigint, number or the report's decimal string) as "1.500 s", "12.3 ms", "0.042 ms". */
export function humanTime(ns: bigint | number | string): string {
  const v = typeof ns === 'bigint' ? Number(ns) : Number(ns);
  const neg = v < 0 ? '-' : '';
  const a = Math.abs(v);
  const ms = a / 1e6;
  // From 999.5 ms up, "1000 ms" would be printed: seconds read better.
  if (ms >= 999.5) return `${neg}${(a / 1e9).toFixed(3)} s`;
  if (ms === 0) return '0 ms';
  if (ms < 0.001) return `${neg}<0.001 ms`;
  const digits = ms >= 100 ? 0 : ms >= 10 ? 1 : ms >= 1 ? 2 : 3;
  return `${neg}${ms.toFixed(digits)} ms`;
}

/** The same with a sign, for offsets and gaps: "+12.3 ms". */
export function humanOffset(ns: bigint | number | string): string {
  const s = humanTime(ns);
  return s.startsWith('-') ? s : `+${s}`;
}
