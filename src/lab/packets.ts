// What the lab layer keeps of a captured packet: enough for ladders, evidence and JSON.
import type { Segment, TcpOption } from '../wire/types.js';

export interface PacketRecord {
  /** Kernel receive/transmit timestamp, ns (CLOCK_REALTIME as SO_TIMESTAMPNS gives it). */
  tsNs: bigint;
  /** Seen leaving ('out') or arriving at ('in') the capture interface. */
  dir: 'in' | 'out';
  /** Where it was captured, e.g. 'server:tcplab-1a2b-l0b'. */
  point: string;
  segment: Segment;
  /** Its frame number in the case's capture file (as Wireshark shows it), once the runner numbered them. */
  frame?: number;
  /** Sent by the lab's Wire (a crafted segment), not by a kernel; absent: not known to be crafted. */
  crafted?: boolean;
}

/** A line of narration placed in the timeline between packets: a syscall result, a socket state. */
export interface NoteRecord {
  tsNs: bigint;
  /** Which side it is about ('client', 'server', 'prober'), or undefined for the lab itself. */
  who?: string;
  text: string;
}

export function optionsBrief(opts: readonly TcpOption[]): string {
  const parts: string[] = [];
  for (const o of opts) {
    switch (o.kind) {
      case 'mss': parts.push(`mss ${o.value}`); break;
      case 'wscale': parts.push(`ws ${o.shift}`); break;
      case 'sackOk': parts.push('sackOK'); break;
      case 'sack': parts.push(`sack ${o.blocks.map(([a, b]) => `${a}-${b}`).join(',')}`); break;
      case 'ts': parts.push(`TS ${o.val}/${o.ecr}`); break;
      case 'nop': case 'eol': break;
      case 'raw': parts.push(`opt${o.type}[${o.data.length}]`); break;
    }
  }
  return parts.join(' ');
}

export function tsOption(seg: Segment): { val: number; ecr: number } | undefined {
  const o = seg.options.find((x) => x.kind === 'ts');
  return o && o.kind === 'ts' ? { val: o.val, ecr: o.ecr } : undefined;
}

/** JSON form of a packet: stable field names, bigint as a decimal string. */
/** A captured packet in the stable report JSON. */
export interface PacketJson {
  tNs: string;
  point: string;
  dir: PacketRecord['dir'];
  src: string;
  dst: string;
  flags: string;
  seq: number;
  ack: number;
  win: number;
  len: number;
  options: string;
  /** The frame number in the case's capture file, as Wireshark shows it. */
  frame?: number;
}

export function packetJson(p: PacketRecord, t0: bigint): PacketJson {
  const s = p.segment;
  return {
    tNs: (p.tsNs - t0).toString(),
    point: p.point,
    dir: p.dir,
    src: `${s.src}:${s.sport}`,
    dst: `${s.dst}:${s.dport}`,
    flags: s.flags,
    seq: s.seq,
    ack: s.ack,
    win: s.window,
    len: s.payload.length,
    options: optionsBrief(s.options),
    ...(p.frame !== undefined ? { frame: p.frame } : {}),
  };
}
