// Kernel counters from /proc/net/netstat and /proc/net/snmp (per namespace): header/value line pairs
// like "TcpExt: SyncookiesSent ... TWRecycled ..." / "TcpExt: 0 ... 3 ...".

/** Group -> counter -> value, e.g. snap.TcpExt.TWRecycled. Groups: Ip, Icmp, Tcp, Udp, TcpExt, IpExt, MPTcpExt... */
export type CounterGroup = Readonly<Record<string, number>>;
export interface Counters {
  readonly TcpExt: CounterGroup;
  readonly IpExt: CounterGroup;
  readonly Tcp: CounterGroup;
  readonly Ip: CounterGroup;
  readonly [group: string]: CounterGroup;
}

/** Parses the concatenation of /proc/net/netstat and /proc/net/snmp. Unpaired lines are ignored. */
export function parseCounters(text: string): Counters {
  const out: Record<string, Record<string, number>> = { TcpExt: {}, IpExt: {}, Tcp: {}, Ip: {} };
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = /^(\w+):\s+(.*)$/.exec(lines[i]!);
    const v = /^(\w+):\s+(.*)$/.exec(lines[i + 1]!);
    if (!h || !v || h[1] !== v[1]) continue;
    const names = h[2]!.trim().split(/\s+/);
    const values = v[2]!.trim().split(/\s+/);
    // A header line has names, the value line numbers; skip a misaligned pair.
    if (names.length !== values.length || !values.every((x) => /^-?\d+$/.test(x)) || names.some((n) => /^-?\d+$/.test(n))) continue;
    const g = (out[h[1]!] ??= {});
    names.forEach((n, j) => {
      g[n] = Number(values[j]);
    });
    i++;
  }
  return out as Counters;
}

/** b - a per counter (counters missing in a count as 0). Use around a step: delta(before, after).TcpExt.TWRecycled */
export function delta(a: Counters, b: Counters): Counters {
  const out: Record<string, Record<string, number>> = {};
  for (const [group, values] of Object.entries(b)) {
    const g: Record<string, number> = {};
    for (const [name, v] of Object.entries(values)) g[name] = v - (a[group]?.[name] ?? 0);
    out[group] = g;
  }
  for (const k of ['TcpExt', 'IpExt', 'Tcp', 'Ip']) out[k] ??= {};
  return out as Counters;
}

/** Only the counters that changed, as "Group.Name" -> delta (handy in reports). */
export function changed(d: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [group, values] of Object.entries(d)) {
    for (const [name, v] of Object.entries(values)) if (v !== 0) out[`${group}.${name}`] = v;
  }
  return out;
}

/**
 * One counter by "Group.Name" ('TcpExt.TWRecycled'). Throws a RangeError naming it when this kernel
 * does not have it, rather than a silent 0 that would make a check pass for the wrong reason.
 */
export function counter(snap: Counters, path: `${string}.${string}`): number {
  const [group, name] = path.split('.') as [string, string];
  const v = snap[group]?.[name];
  if (v === undefined) throw new RangeError(`counter ${path}: not reported by this kernel (see /proc/net/netstat and /proc/net/snmp)`);
  return v;
}
