// A case's capture file: every frame of every capture point in time order (the frame numbers the
// ladder shows are the ones Wireshark shows for this file), written as annotated pcapng (one interface
// per capture point; per packet the step that caused it, each side's TCP state, the checks it is
// evidence for with their verdicts, inspect's findings) or, on request, as classic pcap.
import { PcapWriter } from '../wire/pcap.js';
import { writePcapng, type PcapngInterface, type PcapngPacket } from '../wire/pcapng.js';
import type { LadderColumn } from './ladder.js';
import type { PacketRecord } from './packets.js';
import type { CheckResult } from './result.js';
import type { CaptureSource } from './types.js';

export type PcapFormat = 'pcapng' | 'pcap';
export const PCAP_FORMATS: readonly PcapFormat[] = ['pcapng', 'pcap'];

export interface NumberedFrame {
  /** 1-based, as Wireshark numbers frames of the file. */
  frame: number;
  point: string;
  iface: number;
  link: CaptureSource['link'];
  data: Uint8Array;
  tsNs: bigint;
  dir?: 'in' | 'out';
}

/** A packet's identity across the lab's separate record objects: where, when and which way it was seen. */
export const packetKey = (p: { point: string; tsNs: bigint; dir?: string }) => `${p.point}|${p.tsNs}|${p.dir ?? ''}`;

/** All frames of the case in file order, and the frame number of any record taken from them. */
export function numberFrames(captures: readonly CaptureSource[]): { frames: NumberedFrame[]; points: string[]; frameOf: (p: PacketRecord) => number | undefined } {
  const points: string[] = [];
  const all: Omit<NumberedFrame, 'frame'>[] = [];
  for (const c of captures) {
    let iface = points.indexOf(c.point);
    if (iface < 0) iface = points.push(c.point) - 1;
    for (const f of c.frames()) all.push({ point: c.point, iface, link: c.link, data: f.data, tsNs: f.tsNs, ...(f.dir ? { dir: f.dir } : {}) });
  }
  // A stable sort: frames of one point with the same stamp stay in capture order.
  all.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  const frames = all.map((f, i) => ({ ...f, frame: i + 1 }));
  const byKey = new Map<string, number>();
  for (const f of frames) if (!byKey.has(packetKey(f))) byKey.set(packetKey(f), f.frame);
  // Sources that give no direction for their frames are matched without it.
  const undirected = new Map<string, number>();
  for (const f of frames) {
    const k = packetKey({ point: f.point, tsNs: f.tsNs });
    if (!undirected.has(k)) undirected.set(k, f.frame);
  }
  return { frames, points, frameOf: (p) => byKey.get(packetKey(p)) ?? undirected.get(packetKey({ point: p.point, tsNs: p.tsNs })) };
}

/**
 * What a reader of the packets says of them: each end's TCP state after a packet and the findings with
 * the packets that show them. tcplab inspect is that reader (src/inspect/annotate.ts pcapngReading);
 * it sits above this layer, so the caller hands it in (RunOptions.readPackets).
 */
export interface PacketReading {
  states: ReadonlyArray<{ packet: PacketRecord; text: string }>;
  findings: ReadonlyArray<{ kind: string; text: string; packets: readonly PacketRecord[] }>;
}
export type PacketReader = (packets: readonly PacketRecord[], columns?: readonly LadderColumn[]) => PacketReading;

export interface CaseCapture {
  path: string;
  format: PcapFormat;
  /** 'lab case: title; kernel ...' for the section comment. */
  title: string;
  captures: readonly CaptureSource[];
  numbered: ReturnType<typeof numberFrames>;
  packets: readonly PacketRecord[];
  columns?: readonly LadderColumn[];
  steps: readonly string[];
  /** When each step was taken (same length as steps). */
  stepsAt: readonly bigint[];
  checks: readonly CheckResult[];
  /** States and findings for the comments; without it, steps and checks only. */
  reader?: PacketReader;
}

/** The comment strings of each frame (by frame number); exported for tests. */
export function frameComments(c: Omit<CaseCapture, 'path' | 'format' | 'title' | 'captures'>): Map<number, string[]> {
  const { frameOf } = c.numbered;
  const out = new Map<number, string[]>();
  const add = (frame: number | undefined, text: string) => {
    if (frame === undefined) return;
    const list = out.get(frame) ?? out.set(frame, []).get(frame)!;
    if (!list.includes(text)) list.push(text);
  };
  // The step that caused it: the last one taken before the frame was seen.
  for (const f of c.numbered.frames) {
    let i = -1;
    while (i + 1 < c.stepsAt.length && c.stepsAt[i + 1]! <= f.tsNs) i++;
    if (i >= 0) add(f.frame, `step ${i + 1}: ${c.steps[i]}`);
  }
  const reading = c.reader?.(c.packets, c.columns);
  for (const s of reading?.states ?? []) add(frameOf(s.packet), `state after: ${s.text}`);
  for (const k of c.checks) {
    // The socket lines the lab read for the same check are what it knows of the states beyond the packets.
    const sockets = k.evidence.sockets.length ? `; socket ${k.evidence.sockets.join('; socket ')}` : '';
    for (const p of k.packetRecords) add(frameOf(p), `evidence for check ${k.id} (${k.title}): ${k.verdict}, observed ${JSON.stringify(k.observed)}, expected ${k.expected}${sockets}`);
  }
  for (const f of reading?.findings ?? []) for (const p of f.packets) add(frameOf(p), `inspect ⚑ ${f.kind}: ${f.text}`);
  return out;
}

/** Writes the case's capture file in `format`. */
export async function writeCaseCapture(c: CaseCapture): Promise<void> {
  const { frames, points } = c.numbered;
  if (c.format === 'pcap') {
    // Classic pcap has one link type for the file: the first capture's (every lab capture is Ethernet).
    const w = await PcapWriter.open(c.path, { link: c.captures[0]!.link });
    try {
      for (const f of frames) w.write(f);
    } finally {
      await w.close();
    }
    return;
  }
  const comments = frameComments(c);
  const interfaces: PcapngInterface[] = points.map((point) => ({
    name: point,
    link: c.captures.find((s) => s.point === point)!.link,
    description: `tcplab capture point ${point} (host:interface)`,
  }));
  const packets: PcapngPacket[] = frames.map((f) => ({
    iface: f.iface,
    tsNs: f.tsNs,
    data: f.data,
    ...(f.dir ? { dir: f.dir } : {}),
    ...(comments.has(f.frame) ? { comments: comments.get(f.frame)! } : {}),
  }));
  await writePcapng(c.path, { interfaces, packets, comment: c.title });
}
