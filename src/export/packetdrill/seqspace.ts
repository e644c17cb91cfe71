// packetdrill's sequence and timestamp spaces (run_packet.c): the remote ISN is the script's first
// inbound SYN (live == script); inbound non-SYN seqs and outbound acks are relative to it, SYNs and the
// SYN-ACK's ack are absolute. Outbound seqs are relative to the kernel's first SYN-ACK (a later SYN-ACK
// on the same 4-tuple keeps that base, so a new incarnation's ISN shows as its distance from the old one).
// Outbound TS vals are mapped linearly from the first one seen; inbound TS ecr must name such a value.
import type { Segment } from '../../wire/types.js';

/** The script value of the kernel's first TSval (packetdrill only checks TS val deltas, with --tcp_ts_tick_usecs). */
export const TS_BASE = 100;

const u32 = (n: number) => n >>> 0;

export class SeqSpace {
  private remoteIsn: number | undefined;
  private localIsn: number | undefined;
  private firstTs: number | undefined;
  /** The kernel's snd_nxt so far (live): a TIME-WAIT derives a new incarnation's ISN from it. */
  private sndNxt: number | undefined;
  /** A later SYN-ACK came with an ISN no script can know (a fresh secure_tcp_seq()). */
  freshIsn = false;

  /** Feeds the packets in time order; returns the script's view of one. */
  inbound(s: Segment): { seq: number; ack: number | undefined; tsEcr: number | undefined } {
    const syn = s.flags.includes('S');
    if (syn && this.remoteIsn === undefined) this.remoteIsn = s.seq;
    const rIsn = this.remoteIsn ?? 0;
    const hasAck = s.flags.includes('.');
    return {
      seq: syn ? s.seq : u32(s.seq - rIsn),
      ack: hasAck ? u32(s.ack - (syn ? 0 : (this.localIsn ?? 0))) : undefined,
      tsEcr: hasAck ? this.scriptTs(tsOf(s)?.ecr) : tsOf(s)?.ecr,
    };
  }

  outbound(s: Segment): { seq: number; ack: number | undefined; tsVal: number | undefined; fresh: boolean } {
    const syn = s.flags.includes('S');
    let fresh = false;
    if (syn && this.localIsn === undefined) this.localIsn = s.seq;
    // packetdrill keeps the first SYN-ACK's ISN as the base: a later one is predictable only when
    // tcp_timewait_state_process() derived it (old snd_nxt + 65535 + 2, Linux >= 6.10).
    else if (syn && s.seq !== u32((this.sndNxt ?? 0) + 65537)) fresh = this.freshIsn = true;
    const end = u32(s.seq + s.payload.length + (syn ? 1 : 0) + (s.flags.includes('F') ? 1 : 0));
    if (this.sndNxt === undefined || syn || ((end - this.sndNxt) | 0) > 0) this.sndNxt = end;
    const ts = tsOf(s);
    if (ts && this.firstTs === undefined) this.firstTs = ts.val;
    return {
      seq: u32(s.seq - (this.localIsn ?? s.seq)),
      ack: s.flags.includes('.') ? u32(s.ack - (syn ? 0 : (this.remoteIsn ?? 0))) : undefined,
      tsVal: ts ? this.scriptTs(ts.val) : undefined,
      fresh,
    };
  }

  /** Before the kernel sent any timestamp an ecr is taken as written (packetdrill maps only acked ones). */
  private scriptTs(v: number | undefined): number | undefined {
    if (v === undefined) return undefined;
    return this.firstTs === undefined ? v : u32(v - this.firstTs + TS_BASE);
  }

  get sawOutboundTs(): boolean {
    return this.firstTs !== undefined;
  }
}

export function tsOf(s: Segment): { val: number; ecr: number } | undefined {
  const o = s.options.find((x) => x.kind === 'ts');
  return o && o.kind === 'ts' ? { val: o.val, ecr: o.ecr } : undefined;
}
