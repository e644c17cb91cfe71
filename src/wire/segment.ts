// STUB (owner: segment worktree). Typed face of native/segment.cc.
import type { DecodeResult, LinkType, SegmentSpec } from './types.js';

/** Encode an IP datagram (IPv4 or IPv6 + TCP) from a spec. Throws TypeError/RangeError naming the field. */
export function encode(spec: SegmentSpec): Buffer {
  throw new Error('not implemented yet');
}

/** Decode a frame of the given link type. Never throws. */
export function decode(frame: Uint8Array, link: LinkType): DecodeResult {
  return { ok: false, error: 'not implemented yet', layer: link };
}
