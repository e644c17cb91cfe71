// Wire: the typed face of send + capture on one interface. Labs send Segments and read Captured packets.
import { decode, encode } from './segment.js';
import { PcapWriter, type PcapResolution } from './pcap.js';
import type { Segment, SegmentSpec } from './types.js';
import { parseIp, parsePrefix, prefixContains } from './addr.js';
import { compileMatch } from './bpf.js';
import { describeMatch, matcher, type Match } from './match.js';
import { openCapture, type CaptureStats, type NativeCapture, type RawCaptured } from './capture.js';
import { realtimeNs } from './netns.js';
import { openPacketSender, openRawSender, type PacketSender, type RawSender, type TemplateStamp } from './sender.js';

export interface WireOptions {
  /** Network namespace of the interface (and, by default, of the sender). */
  netns?: string;
  /** Interface to capture on (and, by default, to send through). */
  ifname: string;
  /** Kernel pre-filter (classic BPF). Default: all TCP over IPv4/IPv6. */
  filter?: Match;
  /** Where crafted datagrams leave from. Default: {netns: opts.netns, device: opts.ifname}. */
  sendFrom?: { netns?: string; device?: string };
  /** Permit destinations outside the lab ranges (198.18.0.0/15, 2001:2::/48, fd00::/8, loopback). */
  allowAnyDestination?: boolean;
  /** Packets per recvmmsg (default 64) and per loop turn (default 512). */
  captureBatch?: number;
  maxPerWake?: number;
}

export interface Captured {
  /** The whole frame. */
  data: Buffer;
  link: 'ethernet';
  /** Kernel receive/transmit time (CLOCK_REALTIME, ns). */
  tsNs: bigint;
  tsSource: 'kernel';
  dir: 'in' | 'out';
  ifname: string;
  /** Decoded on first access; undefined when not decodable (decodeError says why). */
  readonly segment?: Segment;
  readonly decodeError?: string;
  /** The checksum was left to the NIC (veth tx offload): segment.checksum.tcp says 'offloaded'. */
  csumOffloaded: boolean;
  /** Length on the wire (data.length unless the frame was longer than 64 KiB). */
  origLen: number;
  /** This Wire sent it (send/sendBatch: a crafted segment), rather than a kernel. */
  readonly crafted: boolean;
}

export interface WireStats extends CaptureStats {
  captured: number;
  sent: number;
}

/** Error thrown when a closed Wire is used. */
export class WireClosedError extends Error {
  readonly code = 'ERR_CLOSED';
  constructor(what: string) {
    super(`${what}: the Wire is closed`);
  }
}

/** The timeout error of expect(): names the match and lists what was seen meanwhile. */
export class ExpectTimeoutError extends Error {
  readonly code = 'ERR_EXPECT_TIMEOUT';
  constructor(message: string, readonly match: Match, readonly seen: readonly Captured[]) {
    super(message);
  }
}

/** expectNone() saw a packet it should not have. */
export class UnexpectedPacketError extends Error {
  readonly code = 'ERR_UNEXPECTED_PACKET';
  constructor(message: string, readonly match: Match, readonly packet: Captured) {
    super(message);
  }
}

const LAB_RANGES = ['198.18.0.0/15', '2001:2::/48', 'fd00::/8', '127.0.0.0/8', '::1/128'].map((p) => parsePrefix(p, 'lab'));

/** True when `addr` is inside the ranges crafted traffic may go to by default. */
export function isLabDestination(addr: string): boolean {
  return LAB_RANGES.some((p) => prefixContains(p, addr));
}

function addrString(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(':');
}

/** Destination of an IP datagram, or undefined if it is not one. */
function datagramDst(d: Uint8Array, offset = 0): string | undefined {
  const v = (d[offset] ?? 0) >> 4;
  if (v === 4 && d.length >= offset + 20) return addrString(d.subarray(offset + 16, offset + 20));
  if (v === 6 && d.length >= offset + 40) return addrString(d.subarray(offset + 24, offset + 40));
  return undefined;
}

/** An IPv4/IPv6 datagram's TCP part (header and payload, checksum included): the kernel rewrites IP id and checksum, never these. */
function tcpKey(ip: Uint8Array): string {
  const v = ip[0]! >> 4;
  const off = v === 4 ? (ip[0]! & 0x0f) * 4 : 40;
  // The IP length, not the frame's: a short frame may carry Ethernet padding.
  const len = Math.min(ip.length, v === 4 ? (ip[2]! << 8) | ip[3]! : 40 + ((ip[4]! << 8) | ip[5]!));
  return Buffer.from(ip.buffer, ip.byteOffset + off, Math.max(0, len - off)).toString('hex');
}

