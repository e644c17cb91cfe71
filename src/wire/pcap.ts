// pcap files: a streaming writer (nanosecond pcap by default) and a reader.
// pcap-parser (the npm package) only knows the classic microsecond magic 0xa1b2c3d4 and silently drops a
// truncated last record, so classic files are read with it (plus a truncation check on its leftovers)
// and nanosecond files (magic 0xa1b23c4d, what tcpdump --time-stamp-precision=nano writes) with the
// small reader below.
import { createReadStream, type WriteStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { LinkType } from './types.js';

const require = createRequire(import.meta.url);

export const LINKTYPE: Readonly<Record<LinkType, number>> = { ethernet: 1, sll: 113, raw: 101 };
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

export type PcapResolution = 'ns' | 'us';

export interface PcapRecord {
  /** The captured bytes (at most snaplen). */
  data: Uint8Array;
  /** Capture time in nanoseconds since the epoch. */
  tsNs: bigint;
  /** Length on the wire; defaults to data.length when writing. */
  origLen?: number;
}

export interface PcapFile {
  /** The link type by name when it is one tcplab decodes, else the LINKTYPE_ number. */
  link: LinkType | number;
  linkType: number;
  resolution: PcapResolution;
  snaplen: number;
  records: Array<Required<PcapRecord>>;
}

/** A malformed or truncated pcap file. `records` holds what was read before the problem. */
export class PcapFormatError extends Error {
  constructor(message: string, readonly path: string, readonly records: Array<Required<PcapRecord>> = []) {
    super(`pcap ${path}: ${message}`);
    this.name = 'PcapFormatError';
  }
}

export interface PcapWriterOptions {
  link: LinkType;
  /** 'ns' (default): magic 0xa1b23c4d; 'us': classic 0xa1b2c3d4, readable by every tool. */
  resolution?: PcapResolution;
  /** Default 262144. */
  snaplen?: number;
}

/** Streams records to a pcap file. `await using w = await PcapWriter.open(...)`, or call close(). */
export class PcapWriter {
  private error: Error | undefined;
  private closed = false;
  private readonly stream: WriteStream;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly resolution: PcapResolution,
    readonly snaplen: number,
  ) {
    this.stream = fh.createWriteStream();
    this.stream.on('error', (e: Error) => { this.error ??= e; });
  }

  static async open(path: string, opts: PcapWriterOptions): Promise<PcapWriter> {
    const linkType = LINKTYPE[opts?.link];
    if (linkType === undefined) {
      throw new TypeError(`link: must be 'ethernet', 'sll' or 'raw', got ${JSON.stringify(opts?.link)}`);
    }
    const resolution = opts.resolution ?? 'ns';
    if (resolution !== 'ns' && resolution !== 'us') {
      throw new TypeError(`resolution: must be 'ns' or 'us', got ${JSON.stringify(resolution)}`);
    }
    const snaplen = opts.snaplen ?? 262144;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`snaplen: must be an integer 1..2147483647, got ${snaplen}`);
    }
    const fh = await open(path, 'w');
    const w = new PcapWriter(fh, path, resolution, snaplen);
    const h = Buffer.alloc(24);
    h.writeUInt32LE(resolution === 'ns' ? MAGIC_NS : MAGIC_US, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(linkType, 20);
    w.stream.write(h);
    return w;
  }

  /** Queues one record (data longer than snaplen is cut, as a capture would). */
  write(rec: PcapRecord): void {
    if (this.closed) throw new Error(`pcap ${this.path}: write after close`);
    if (this.error) throw this.error;
    if (!(rec?.data instanceof Uint8Array)) throw new TypeError('data: must be a Uint8Array');
    if (typeof rec.tsNs !== 'bigint' || rec.tsNs < 0n) {
      throw new TypeError(`tsNs: must be a non-negative bigint (nanoseconds), got ${String(rec.tsNs)}`);
    }
    const sec = rec.tsNs / 1_000_000_000n;
    if (sec > 0xffffffffn) throw new RangeError(`tsNs: ${rec.tsNs} is past 2106, beyond pcap's 32-bit seconds`);
    const frac = rec.tsNs % 1_000_000_000n;
    const origLen = rec.origLen ?? rec.data.length;
    if (!Number.isInteger(origLen) || origLen < rec.data.length || origLen > 0xffffffff) {
      throw new RangeError(`origLen: must be an integer >= data.length (${rec.data.length}), got ${origLen}`);
    }
    const capLen = Math.min(rec.data.length, this.snaplen);
    const h = Buffer.alloc(16);
    h.writeUInt32LE(Number(sec), 0);
    h.writeUInt32LE(Number(this.resolution === 'ns' ? frac : frac / 1000n), 4);
    h.writeUInt32LE(capLen, 8);
    h.writeUInt32LE(origLen, 12);
    this.stream.write(h);
    this.stream.write(Buffer.from(rec.data.buffer, rec.data.byteOffset, capLen));
  }

  /** Flushes and closes the file; rejects with the first write error, if any. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // (A stream that failed is already closed: waiting for 'close' again would hang.)
    if (!this.stream.closed) {
      await new Promise<void>((resolve) => {
        this.stream.once('close', () => resolve());
        this.stream.end();
      });
    }
    await this.fh.close().catch(() => undefined); // the stream closes the handle itself
    if (this.error) throw this.error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function linkName(linkType: number): LinkType | number {
  for (const [name, n] of Object.entries(LINKTYPE)) if (n === linkType) return name as LinkType;
  return linkType;
}

/** Reads a whole pcap file (classic µs or ns, either byte order). Throws PcapFormatError on bad files. */
export async function readPcap(path: string): Promise<PcapFile> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(24);
    const { bytesRead } = await fh.read(head, 0, 24, 0);
    if (bytesRead < 24) throw new PcapFormatError(`file truncated: the global header needs 24 bytes, found ${bytesRead}`, path);
  } finally {
    await fh.close();
  }
  const le = head.readUInt32LE(0);
  const be = head.readUInt32BE(0);
  if (le === MAGIC_US || be === MAGIC_US) return readClassic(path);
  if (le === MAGIC_NS || be === MAGIC_NS) return parsePcapBuffer(await readFile(path), path);
  throw new PcapFormatError(`not a pcap file (magic 0x${be.toString(16).padStart(8, '0')}; pcapng is not supported)`, path);
}

