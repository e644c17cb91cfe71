// Typed face of native/netns.cc, native/sender.cc and native/capture.cc (the raw sockets).
import { native } from './native.js';
import type { BpfInsn } from './bpf.js';

export interface InterfaceInfo {
  ifindex: number;
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  mtu: number;
}

/** ifindex, MAC and MTU of an interface, looked up inside `netns` (the current one when omitted). */
export function interfaceInfo(ifname: string, netns?: string): InterfaceInfo {
  return native().interfaceInfo(ifname, netns) as InterfaceInfo;
}

/** 'dev:inode' of the calling thread's network namespace. */
export function threadNetnsId(): string {
  return native().threadNetnsId() as string;
}

/** 'dev:inode' of a named namespace (entered and left through the native guard). */
export function netnsId(netns: string): string {
  return native().netnsId(netns) as string;
}

/** CLOCK_REALTIME in ns: the clock of capture timestamps (SO_TIMESTAMPNS), so the two can be compared. */
export function realtimeNs(): bigint {
  return native().realtimeNs() as bigint;
}

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
  const Ctor = native().RawSender as new (o: RawSenderOptions) => RawSender & Packable;
  return withPackedBatch(new Ctor(opts));
}

/** The addon's batch entry point for packets packed back to back (one buffer + lengths). */
interface Packable {
  sendBatch(list: readonly Uint8Array[]): number;
  sendPacked(bytes: Uint8Array, lengths: Uint32Array): number;
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
  const Ctor = native().PacketSender as new (o: PacketSenderOptions) => PacketSender & Packable;
  return withPackedBatch(new Ctor(opts));
}

/** One packet as the native capture hands it over. */
export interface RawCaptured {
  data: Buffer;
  tsNs: bigint;
  dir: 'in' | 'out';
  ifindex: number;
  /** TP_STATUS_CSUMNOTREADY: the checksum is left to the NIC (veth tx offload), not wrong. */
  csumOffloaded: boolean;
  /** Length on the wire (data is never truncated below 64 KiB). data is a view into its batch's Buffer. */
  origLen: number;
}
export interface CaptureStats {
  /** Packets the filter accepted (including dropped ones). */
  received: number;
  /** Dropped by the kernel for lack of socket buffer space. */
  dropped: number;
  readErrors: number;
  /** Packets read from the socket: handed to onPackets, or just counted (countOnly). */
  delivered: number;
}
export interface NativeCapture {
  pause(): void;
  resume(): void;
  close(): void;
  stats(): CaptureStats;
  setFilter(prog: readonly BpfInsn[]): void;
  ref(): void;
  unref(): void;
  readonly closed: boolean;
  readonly ifindex: number;
}
export interface CaptureOptions {
  ifname: string;
  netns?: string;
  filter?: readonly BpfInsn[];
  /** Required unless countOnly. */
  onPackets?: (batch: RawCaptured[]) => void;
  /**
   * Drain the socket natively without handing anything to JS (no copy, no callback): stats().delivered
   * counts the packets. For measuring the capture path itself.
   */
  countOnly?: boolean;
  /** Packets per recvmmsg (1..1024, default 64). */
  batch?: number;
  /** Packets read per loop turn before yielding to timers (default 512). */
  maxPerWake?: number;
  /** Socket receive buffer in bytes (default 8 MiB). */
  rcvbuf?: number;
}
/** Opens an AF_PACKET capture; bound and filtered when this returns. */
export function openCapture(opts: CaptureOptions): NativeCapture {
  if (opts === null || typeof opts !== 'object') throw new TypeError('options: must be an object {ifname, netns?, filter?, onPackets}');
  const { onPackets } = opts;
  const Ctor = native().Capture as new (o: object) => NativeCapture;
  if (opts.countOnly === true) return new Ctor({ ...opts, onPackets: undefined });
  if (typeof onPackets !== 'function') throw new TypeError('onPackets: must be a function(batch), or countOnly: true');
  // The addon hands over a batch as columns (one Buffer, per-packet metadata, timestamps); the objects are
  // built here, where V8 makes them cheaply.
  const onBatch = (data: Buffer, meta: Uint32Array, ts: BigUint64Array): void => {
    const n = ts.length;
    const out = new Array<RawCaptured>(n);
    for (let i = 0; i < n; i++) {
      const m = i * 5;
      const off = meta[m]!;
      const flags = meta[m + 4]!;
      out[i] = {
        data: data.subarray(off, off + meta[m + 1]!),
        tsNs: ts[i]!,
        dir: flags & 1 ? 'out' : 'in',
        ifindex: meta[m + 3]!,
        csumOffloaded: (flags & 2) !== 0,
        origLen: meta[m + 2]!,
      };
    }
    onPackets(out);
  };
  return new Ctor({ ...opts, onPackets: onBatch });
}
