// The peer's FIN and the application's close() race in the kernel: Linux ACKs a FIN at once or delays
// the ACK (tcp_fin() enters pingpong mode, __tcp_ack_snd_check() -> tcp_send_delayed_ack()) so that it
// rides on the application's own FIN, and which one happens varies from run to run (measured: the same
// script passed 1 of 6 and 6 of 6 times). packetdrill has no "either", so when the subject closes within
// the delayed-ACK time of the peer's FIN, the script moves the close DEFER_NS later and expects a pure
// ACK of the FIN anywhere in [0, ACK_WINDOW_NS]: what the kernel does either way.
import type { PacketRecord } from '../../lab/packets.js';
import type { PeerCallRecord } from '../../peer/record.js';

/** TCP_DELACK_MIN (40 ms) and a margin. */
export const ACK_WINDOW_NS = 45_000_000n;
export const DEFER_NS = 50_000_000n;
const CLOSES = ['shutdown', 'close', 'closeLinger'];

export interface FinAckRace {
  fin: PacketRecord;
  /** The kernel's first segment acking the FIN: a pure ACK (it came at once) or its own FIN (it waited). */
  ackedBy: PacketRecord;
  /** From this time on, every event moves DEFER_NS later. */
  closeAtNs: bigint;
}

export function finAckRace(sorted: readonly PacketRecord[], calls: readonly PeerCallRecord[], isIn: (p: PacketRecord) => boolean, isOut: (p: PacketRecord) => boolean): FinAckRace | undefined {
  for (const fin of sorted) {
    if (!isIn(fin) || !fin.segment.flags.includes('F')) continue;
    const acked = (fin.segment.seq + fin.segment.payload.length + 1) >>> 0;
    const ackedBy = sorted.find((p) => p.tsNs >= fin.tsNs && isOut(p) && !p.crafted && p.segment.flags.includes('.') && p.segment.ack === acked);
    const close = calls.find((k) => CLOSES.includes(k.op) && k.startNs >= fin.tsNs);
    if (!ackedBy || !close || close.startNs - fin.tsNs >= ACK_WINDOW_NS) continue;
    return { fin, ackedBy, closeAtNs: close.startNs };
  }
  return undefined;
}