/** The ns/µs reader over an in-memory file; also used to cross-check pcap-parser in tests. */
export function parsePcapBuffer(buf: Buffer, path = '<buffer>'): PcapFile {
  if (buf.length < 24) throw new PcapFormatError(`file truncated: the global header needs 24 bytes, found ${buf.length}`, path);
  const magicLe = buf.readUInt32LE(0);
  const little = magicLe === MAGIC_NS || magicLe === MAGIC_US;
  const magic = little ? magicLe : buf.readUInt32BE(0);
  if (magic !== MAGIC_NS && magic !== MAGIC_US) {
    throw new PcapFormatError(`not a pcap file (magic 0x${buf.readUInt32BE(0).toString(16).padStart(8, '0')})`, path);
  }
  const u32 = (o: number) => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u16 = (o: number) => (little ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  if (u16(4) !== 2) throw new PcapFormatError(`unsupported version ${u16(4)}.${u16(6)} (want 2.4)`, path);
  const ns = magic === MAGIC_NS;
  const linkType = u32(20) & 0x0fffffff; // upper bits: FCS info
  const records: Array<Required<PcapRecord>> = [];
  let off = 24;
  while (off < buf.length) {
    const n = records.length + 1;
    if (off + 16 > buf.length) {
      throw new PcapFormatError(`file truncated: record ${n} header at offset ${off} needs 16 bytes, ${buf.length - off} left`, path, records);
    }
    const sec = BigInt(u32(off));
    const frac = BigInt(u32(off + 4));
    const capLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (frac >= (ns ? 1_000_000_000n : 1_000_000n)) {
      throw new PcapFormatError(`record ${n} at offset ${off}: sub-second field ${frac} out of range`, path, records);
    }
    if (off + 16 + capLen > buf.length) {
      throw new PcapFormatError(`file truncated: record ${n} at offset ${off} needs ${capLen} bytes of data, ${buf.length - off - 16} left`, path, records);
    }
    records.push({
      data: Buffer.from(buf.subarray(off + 16, off + 16 + capLen)),
      tsNs: sec * 1_000_000_000n + (ns ? frac : frac * 1000n),
      origLen,
    });
    off += 16 + capLen;
  }
  return { link: linkName(linkType), linkType, resolution: ns ? 'ns' : 'us', snaplen: u32(16), records };
}

interface PcapParserEmitter {
  on(ev: 'globalHeader', f: (h: { linkLayerType: number; snapshotLength: number; majorVersion: number; minorVersion: number }) => void): void;
  on(ev: 'packet', f: (p: { header: { timestampSeconds: number; timestampMicroseconds: number; originalLength: number }; data: Buffer }) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  on(ev: 'end', f: () => void): void;
  buffer: Buffer | null;
  state: { name: string };
}

function readClassic(path: string): Promise<PcapFile> {
  const pcapParser = require('pcap-parser') as { parse(input: NodeJS.ReadableStream | string): PcapParserEmitter };
  return new Promise((resolve, reject) => {
    const records: Array<Required<PcapRecord>> = [];
    let linkType = -1;
    let snaplen = 0;
    let failed = false;
    const fail = (msg: string) => {
      if (!failed) reject(new PcapFormatError(msg, path, records));
      failed = true;
    };
    const p = pcapParser.parse(createReadStream(path));
    p.on('globalHeader', (h) => {
      linkType = h.linkLayerType & 0x0fffffff;
      snaplen = h.snapshotLength;
      if (h.majorVersion !== 2) fail(`unsupported version ${h.majorVersion}.${h.minorVersion} (want 2.4)`);
    });
    p.on('packet', (pk) => {
      if (pk.header.timestampMicroseconds >= 1_000_000) {
        fail(`record ${records.length + 1}: microseconds field ${pk.header.timestampMicroseconds} out of range`);
      }
      records.push({
        data: Buffer.from(pk.data),
        tsNs: BigInt(pk.header.timestampSeconds) * 1_000_000_000n + BigInt(pk.header.timestampMicroseconds) * 1000n,
        origLen: pk.header.originalLength,
      });
    });
    p.on('error', (e) => fail(e.message));
    p.on('end', () => {
      // pcap-parser ends quietly with a partial record in its buffer: that is a truncated file.
      // (A cut right after a record header leaves no bytes but a parser waiting for the body.)
      const left = p.buffer?.length ?? 0;
      if (linkType < 0) fail('file truncated: no complete global header');
      else if (left > 0 || p.state.name !== 'parsePacketHeader') {
        fail(`file truncated: record ${records.length + 1} is incomplete (${left} bytes of it at the end)`);
      }
      if (!failed) resolve({ link: linkName(linkType), linkType, resolution: 'us', snaplen, records });
    });
  });
}
