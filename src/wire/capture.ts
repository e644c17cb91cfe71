// Typed face of native/capture.cc: AF_PACKET capture handing over batches (CaptureMeta words per packet).
import { native } from './native.js';
import { CaptureFlag, CaptureMeta, CaptureMetaStride } from './layout.js';
import type { BpfInsn } from './bpf.js';

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
  const Ctor = native().Capture;
  if (opts.countOnly === true) return new Ctor({ ...opts, onPackets: undefined });
  if (typeof onPackets !== 'function') throw new TypeError('onPackets: must be a function(batch), or countOnly: true');
  // The addon hands over a batch as columns (one Buffer, per-packet metadata, timestamps); the objects are
  // built here, where V8 makes them cheaply.
  const onBatch = (data: Buffer, meta: Uint32Array, ts: BigUint64Array): void => {
    const n = ts.length;
    const out = new Array<RawCaptured>(n);
    for (let i = 0; i < n; i++) {
      const m = i * CaptureMetaStride;
      const off = meta[m + CaptureMeta.offset]!;
      const flags = meta[m + CaptureMeta.flags]!;
      out[i] = {
        data: data.subarray(off, off + meta[m + CaptureMeta.length]!),
        tsNs: ts[i]!,
        dir: flags & CaptureFlag.outgoing ? 'out' : 'in',
        ifindex: meta[m + CaptureMeta.ifindex]!,
        csumOffloaded: (flags & CaptureFlag.csumOffloaded) !== 0,
        origLen: meta[m + CaptureMeta.origLen]!,
      };
    }
    onPackets(out);
  };
  return new Ctor({ ...opts, onPackets: onBatch });
}
