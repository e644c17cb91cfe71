// Typed face of native/batch.cc: decode many frames of one buffer in one native call into flat uint32
// records (no per-packet JS objects; the inspect hot path). decode() in segment.ts is the full decoder.
import { native } from './native.js';
import { BatchIn, BatchInStride, BatchLink, BatchOpt, BatchOut, BatchOutStride, BatchStatus } from './layout.js';

/** Link layers the batch decoder reads (BatchIn.link codes, native/layout.json). */
export { BatchLink };
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

/** Words per input record: [byte offset in buf, captured length, link code] (BatchIn in native/layout.json). */
export const IN_STRIDE = BatchInStride;
/** Input record layout. */
export { BatchIn };
/** Output record layout (BatchOut in native/layout.json). */
export const O = BatchOut;
export const OUT_STRIDE = BatchOutStride;

/** O.opts bits. */
export const OPT = BatchOpt;

/** O.status values other than ok: why a frame was skipped. */
export const SKIP_REASONS: Readonly<Record<number, string>> = {
  [BatchStatus.notIp]: 'not IP', [BatchStatus.notTcp]: 'not TCP', [BatchStatus.fragment]: 'IP fragment (not reassembled)',
  [BatchStatus.truncated]: 'headers truncated', [BatchStatus.badIp]: 'bad IP header',
  [BatchStatus.badLink]: 'link type not supported', [BatchStatus.badTcp]: 'bad TCP header',
};

/** Decodes recs[0..n) (IN_STRIDE words each) of buf into out (OUT_STRIDE words each). */
export function decodeBatch(buf: Uint8Array, recs: Uint32Array, n: number, out: Uint32Array): void {
  native().decodeBatch(buf, recs, n, out);
}
