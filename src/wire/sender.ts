// Typed face of native/sender.cc: raw IP (RawSender) and AF_PACKET (PacketSender) senders.
import { native } from './native.js';
import type { Packable } from './addon.js';

export interface TemplateStamp {
  seqStart?: number;
  seqStep?: number;
  sportStart?: number;
  sportStep?: number;
  tsvalStart?: number;
  tsvalStep?: number;
}

/** Raw IPv4 (IP_HDRINCL) and IPv6 (IPV6_HDRINCL) sockets; the destination comes from each header. */
export interface RawSender {
  send(datagram: Uint8Array): void;
  sendBatch(datagrams: readonly Uint8Array[]): number;
  sendTemplate(template: Uint8Array, count: number, stamp?: TemplateStamp): number;
  close(): void;
  readonly closed: boolean;
}
export interface RawSenderOptions {
  netns?: string;
  /** SO_BINDTODEVICE */
  device?: string;
  /**
   * Without it, datagrams to anything outside 198.18.0.0/15, 2001:2::/48, fd00::/8 and loopback are
   * refused (RangeError naming dst), also by the native sender itself.
   */
  allowAnyDestination?: boolean;
}
export function openRawSender(opts: RawSenderOptions = {}): RawSender {
  return withPackedBatch(new (native().RawSender)(opts));
}

/** Below this many packets the array goes to the addon as it is (packing buys nothing). */
const PACK_MIN = 8;

/**
 * sendBatch through sendPacked: the packets are copied back to back into one reused buffer here, where
 * V8 does it in ~100 ns per packet, instead of the addon reading each element through N-API (~300 ns,
 * ~10% of what the kernel spends per packet). Anything unusual (not an array, a non-Uint8Array element,
 * a small batch) takes the addon's own path, which also produces the errors naming the element.
 */
function withPackedBatch<T extends Packable>(sender: T): T {
  const direct = sender.sendBatch.bind(sender);
  let scratch = Buffer.allocUnsafeSlow(16384);
  let lengths = new Uint32Array(256);
  const sendBatch = (list: readonly Uint8Array[]): number => {
    if (!Array.isArray(list) || list.length < PACK_MIN) return direct(list);
    const n = list.length;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const b: unknown = list[i];
      if (!(b instanceof Uint8Array)) return direct(list);
      total += b.length;
    }
    if (scratch.length < total) scratch = Buffer.allocUnsafeSlow(Math.max(total, scratch.length * 2));
    if (lengths.length < n) lengths = new Uint32Array(Math.max(n, lengths.length * 2));
    let off = 0;
    for (let i = 0; i < n; i++) {
      const b = list[i]!;
      scratch.set(b, off);
      lengths[i] = b.length;
      off += b.length;
    }
    return sender.sendPacked(scratch.subarray(0, total), lengths.subarray(0, n));
  };
  // The addon's prototype methods are read-only, so the instance gets its own property.
  Object.defineProperty(sender, 'sendBatch', { value: sendBatch, writable: false, enumerable: false, configurable: true });
  return sender;
}

/** AF_PACKET SOCK_RAW on one interface: whole L2 frames. */
export interface PacketSender {
  send(frame: Uint8Array): void;
  sendBatch(frames: readonly Uint8Array[]): number;
  close(): void;
  readonly closed: boolean;
  readonly ifindex: number;
}
export interface PacketSenderOptions {
  ifname: string;
  netns?: string;
  /** Without it, only IPv4/IPv6 frames to the lab ranges are sent (see RawSenderOptions). */
  allowAnyDestination?: boolean;
}
export function openPacketSender(opts: PacketSenderOptions): PacketSender {
  return withPackedBatch(new (native().PacketSender)(opts));
}
