// The declared interface of the native addon (native/*.cc): every export the TypeScript side calls, with
// its types. src/wire/native.ts checks a loaded addon against ADDON_EXPORTS, abiVersion and layoutHash;
// the typed faces (segment.ts, batch.ts, netns.ts, sender.ts, capture.ts, ../peer/sock.ts) wrap it.
import type { DecodeResult, LinkType, SegmentSpec } from './types.js';
import type { InterfaceInfo } from './netns.js';
import type { PacketSender, PacketSenderOptions, RawSender, RawSenderOptions } from './sender.js';
import type { CaptureOptions, NativeCapture } from './capture.js';

/** The ABI this code is written against: native/addon.cc's abiVersion. */
export const ABI_VERSION = 1;

/** encode()'s spec as the addon takes it: the flags byte and the payload bytes already resolved. */
export type NativeSegmentSpec = Omit<SegmentSpec, 'flags' | 'payload'> & { flags: number; payload?: Uint8Array };

/** Both senders also take a batch packed into one buffer plus the packets' lengths (see sender.ts). */
export interface Packable {
  sendBatch(list: readonly Uint8Array[]): number;
  sendPacked(bytes: Uint8Array, lengths: Uint32Array): number;
}

/** Capture options as the addon takes them: onPackets receives a batch as columns (CaptureMeta words). */
export type NativeCaptureOptions = Omit<CaptureOptions, 'onPackets'> & {
  onPackets?: (data: Buffer, meta: Uint32Array, ts: BigUint64Array) => void;
};

/** A system error as a value (native/sock.cc). */
export interface SockErr {
  ok: false;
  /** errno name, e.g. 'EADDRINUSE' */
  code: string;
  errno: number;
  syscall: string;
  message: string;
  /** Our own poll() timeout expired (not a kernel timeout). */
  timedOut?: boolean;
}
export type SockResult<T = object> = ({ ok: true } & T) | SockErr;
export interface SockAddr { addr: string; port: number }
export interface TcpInfo {
  state: string;
  retransmits: number;
  rtoUs: number;
  rttUs: number;
  unacked: number;
  totalRetrans: number;
}
/** native/sock.cc: synchronous kernel TCP sockets whose system errors are values. */
export interface SockApi {
  socket(family: 4 | 6): SockResult<{ fd: number }>;
  setReuseAddr(fd: number, on: boolean): SockResult;
  setReusePort(fd: number, on: boolean): SockResult;
  setNoDelay(fd: number, on: boolean): SockResult;
  setLinger(fd: number, on: boolean, secs: number): SockResult;
  bind(fd: number, addr: string, port: number): SockResult;
  listen(fd: number, backlog: number): SockResult;
  connect(fd: number, addr: string, port: number, timeoutMs: number): SockResult;
  accept(fd: number, timeoutMs: number): SockResult<{ fd: number; peer: SockAddr }>;
  send(fd: number, data: Buffer, timeoutMs: number): SockResult<{ bytes: number }>;
  recv(fd: number, max: number, timeoutMs: number): SockResult<{ data: Buffer; eof: boolean; timedOut: boolean }>;
  shutdown(fd: number, how: 'rd' | 'wr' | 'rdwr'): SockResult;
  close(fd: number): SockResult;
  getsockname(fd: number): SockResult<SockAddr>;
  getpeername(fd: number): SockResult<SockAddr>;
  tcpInfo(fd: number): SockResult<TcpInfo>;
}

export interface NativeAddon {
  /** native/addon.cc: bumped when an export changes shape. */
  readonly abiVersion: number;
  /** native/layout.json's tables (FNV-1a); the same number as src/wire/layout.ts LAYOUT_HASH. */
  readonly layoutHash: number;
  // native/segment.cc
  encode(spec: NativeSegmentSpec): Buffer;
  decode(frame: Uint8Array, link: LinkType | number, offloaded?: boolean): DecodeResult;
  formatFlags(bits: number): string;
  // native/batch.cc (records: BatchIn / BatchOut in layout.json)
  decodeBatch(buf: Uint8Array, recs: Uint32Array, n: number, out: Uint32Array): number;
  readonly batchOutStride: number;
  // native/netns.cc
  interfaceInfo(ifname: string, netns?: string): InterfaceInfo;
  threadNetnsId(): string;
  netnsId(netns: string): string;
  realtimeNs(): bigint;
  // native/sender.cc
  RawSender: new (opts: RawSenderOptions) => RawSender & Packable;
  PacketSender: new (opts: PacketSenderOptions) => PacketSender & Packable;
  // native/capture.cc
  Capture: new (opts: NativeCaptureOptions) => NativeCapture;
  // native/sock.cc
  readonly sock: SockApi;
}

/** Every export and its typeof: what native.ts checks on load (and test/unit/addon.test.ts against the build). */
export const ADDON_EXPORTS = {
  abiVersion: 'number', layoutHash: 'number',
  encode: 'function', decode: 'function', formatFlags: 'function',
  decodeBatch: 'function', batchOutStride: 'number',
  interfaceInfo: 'function', threadNetnsId: 'function', netnsId: 'function', realtimeNs: 'function',
  RawSender: 'function', PacketSender: 'function', Capture: 'function',
  sock: 'object',
} as const satisfies Record<keyof NativeAddon, 'number' | 'function' | 'object'>;
