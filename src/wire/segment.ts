// Typed face of native/segment.cc: one native call per encode or decode.
import { native } from './native.js';
import { parseFlags } from './flags.js';
import type { DecodeResult, LinkType, Segment, SegmentSpec } from './types.js';

/** Encode an IP datagram (IPv4 or IPv6 + TCP) from a spec. Throws TypeError/RangeError naming the field. */
export function encode(spec: SegmentSpec): Buffer {
  if (spec === null || typeof spec !== 'object') {
    throw new TypeError(`spec: must be a SegmentSpec object, got ${spec === null ? 'null' : typeof spec}`);
  }
  const flags = parseFlags(spec.flags);
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : spec.payload;
  return native().encode({ ...spec, flags, payload });
}

export interface DecodeOptions {
  /** The kernel left the TCP checksum to the NIC (PACKET_AUXDATA TP_STATUS_CSUMNOTREADY): report 'offloaded'. */
  offloaded?: boolean;
}

/** Decode a frame of the given link type. Never throws. */
export function decode(frame: Uint8Array, link: LinkType, opts?: DecodeOptions): DecodeResult {
  return native().decode(frame, link, opts?.offloaded === true);
}

/** The spec that encodes back to the same bytes as a decoded segment (checksums kept as captured). */
export function toSpec(seg: Segment): SegmentSpec {
  const ip = seg.family === 4
    ? { ttl: seg.ip.ttl, id: seg.ip.id, df: seg.ip.df, tos: seg.ip.tos }
    : { ttl: seg.ip.ttl, tos: seg.ip.tos, flowLabel: seg.ip.flowLabel };
  return {
    src: seg.src,
    dst: seg.dst,
    sport: seg.sport,
    dport: seg.dport,
    seq: seg.seq,
    ack: seg.ack,
    flags: seg.flagBits,
    window: seg.window,
    urg: seg.urg,
    options: seg.options,
    payload: seg.payload,
    ip,
    checksum: seg.checksum.tcpValue,
  };
}

export interface EthernetAddrs {
  /** 'aa:bb:cc:dd:ee:ff' (or '-' separated) */
  srcMac: string;
  dstMac: string;
}

const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

export function parseMac(mac: string, field = 'mac'): Buffer {
  if (typeof mac !== 'string' || !MAC_RE.test(mac)) {
    throw new TypeError(`${field}: must be a MAC address like '02:00:00:00:00:01', got ${JSON.stringify(mac)}`);
  }
  return Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
}

/** An Ethernet II frame (no FCS) carrying encode(spec), for AF_PACKET senders. */
export function encodeEthernet(spec: SegmentSpec, l2: EthernetAddrs): Buffer {
  const dst = parseMac(l2?.dstMac, 'dstMac');
  const src = parseMac(l2?.srcMac, 'srcMac');
  const ip = encode(spec);
  const frame = Buffer.allocUnsafe(14 + ip.length);
  dst.copy(frame, 0);
  src.copy(frame, 6);
  frame.writeUInt16BE((ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, 12);
  ip.copy(frame, 14);
  return frame;
}
