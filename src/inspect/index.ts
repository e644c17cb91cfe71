// `tcplab inspect capture.pcap`: read any capture, track connections, point out TIME-WAIT events.
import { packetJson } from '../lab/packets.js';
import { decode } from '../wire/segment.js';
import { analyze, epStr, findingExplanation, rates, type Connection, type Finding, type InspectPacket, type RateReport } from './analyze.js';
import { decodableFrame, LINKTYPE_NAMES, readCapture } from './capture.js';

export { CaptureFormatError, readCapture, parsePcapng, decodableFrame } from './capture.js';
export type { CaptureFile, CaptureFrame } from './capture.js';
export { analyze, rates } from './analyze.js';
export type { Connection, Finding, FindingKind, Incarnation, InspectPacket, RateReport, TcpState } from './analyze.js';
export { renderInspect, type RenderInspectOptions } from './render.js';
export { annotate, type Annotations } from './annotate.js';

export interface InspectOptions {
  /** TIME-WAIT length in ms (Linux TCP_TIMEWAIT_LEN: 60000). */
  timeWaitMs?: number;
  /** Ephemeral ports a client has, for the exhaustion estimate (Linux default 32768-60999: 28232). */
  ports?: number;
}

export interface InspectReport {
  file: string;
  format: 'pcap' | 'pcapng';
  linkTypes: string[];
  frames: number;
  tcpPackets: number;
  /** Frames cut by the capture's snaplen (decoded from their headers, payload length from the wire length). */
  snapped: number;
  /** Frames that are not TCP or could not be decoded, by reason. */
  skipped: Record<string, number>;
  firstNs?: bigint;
  lastNs?: bigint;
  timeWaitMs: number;
  connections: Connection[];
  findings: Finding[];
  rates: RateReport[];
}

export const INSPECT_SCHEMA = 'tcplab.inspect/1';

/** Reads and analyses a capture. Throws CaptureFormatError (naming file and offset) for bad files. */
export async function inspectFile(path: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const timeWaitMs = opts.timeWaitMs ?? 60_000;
  if (!Number.isFinite(timeWaitMs) || timeWaitMs <= 0) throw new RangeError(`timeWaitMs: must be a positive number of ms, got ${timeWaitMs}`);
  const ports = opts.ports ?? 60999 - 32768 + 1;
  if (!Number.isInteger(ports) || ports < 1 || ports > 65535) throw new RangeError(`ports: must be an integer 1..65535, got ${ports}`);
  const file = await readCapture(path);
  const packets: InspectPacket[] = [];
  const skipped: Record<string, number> = {};
  const skip = (why: string) => { skipped[why] = (skipped[why] ?? 0) + 1; };
  let snapped = 0;
  for (const fr of file.frames) {
    // A capture cut at a snaplen keeps the headers: pad the frame back to its length on the wire so the
    // decoder sees a whole datagram (the payload bytes are unknown, its length is what matters here).
    const data = fr.origLen > fr.data.length && fr.origLen - fr.data.length <= 262144
      ? Buffer.concat([fr.data, Buffer.alloc(fr.origLen - fr.data.length)])
      : fr.data;
    if (data !== fr.data) snapped++;
    const d = decodableFrame(fr.linkType, data);
    if ('skip' in d) { skip(d.skip); continue; }
    const r = decode(d.data, d.link);
    if (!r.ok) { skip(r.error.replace(/\d+/g, 'N')); continue; }
    const iface = file.interfaces[fr.iface];
    packets.push({ tsNs: fr.tsNs, dir: 'in', point: iface?.name ?? `if${fr.iface}`, segment: r.segment, frame: fr.index });
  }
  const connections = analyze(packets, { timeWaitMs });
  const rateList = rates(connections, { timeWaitMs, ports });
  const findings = connections.flatMap((c) => c.findings);
  for (const r of rateList) {
    if (r.risk === 'low') continue;
    findings.push({
      kind: 'port-exhaustion', conn: 0, incarnation: 0, tsNs: packets[0]?.tsNs ?? 0n, who: r.client,
      text: `${r.client} -> ${r.server}: ${r.maxInTimeWait} connections within ${timeWaitMs / 1000} s use ${(r.usage * 100).toFixed(1)}% of ${r.ports} ports (risk ${r.risk})`,
      packets: [],
    });
  }
  findings.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  const times = packets.map((p) => p.tsNs);
  return {
    file: path,
    format: file.format,
    linkTypes: [...new Set(file.interfaces.map((i) => LINKTYPE_NAMES[i.linkType] ?? `linktype ${i.linkType}`))],
    frames: file.frames.length,
    tcpPackets: packets.length,
    snapped,
    skipped,
    firstNs: times.length ? times.reduce((a, b) => (b < a ? b : a)) : undefined,
    lastNs: times.length ? times.reduce((a, b) => (b > a ? b : a)) : undefined,
    timeWaitMs,
    connections,
    findings,
    rates: rateList,
  };
}

/** Stable JSON form (bigints as decimal strings, times relative to the first packet). */
export function inspectToJson(r: InspectReport) {
  const t0 = r.firstNs ?? 0n;
  const rel = (ns: bigint | undefined) => (ns === undefined ? null : (ns - t0).toString());
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
  return {
    schema: INSPECT_SCHEMA,
    file: r.file,
    format: r.format,
    linkTypes: r.linkTypes,
    frames: r.frames,
    tcpPackets: r.tcpPackets,
    snapped: r.snapped,
    skipped: r.skipped,
    startNs: r.firstNs?.toString() ?? null,
    durationNs: r.firstNs !== undefined && r.lastNs !== undefined ? (r.lastNs - r.firstNs).toString() : '0',
    timeWaitMs: r.timeWaitMs,
    connections: r.connections.map((c) => ({
      id: c.id,
      client: epStr(c.ends[0]),
      server: epStr(c.ends[1]),
      packets: c.packets.map((p) => ({ frame: p.frame, ...packetJson(p, t0), states: c.states.get(p) ?? null })),
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
    findings: r.findings.map(findingJson),
    rates: r.rates,
  };
}

export type InspectJson = ReturnType<typeof inspectToJson>;