class CapturedPacket implements Captured {
  readonly link = 'ethernet' as const;
  readonly tsSource = 'kernel' as const;
  readonly data: Buffer;
  readonly tsNs: bigint;
  readonly dir: 'in' | 'out';
  readonly csumOffloaded: boolean;
  readonly origLen: number;
  private decoded = false;
  private seg: Segment | undefined;
  private err: string | undefined;
  constructor(raw: RawCaptured, readonly ifname: string, private readonly sentKeys: ReadonlySet<string>) {
    this.data = raw.data;
    this.tsNs = raw.tsNs;
    this.dir = raw.dir;
    this.csumOffloaded = raw.csumOffloaded;
    this.origLen = raw.origLen;
  }
  private run(): void {
    if (this.decoded) return;
    this.decoded = true;
    const r = decode(this.data, 'ethernet', { offloaded: this.csumOffloaded });
    if (!r.ok) {
      this.err = `${r.error} (at ${r.layer})`;
      return;
    }
    this.seg = r.segment;
  }
  get segment(): Segment | undefined {
    this.run();
    return this.seg;
  }
  get crafted(): boolean {
    return this.sentKeys.size > 0 && this.data.length > 14 && this.sentKeys.has(tcpKey(this.data.subarray(14)));
  }
  get decodeError(): string | undefined {
    this.run();
    return this.err;
  }
  toJSON(): object {
    return { tsNs: String(this.tsNs), dir: this.dir, ifname: this.ifname, summary: summarize(this) };
  }
}

/** One line per packet, tcpdump style: "out 198.18.1.99.40000 > 198.18.1.2.80: S seq 1000 ack 0 win 65535 len 0". */
export function summarize(p: Captured, t0?: bigint): string {
  const at = t0 === undefined ? '' : `+${(Number(p.tsNs - t0) / 1e6).toFixed(3)}ms `;
  const s = p.segment;
  if (!s) return `${at}${p.dir} ${p.data.length} bytes, not decoded: ${p.decodeError ?? '?'}`;
  return `${at}${p.dir} ${s.src}.${s.sport} > ${s.dst}.${s.dport}: ${s.flags} seq ${s.seq} ack ${s.ack} win ${s.window} len ${s.payload.length}`;
}

interface Waiter {
  match: Match;
  since: bigint;
  onPacket(p: CapturedPacket): void;
  onClose(): void;
}

/** A consumer of packets(): its own queue from the moment it started iterating. */
class Subscriber {
  queue: Captured[] = [];
  wake: (() => void) | undefined;
  done = false;
  push(p: Captured): void {
    this.queue.push(p);
    this.wake?.();
  }
  end(): void {
    this.done = true;
    this.wake?.();
  }
}

export interface ExpectOptions {
  /** Time limit in ms (default 1000). */
  within?: number;
  /** Only packets with tsNs >= since count. Default: the clock when expect() is called. */
  since?: bigint;
}

export class Wire implements AsyncDisposable {
  /** Everything captured since open, in arrival order (for pcap writing and ladders). */
  get captured(): readonly Captured[] {
    return this.all;
  }

