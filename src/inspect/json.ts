// The JSON form of an inspect report (schema tcplab.inspect/1): plain data, bigints as decimal strings,
// times relative to the first packet. The same --conn / --max-packets choices as the text apply.
import { packetJson } from '../lab/packets.js';
import { epStr, findingExplanation, type Connection, type Finding } from './analyze.js';
import { spreadText } from './findings.js';
import type { InspectReport } from './file.js';

export const INSPECT_SCHEMA = 'tcplab.inspect/1';

export interface InspectJsonOptions {
  /** Only these connections. */
  conns?: readonly number[];
  /** At most this many packets per connection, besides a finding's packets. */
  maxPackets?: number;
}

export function inspectToJson(r: InspectReport, o: InspectJsonOptions = {}) {
  const t0 = r.firstNs ?? 0n;
  const rel = (ns: bigint | undefined) => (ns === undefined ? null : (ns - t0).toString());
  const relT = (t: number) => (r.originNs + BigInt(Math.round(t)) - t0).toString();
  const findingJson = (f: Finding) => ({
    kind: f.kind,
    conn: f.conn,
    incarnation: f.incarnation,
    tNs: rel(f.tsNs),
    who: f.who,
    text: f.text,
    rule: findingExplanation(f.kind).rules,
    explain: findingExplanation(f.kind).text,
    frames: f.packets.map((p) => p.frame),
  });
  const packets = (c: Connection) => {
    const must = new Set(c.findings.flatMap((f) => f.packets));
    const max = o.maxPackets ?? Infinity;
    return c.packets.filter((p, i) => i < max || must.has(p));
  };
  const conns = r.connections.filter((c) => !o.conns?.length || o.conns.includes(c.id));
  return {
    schema: INSPECT_SCHEMA,
    file: r.file,
    format: r.format,
    gzip: r.gzip,
    linkTypes: r.linkTypes,
    frames: r.frames,
    tcpPackets: r.tcpPackets,
    snapped: r.snapped,
    skipped: r.skipped,
    warnings: r.warnings,
    startNs: r.firstNs?.toString() ?? null,
    durationNs: r.firstNs !== undefined && r.lastNs !== undefined ? (r.lastNs - r.firstNs).toString() : '0',
    timeWaitMs: r.timeWaitMs,
    totalConnections: r.totalConnections,
    totalIncarnations: r.totalIncarnations,
    peakLive: r.peakLive,
    directions: r.directions,
    findingGroups: r.findingGroups.map((g) => ({
      kind: g.kind, client: g.client, server: g.server, count: g.count, connections: g.connections,
      spread: spreadText(g) || null, min: g.min, max: g.max, outcomes: g.outcomes,
      title: findingExplanation(g.kind).title, explain: findingExplanation(g.kind).text, rule: findingExplanation(g.kind).rules,
      examples: g.examples.map((x) => ({ conn: x.conn, incarnation: x.incarnation, tNs: relT(x.t), who: x.who, text: x.text, frames: x.frames })),
    })),
    connections: conns.map((c) => ({
      id: c.id,
      client: epStr(c.ends[0]),
      server: epStr(c.ends[1]),
      totalPackets: c.totalPackets,
      totalIncarnations: c.totalIncarnations,
      directions: { clientToServer: c.directions[0], serverToClient: c.directions[1] },
      packets: packets(c).map((p) => ({ frame: p.frame, ...packetJson(p, t0), states: c.states.get(p) ?? null })),
      incarnations: c.incarnations.map((i) => ({
        n: i.n,
        startNs: rel(i.startNs),
        endNs: rel(i.endNs),
        packets: i.packets,
        closedBy: i.closedBy ?? null,
        closedAtNs: rel(i.closedAtNs),
        gapNs: i.gapNs?.toString() ?? null,
        finalStates: { client: i.finalStates[0], server: i.finalStates[1] },
      })),
      findings: c.findings.map(findingJson),
    })),
    findings: r.findings.filter((f) => f.conn === 0 || !o.conns?.length || o.conns.includes(f.conn)).map(findingJson),
    allFindings: r.allFindings?.map((x) => ({ conn: x.conn, incarnation: x.incarnation, tNs: relT(x.t), who: x.who, text: x.text, frames: x.frames })) ?? null,
    rates: r.rates,
  };
}

export type InspectJson = ReturnType<typeof inspectToJson>;
