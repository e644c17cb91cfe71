// Ephemeral ports per (client address, server address:port): how many were really used, how many sat in
// TIME-WAIT at the same moment, and how many were reused while their TIME-WAIT lived. Port exhaustion is
// about the second figure: a port whose 4-tuple to that server is in TIME-WAIT cannot be picked by
// connect() again (unless tcp_tw_reuse lets it) - counting connections per TIME-WAIT window instead
// overstates it wildly when the same ports are reused.
import { epStr, type Tracker } from './track.js';

export interface PortGroup {
  client: string;
  server: string;
  connections: number;
  clientPorts: Set<number>;
  firstSyn: number;
  lastSyn: number;
  /** Per-second SYN counting (fixed one-second buckets). */
  bucket: number;
  bucketCount: number;
  peakPerSec: number;
  twLive: number;
  twPeak: number;
  twPeakAt: number;
  clientTimeWaits: number;
  reuses: number;
  reusedPorts: Set<number>;
  reuseMin: number;
  reuseMax: number;
  reuseNoTs: number;
  /** Packets client->server and server->client. */
  dir: [number, number];
}

/** Connections per (client addr, server addr:port) and what they did to the client's ephemeral ports. */
export interface RateReport {
  client: string;
  server: string;
  connections: number;
  distinctClientPorts: number;
  spanSec: number;
  perSecAvg: number;
  perSecPeak: number;
  /** Most client ports in TIME-WAIT (towards this server:port) at one moment, and when (s since the capture start). */
  maxInTimeWait: number;
  maxInTimeWaitAtSec: number;
  /** Connections that ended with the client in TIME-WAIT (it closed first). */
  clientTimeWaits: number;
  /** SYNs that reopened a 4-tuple while the client's TIME-WAIT on it lived, and on how many ports. */
  reusedInTimeWait: number;
  portsReusedInTimeWait: number;
  /** Seconds into TIME-WAIT of those reopenings (null without any). */
  reuseIntoSec: [number, number] | null;
  ports: number;
  /** maxInTimeWait / ports. */
  usage: number;
  risk: 'low' | 'medium' | 'high' | 'exhausted';
  /** Which directions were captured. */
  directions: 'both' | 'client->server only' | 'server->client only';
  /** What the figures mean, in words (with the kernel behaviour that makes it possible). */
  verdict: string;
}

interface TwEntry { tr: Tracker; since: number }

export class PortAccounting {
  readonly groups = new Map<string, PortGroup>();
  private tw: TwEntry[] = [];
  private twHead = 0;

  constructor(private readonly twNs: number) {}

  group(tr: Tracker): PortGroup {
    let g = tr.portGroup as PortGroup | undefined;
    if (g) return g;
    const [cl, sv] = tr.ends;
    const server = epStr(sv);
    const key = `${cl.addr}>${server}`;
    g = this.groups.get(key);
    if (!g) {
      g = {
        client: cl.addr, server, connections: 0, clientPorts: new Set(), firstSyn: -1, lastSyn: -1, bucket: -1, bucketCount: 0,
        peakPerSec: 0, twLive: 0, twPeak: 0, twPeakAt: 0, clientTimeWaits: 0, reuses: 0, reusedPorts: new Set(),
        reuseMin: Infinity, reuseMax: -Infinity, reuseNoTs: 0, dir: [0, 0],
      };
      this.groups.set(key, g);
    }
    tr.portGroup = g;
    return g;
  }

  syn(tr: Tracker, t: number): void {
    const g = this.group(tr);
    g.connections++;
    g.clientPorts.add(tr.ends[0].port);
    if (g.firstSyn < 0) g.firstSyn = t;
    g.lastSyn = t;
    const b = Math.floor(t / 1e9);
    if (b === g.bucket) g.bucketCount++;
    else { g.bucket = b; g.bucketCount = 1; }
    if (g.bucketCount > g.peakPerSec) g.peakPerSec = g.bucketCount;
  }

  clientTw(tr: Tracker, since: number): void {
    if (tr.clientTwActive) return;
    const g = this.group(tr);
    tr.clientTwActive = true;
    tr.clientTwSince = since;
    g.twLive++;
    if (g.twLive > g.twPeak) { g.twPeak = g.twLive; g.twPeakAt = since; }
    this.tw.push({ tr, since });
  }

  clientTwEnd(tr: Tracker): void {
    if (!tr.clientTwActive) return;
    tr.clientTwActive = false;
    this.group(tr).twLive--;
  }

  reuse(tr: Tracker, intoSec: number, withTs: boolean): void {
    const g = this.group(tr);
    g.reuses++;
    g.reusedPorts.add(tr.ends[0].port);
    if (intoSec < g.reuseMin) g.reuseMin = intoSec;
    if (intoSec > g.reuseMax) g.reuseMax = intoSec;
    if (!withTs) g.reuseNoTs++;
  }