  private readonly all: CapturedPacket[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly subscribers = new Set<Subscriber>();
  private capture: NativeCapture | undefined;
  private raw: RawSender | undefined;
  private packet: PacketSender | undefined;
  private sent = 0;
  /** The TCP bytes of what send()/sendBatch() sent, so captures can tell crafted segments from the kernel's. */
  private readonly sentKeys = new Set<string>();
  private closedFlag = false;

  private constructor(private readonly opts: WireOptions) {}

  /** Opens the capture (bound and filtered before this resolves) and the sender. */
  static async open(opts: WireOptions): Promise<Wire> {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: must be {ifname, netns?, filter?, sendFrom?}');
    if (opts.allowAnyDestination !== undefined && typeof opts.allowAnyDestination !== 'boolean') {
      throw new TypeError('allowAnyDestination: must be a boolean');
    }
    if (typeof opts.ifname !== 'string') throw new TypeError("ifname: required, the interface to capture on (e.g. 'tcplab-va')");
    const prog = compileMatch(opts.filter ?? {});
    const w = new Wire(opts);
    w.capture = openCapture({
      ifname: opts.ifname,
      ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
      filter: prog,
      onPackets: (batch) => w.onPackets(batch),
      ...(opts.captureBatch !== undefined ? { batch: opts.captureBatch } : {}),
      ...(opts.maxPerWake !== undefined ? { maxPerWake: opts.maxPerWake } : {}),
    });
    try {
      const from = opts.sendFrom ?? { ...(opts.netns !== undefined ? { netns: opts.netns } : {}), device: opts.ifname };
      w.raw = openRawSender({ ...from, allowAnyDestination: opts.allowAnyDestination === true });
    } catch (e) {
      w.capture.close();
      throw e;
    }
    return w;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The capture clock now (CLOCK_REALTIME ns): pass as `since` to expect(). */
  now(): bigint {
    return realtimeNs();
  }

  private checkOpen(what: string): void {
    if (this.closedFlag) throw new WireClosedError(what);
  }

  private checkDst(dst: string | undefined, what: string): void {
    if (this.opts.allowAnyDestination || dst === undefined) return;
    if (!isLabDestination(dst)) {
      throw new RangeError(
        `dst: ${dst} is outside the lab ranges (198.18.0.0/15, 2001:2::/48, fd00::/8, loopback) [${what}]; ` +
          'pass allowAnyDestination: true to Wire.open() to send elsewhere',
      );
    }
  }

  private toDatagram(x: SegmentSpec | Uint8Array, what: string): Uint8Array {
    if (x instanceof Uint8Array) {
      const dst = datagramDst(x);
      if (dst === undefined) throw new RangeError(`${what}: not an IPv4/IPv6 datagram (send whole frames with sendFrame())`);
      this.checkDst(dst, what);
      return x;
    }
    if (x === null || typeof x !== 'object') throw new TypeError(`${what}: must be a SegmentSpec or a Buffer holding an IP datagram`);
    if (typeof x.dst === 'string' && parseIp(x.dst)) this.checkDst(x.dst, what);
    const d = encode(x);
    this.checkDst(datagramDst(d), what);
    return d;
  }

  /** Sends one segment (or a ready IP datagram). Returns the capture clock just before sending. */
  send(seg: SegmentSpec | Uint8Array): bigint {
    this.checkOpen('send');
    const d = this.toDatagram(seg, 'send');
    const t = realtimeNs();
    this.raw!.send(d);
    this.sent++;
    this.sentKeys.add(tcpKey(d));
    return t;
  }

  /** Sends several segments with sendmmsg. Returns the capture clock just before sending. */
  sendBatch(segs: ReadonlyArray<SegmentSpec | Uint8Array>): bigint {
    this.checkOpen('sendBatch');
    if (!Array.isArray(segs)) throw new TypeError('segs: must be an array of SegmentSpec or Buffers');
    const ds = segs.map((s, i) => this.toDatagram(s, `sendBatch[${i}]`));
    const t = realtimeNs();
    this.sent += this.raw!.sendBatch(ds);
    for (const d of ds) this.sentKeys.add(tcpKey(d));
    return t;
  }

  /** Sends `count` copies of a segment, stamping seq/sport/TSval per packet natively (no JS per packet). */
  sendTemplate(template: SegmentSpec | Uint8Array, count: number, stamp: TemplateStamp = {}): bigint {
    this.checkOpen('sendTemplate');
    const d = this.toDatagram(template, 'sendTemplate');
    const t = realtimeNs();
    this.sent += this.raw!.sendTemplate(d, count, stamp);
    return t;
  }

  /** Sends a whole Ethernet frame through an AF_PACKET socket on the Wire's interface. */
  sendFrame(frame: Uint8Array): bigint {
    this.checkOpen('sendFrame');
    if (!(frame instanceof Uint8Array)) throw new TypeError('frame: must be a Buffer holding an Ethernet frame');
    const et = frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : -1;
    if (et === 0x0800 || et === 0x86dd) this.checkDst(datagramDst(frame, 14), 'sendFrame');
    else if (!this.opts.allowAnyDestination) throw new RangeError('frame: only IPv4/IPv6 frames are sent unless allowAnyDestination: true');
    this.packet ??= openPacketSender({
      ifname: this.opts.ifname,
      ...(this.opts.netns !== undefined ? { netns: this.opts.netns } : {}),
      allowAnyDestination: this.opts.allowAnyDestination === true,
    });
    const t = realtimeNs();
    this.packet.send(frame);
    this.sent++;
    return t;
  }

  private onPackets(batch: RawCaptured[]): void {
    for (const raw of batch) {
      const p = new CapturedPacket(raw, this.opts.ifname, this.sentKeys);
      this.all.push(p);
      for (const s of this.subscribers) s.push(p);
      for (const w of this.waiters) {
        if (p.tsNs >= w.since) w.onPacket(p);
      }
    }
  }

  /**
   * Packets captured from the moment iteration starts. Many consumers may iterate at once; each has its
   * own queue, so none loses packets. Ends when the Wire closes or the signal aborts.
   */
  packets(opts: { signal?: AbortSignal } = {}): AsyncIterable<Captured> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<Captured> => {
        const sub = new Subscriber();
        if (this.closedFlag || opts.signal?.aborted) sub.done = true;
        else this.subscribers.add(sub);
        const onAbort = (): void => {
          this.subscribers.delete(sub);
          sub.end();
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const finish = (): IteratorReturnResult<undefined> => {
          this.subscribers.delete(sub);
          opts.signal?.removeEventListener('abort', onAbort);
          sub.done = true;
          sub.queue.length = 0;
          return { done: true, value: undefined };
        };
        return {
          next: async (): Promise<IteratorResult<Captured>> => {
            for (;;) {
              const p = sub.queue.shift();
              if (p) return { done: false, value: p };
              if (sub.done) return finish();
              await new Promise<void>((r) => (sub.wake = r));
              sub.wake = undefined;
            }
          },
          return: async (): Promise<IteratorResult<Captured>> => finish(),
        };
      },
    };
  }

  /** Packets already captured with tsNs >= since, oldest first. */
  private backlog(since: bigint): CapturedPacket[] {
    let i = this.all.length;
    // Arrival order is nearly timestamp order; walk back past `since` with a 1 s margin for reordering.
    while (i > 0 && this.all[i - 1]!.tsNs >= since - 1_000_000_000n) i--;
    return this.all.slice(i).filter((p) => p.tsNs >= since);
  }

  /**
   * Resolves with the first packet matching `match` captured at or after `since` (default: now).
   * Rejects with ExpectTimeoutError listing what was seen when nothing matches within `within` ms.
   */
  expect(match: Match, opts: ExpectOptions = {}): Promise<Captured> {
    this.checkOpen('expect');
    compileMatch(match); // validates the match (and that it compiles) now, not at the first packet
    const test = matcher(match);
    const within = opts.within ?? 1000;
    if (!(within >= 0 && Number.isFinite(within))) throw new RangeError('within: must be a number of ms >= 0');
    const since = opts.since ?? realtimeNs();
    const hit = this.backlog(since).find((p) => p.segment && test(p.segment));
    if (hit) return Promise.resolve(hit);
    return new Promise<Captured>((resolve, reject) => {
      const seen: Captured[] = [];
      const w: Waiter = {
        match,
        since,
        onPacket: (p) => {
          seen.push(p);
          if (p.segment && test(p.segment)) {
            done();
            resolve(p);
          }
        },
        onClose: () => {
          done();
          reject(new WireClosedError(`expect(${describeMatch(match)})`));
        },
      };
      const timer = setTimeout(() => {
        done();
        const lines = seen.slice(0, 20).map((p) => `  ${summarize(p, since)}`);
        if (seen.length > 20) lines.push(`  ... and ${seen.length - 20} more`);
        reject(
          new ExpectTimeoutError(
            `expect: no packet matching "${describeMatch(match)}" on ${this.opts.ifname} within ${within} ms; ` +
              (seen.length ? `saw ${seen.length} other packet(s):\n${lines.join('\n')}` : 'saw no packets at all (filter: ' +
                describeMatch(this.opts.filter ?? {}) + ')'),
            match,
            seen,
          ),
        );
      }, within);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(w);
      };
      this.waiters.add(w);
    });
  }

