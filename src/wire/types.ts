// The plain representation of a TCP segment (smoltcp's "Repr"): what labs build and what decode returns.
// Encoding and decoding happen in C++ (native/segment.cc); this file is the contract between them.

export type FlagName = 'FIN' | 'SYN' | 'RST' | 'PSH' | 'ACK' | 'URG' | 'ECE' | 'CWR';

/** Bit values as on the wire (byte 13 of the TCP header). */
export const FLAG_BITS: Readonly<Record<FlagName, number>> = {
  FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80,
};

/**
 * Flags as tcpdump writes them ('S', 'S.', 'F.', 'R.', 'P.', 'SEW'), a list of names, or the raw byte.
 * tcpdump letters: F S R P U E W and '.' for ACK.
 */
export type FlagsInput = string | readonly FlagName[] | number;

export type TcpOption =
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackOk' }
  | { kind: 'sack'; blocks: ReadonlyArray<readonly [number, number]> }
  | { kind: 'ts'; val: number; ecr: number }
  | { kind: 'nop' }
  | { kind: 'eol' }
  /** Any kind with its payload bytes (the length byte is computed), e.g. kind 34 TFO. */
  | { kind: 'raw'; type: number; data: Uint8Array };

export interface IpFields {
  /** IPv4 TTL or IPv6 hop limit. Default 64. */
  ttl?: number;
  /** IPv4 identification. Default 0. */
  id?: number;
  /** IPv4 don't-fragment bit. Default true. */
  df?: boolean;
  /** IPv4 TOS or IPv6 traffic class. Default 0. */
  tos?: number;
  /** IPv6 flow label (20 bits). Default 0. */
  flowLabel?: number;
}

/** What to put in a checksum field: computed (default), an explicit value, or a deliberately wrong one. */
export type ChecksumSpec = 'auto' | 'bad' | number;

export interface SegmentSpec {
  /** IPv4 or IPv6 literal; both addresses must be of the same family. */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** uint32 */
  seq: number;
  /** uint32; default 0. */
  ack?: number;
  flags: FlagsInput;
  /** uint16; default 65535. */
  window?: number;
  /** uint16; default 0. */
  urg?: number;
  options?: readonly TcpOption[];
  payload?: Uint8Array | string;
  ip?: IpFields;
  /** TCP checksum. */
  checksum?: ChecksumSpec;
  /** IPv4 header checksum. */
  ipChecksum?: ChecksumSpec;
}

export type ChecksumStatus = 'ok' | 'bad' | 'offloaded' | 'unchecked';

/** A decoded segment: a fully resolved SegmentSpec plus what the decoder noticed. */
export interface Segment {
  family: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** Raw flags byte. */
  flagBits: number;
  /** tcpdump notation, e.g. 'S.' */
  flags: string;
  window: number;
  urg: number;
  options: TcpOption[];
  payload: Uint8Array;
  ip: Required<IpFields>;
  checksum: { ip: ChecksumStatus; tcp: ChecksumStatus; tcpValue: number };
  /** Length of the IP datagram (header + TCP + payload). */
  ipLength: number;
}

export type LinkType = 'ethernet' | 'sll' | 'raw';

/** The decoder never throws: it says what it found and what was wrong. */
export type DecodeResult =
  | { ok: true; segment: Segment; /** Non-fatal oddities: unknown option kinds, padding, bad checksum. */ warnings: string[] }
  | { ok: false; error: string; /** What could be decoded before the problem, e.g. 'ethernet', 'ipv4'. */ layer: string };

/** One end of a TCP connection: an address (IPv4 dotted or IPv6) and a port. */
export interface Endpoint {
  addr: string;
  port: number;
}
