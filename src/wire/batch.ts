// Typed face of native/batch.cc: decode many frames of one buffer in one native call into flat uint32
// records (no per-packet JS objects; the inspect hot path). decode() in segment.ts is the full decoder.
import { native } from './native.js';

/** Link layers the batch decoder reads. */
export const BatchLink = { ethernet: 0, sll: 1, raw: 2, sll2: 3, loop: 4 } as const;
export type BatchLinkCode = (typeof BatchLink)[keyof typeof BatchLink];

/** LINKTYPE_ numbers (pcap and pcapng) to batch link codes; undefined: not supported. */
export function batchLinkOf(linkType: number): BatchLinkCode | undefined {
  switch (linkType) {
    case 1: return BatchLink.ethernet;
    case 113: return BatchLink.sll;
    case 276: return BatchLink.sll2;
    case 12: case 101: case 228: case 229: return BatchLink.raw;
    case 0: case 108: return BatchLink.loop;
    default: return undefined;
  }
}

/** Words per input record: [byte offset in buf, captured length, link code]. */
export const IN_STRIDE = 3;
/** Output record layout (native/batch.cc). */
export const O = {
  status: 0, family: 1, sport: 2, dport: 3, seq: 4, ack: 5, flags: 6, window: 7, len: 8, ipId: 9, opts: 10,
  tsVal: 11, tsEcr: 12, mss: 13, wscale: 14, addrOff: 15,
} as const;
export const OUT_STRIDE = 16;

/** O.opts bits. */
export const OPT = { ts: 1, mss: 2, wscale: 4, sackOk: 8, sack: 16, snapped: 32 } as const;

/** O.status values other than 0 (ok): why a frame was skipped. */
export const SKIP_REASONS: Readonly<Record<number, string>> = {
  1: 'not IP', 2: 'not TCP', 3: 'IP fragment (not reassembled)', 4: 'headers truncated', 5: 'bad IP header',
  6: 'link type not supported', 7: 'bad TCP header',
};

/** Decodes recs[0..n) (IN_STRIDE words each) of buf into out (OUT_STRIDE words each). */
export function decodeBatch(buf: Uint8Array, recs: Uint32Array, n: number, out: Uint32Array): void {
  native().decodeBatch(buf, recs, n, out);
}