  /** Resolves after `for` ms if no packet matching `match` was captured (since `since`, default now). */
  expectNone(match: Match, opts: { for: number; since?: bigint }): Promise<void> {
    this.checkOpen('expectNone');
    compileMatch(match);
    const test = matcher(match);
    const ms = opts?.for;
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) throw new RangeError('for: must be a number of ms >= 0');
    const since = opts.since ?? realtimeNs();
    const fail = (p: Captured): UnexpectedPacketError =>
      new UnexpectedPacketError(`expectNone: saw a packet matching "${describeMatch(match)}": ${summarize(p, since)}`, match, p);
    const hit = this.backlog(since).find((p) => p.segment && test(p.segment));
    if (hit) return Promise.reject(fail(hit));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        match,
        since,
        onPacket: (p) => {
          if (p.segment && test(p.segment)) {
            done();
            reject(fail(p));
          }
        },
        onClose: () => {
          done();
          reject(new WireClosedError(`expectNone(${describeMatch(match)})`));
        },
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(w);
      };
      this.waiters.add(w);
    });
  }

  /** Writes everything captured so far (or `packets`) to a pcap file (ns timestamps by default). */
  async writePcap(path: string, opts: { resolution?: PcapResolution; packets?: readonly Captured[] } = {}): Promise<number> {
    const list = opts.packets ?? this.all;
    const w = await PcapWriter.open(path, { link: 'ethernet', ...(opts.resolution ? { resolution: opts.resolution } : {}) });
    try {
      for (const p of list) w.write({ data: p.data, tsNs: p.tsNs, origLen: p.origLen });
    } finally {
      await w.close();
    }
    return list.length;
  }

  stats(): WireStats {
    this.checkOpen('stats');
    return { ...this.capture!.stats(), captured: this.all.length, sent: this.sent };
  }

  /** Stops capturing, closes the sockets, ends packets() iterators and rejects pending expects. Safe twice. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.capture?.close();
    this.raw?.close();
    this.packet?.close();
    for (const s of this.subscribers) s.end();
    this.subscribers.clear();
    for (const w of [...this.waiters]) w.onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