  /** TIME-WAITs that have run their course by `now` free their port. */
  expire(now: number): void {
    const q = this.tw;
    while (this.twHead < q.length && q[this.twHead]!.since + this.twNs <= now) {
      const e = q[this.twHead++]!;
      if (e.tr.clientTwActive && e.tr.clientTwSince === e.since) this.clientTwEnd(e.tr);
    }
    if (this.twHead > 4096 && this.twHead * 2 > q.length) {
      this.tw = q.slice(this.twHead);
      this.twHead = 0;
    }
  }

  count(tr: Tracker): void {
    const g = this.group(tr);
    g.clientTimeWaits += tr.clientTimeWaits;
    g.dir[0] += tr.dirPackets[0];
    g.dir[1] += tr.dirPackets[1];
  }

  reports(ports: number, twMs: number): RateReport[] {
    return [...this.groups.values()].filter((g) => g.connections > 0 || g.dir[0] + g.dir[1] > 0).map((g) => {
      const spanSec = g.firstSyn < 0 ? 0 : (g.lastSyn - g.firstSyn) / 1e9;
      const usage = g.twPeak / ports;
      const risk: RateReport['risk'] = usage >= 1 ? 'exhausted' : usage >= 0.5 ? 'high' : usage >= 0.1 ? 'medium' : 'low';
      const directions: RateReport['directions'] = g.dir[0] && g.dir[1] ? 'both' : g.dir[0] ? 'client->server only' : 'server->client only';
      const r: Omit<RateReport, 'verdict'> = {
        client: g.client, server: g.server, connections: g.connections, distinctClientPorts: g.clientPorts.size,
        spanSec: +spanSec.toFixed(3), perSecAvg: +(g.connections / Math.max(spanSec, 1)).toFixed(2), perSecPeak: g.peakPerSec,
        maxInTimeWait: g.twPeak, maxInTimeWaitAtSec: +(g.twPeakAt / 1e9).toFixed(3), clientTimeWaits: g.clientTimeWaits, reusedInTimeWait: g.reuses, portsReusedInTimeWait: g.reusedPorts.size,
        reuseIntoSec: g.reuses ? [+g.reuseMin.toFixed(3), +g.reuseMax.toFixed(3)] : null, ports, usage: +usage.toFixed(4), risk, directions,
      };
      return { ...r, verdict: verdict(r, g, twMs) };
    });
  }
}

const n = (x: number) => x.toLocaleString('en-US');

function verdict(r: Omit<RateReport, 'verdict'>, g: PortGroup, twMs: number): string {
  const parts: string[] = [];
  const tw = `${twMs / 1000} s`;
  parts.push(`${n(r.distinctClientPorts)} client port(s) for ${n(r.connections)} connection(s)`);
  if (r.reusedInTimeWait) {
    const spread = r.reuseIntoSec![0] === r.reuseIntoSec![1] ? `${r.reuseIntoSec![0].toFixed(2)} s` : `${r.reuseIntoSec![0].toFixed(2)}-${r.reuseIntoSec![1].toFixed(2)} s`;
    parts.push(`${n(r.portsReusedInTimeWait)} port(s) reused while their TIME-WAIT lived (${n(r.reusedInTimeWait)} reopening(s), ${spread} into TIME-WAIT): ` +
      (g.reuseNoTs === r.reusedInTimeWait
        ? 'without timestamps, which Linux never allows (tcp_twsk_unique() needs the TIME-WAIT to have seen a timestamp): not a Linux client, or its TIME-WAIT was dropped (tcp_max_tw_buckets)'
        : 'Linux allows it only in tcp_twsk_unique(), called from __inet_check_established(): with net.ipv4.tcp_tw_reuse for a port connect() picks itself (__inet_hash_connect(), ' +
          'once the TIME-WAIT\'s last timestamp is from an earlier second), or for a port bound explicitly (SO_REUSEADDR) whenever the TIME-WAIT saw timestamps; ' +
          'a reused port is not lost to TIME-WAIT, so this is no exhaustion'));
  }
  if (r.risk === 'exhausted') {
    parts.push(`${n(r.maxInTimeWait)} port(s) in TIME-WAIT at once = the whole range of ${n(r.ports)}: the next connect() to ${r.server} fails with EADDRNOTAVAIL ` +
      `(__inet_hash_connect() finds no port whose 4-tuple passes __inet_check_established()) unless net.ipv4.tcp_tw_reuse lets tcp_twsk_unique() take a TIME-WAIT one`);
  } else {
    parts.push(`at most ${n(r.maxInTimeWait)} port(s) in TIME-WAIT at once = ${(r.usage * 100).toFixed(1)}% of ${n(r.ports)}` +
      (r.risk === 'low' ? '' : r.risk === 'high'
        ? `: exhaustion is near (each port stays in TIME-WAIT ${tw} after the client closes first)`
        : ': exhaustion would need a higher rate'));
  }
  if (r.directions !== 'both') parts.push(`only ${r.directions.replace(' only', '')} packets captured (one direction: a mirror port?); states on the other side are inferred`);
  return parts.join('; ');
}
