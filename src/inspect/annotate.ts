// The inspect analysis applied to a lab case's packets: each side's TCP state for the ladder, and the
// TIME-WAIT events as ladder notes (with the rule, for --explain).
import type { LadderColumn } from '../lab/ladder.js';
import type { PacketReader } from '../lab/capture-file.js';
import type { NoteRecord, PacketRecord } from '../lab/packets.js';
import { explainLine } from '../lab/explain.js';
import { analyze, findingExplanation, type Finding, type InspectPacket, type TcpState } from './analyze.js';

export interface Annotations {
  /** One note per finding, placed just after the packet that shows it (and its rule with explain). */
  notes: NoteRecord[];
  findings: Finding[];
  /** For LadderOptions.states: [left column, right column] state after the packet. */
  states: (p: PacketRecord) => readonly [TcpState | undefined, TcpState | undefined] | undefined;
}

export function annotate(
  packets: readonly PacketRecord[],
  cols?: readonly LadderColumn[],
  opts: { timeWaitMs?: number; explain?: boolean } = {},
): Annotations {
  const wrapped: InspectPacket[] = packets.map((p, i) => ({ ...p, frame: i + 1 }));
  const original = new Map<InspectPacket, PacketRecord>(wrapped.map((w, i) => [w, packets[i]!]));
  const conns = analyze(wrapped, { timeWaitMs: opts.timeWaitMs });
  const states = new Map<PacketRecord, readonly [TcpState | undefined, TcpState | undefined]>();
  const left = cols?.[0];
  for (const c of conns) {
    // Which end of the connection the left column owns decides the order of the pair.
    const clientLeft = !left || left.addrs.includes(c.ends[0].addr) && (left.ports === undefined || left.ports.includes(c.ends[0].port));
    for (const [w, st] of c.states) {
      const p = original.get(w as InspectPacket);
      if (p) states.set(p, clientLeft ? st : [st[1], st[0]]);
    }
  }
  const findings = conns.flatMap((c) => c.findings);
  const notes: NoteRecord[] = [];
  const explained = new Set<string>();
  for (const f of findings) {
    const at = (f.packets[f.packets.length - 1]?.tsNs ?? f.tsNs) + 1n;
    notes.push({ tsNs: at, text: `⚑ ${f.kind}: ${f.text}` });
    // The rule behind a kind of event is told once per ladder.
    if (opts.explain && !explained.has(f.kind)) {
      explained.add(f.kind);
      const e = findingExplanation(f.kind);
      notes.push({ tsNs: at, text: f.kind === 'tw-syn-unanswered' ? `${e.text} [${e.rules.join('; ')}]` : explainLine(f.kind) });
    }
  }
  return { notes, findings, states: (p) => states.get(p) };
}

/**
 * inspect's reading of a lab case's packets for the comments of its pcapng (RunOptions.readPackets):
 * each end's state after every packet, named by the ladder column that owns it (else by address:port,
 * e.g. loopback inside one host), and the findings with the packets that show them.
 */
export const pcapngReading: PacketReader = (packets, cols) => {
  const wrapped: InspectPacket[] = packets.map((p, i) => ({ ...p, frame: i + 1 }));
  const original = new Map<InspectPacket, PacketRecord>(wrapped.map((w, i) => [w, packets[i]!]));
  const conns = analyze(wrapped);
  const states: { packet: PacketRecord; text: string }[] = [];
  for (const c of conns) {
    const ep = c.ends.map((e) => `${e.addr}:${e.port}`);
    let names = c.ends.map((e, i) => cols?.find((k) => k.addrs.includes(e.addr) && (k.ports === undefined || k.ports.includes(e.port)))?.label ?? ep[i]!);
    if (names[0] === names[1]) names = ep;
    for (const [w, st] of c.states) {
      const p = original.get(w as InspectPacket);
      if (p) states.push({ packet: p, text: `${names[0]} ${st[0]}, ${names[1]} ${st[1]}` });
    }
  }
  const findings = conns.flatMap((c) => c.findings).map((f) => ({ kind: f.kind, text: f.text, packets: f.packets.map((w) => original.get(w) ?? w) }));
  return { states, findings };
};
