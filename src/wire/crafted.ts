// A crafted TCP endpoint on a Wire: keeps seq/ack/TSval bookkeeping so a lab can script a connection
// (handshake, close, SYNs with chosen ISN and timestamps) against a real kernel, packet by packet.
import { seqAdd } from './seq.js';
import type { TcpOption } from './types.js';
import type { Captured, Wire } from './wire.js';

export interface CraftedOptions {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Our initial sequence number. */
  isn: number;
  /** Offer timestamps with this first TSval; undefined: no timestamp option at all. */
  tsval?: number;
  window?: number;
}

/** The timestamp to put on a segment: none, or explicit val/ecr. */
export type TsChoice = { val: number; ecr: number } | null;

export class CraftedConn {
  /** Next sequence number we send. */
  sndNxt: number;
  /** Next sequence number we expect from the peer (valid after the SYN-ACK). */
  rcvNxt = 0;
  /** Peer's ISN, from its SYN-ACK. */
  peerIsn = 0;
  /** Our next TSval when timestamps are on; advanced by 1 per segment we send. */
  tsval: number | undefined;
  /** The peer's latest TSval (what we echo). */
  tsRecent = 0;

  constructor(readonly wire: Wire, readonly o: CraftedOptions) {
    this.sndNxt = o.isn;
    this.tsval = o.tsval;
  }

  private tsOpt(): TcpOption[] {
    if (this.tsval === undefined) return [];
    const o: TcpOption = { kind: 'ts', val: this.tsval, ecr: this.tsRecent };
    this.tsval = (this.tsval + 1) >>> 0;
    return [{ kind: 'nop' }, { kind: 'nop' }, o];
  }

  private learn(p: Captured): void {
    const ts = p.segment?.options.find((x) => x.kind === 'ts');
    if (ts && ts.kind === 'ts') this.tsRecent = ts.val;
  }

  /** Match for segments the peer sends to us on this 4-tuple. */
  fromPeer(flags?: string) {
    return { src: this.o.dst, dst: this.o.src, sport: this.o.dport, dport: this.o.sport, ...(flags ? { flags: { set: flags } } : {}) };
  }

  /** SYN, SYN-ACK, ACK. Resolves with the SYN-ACK. */
  async connect(within = 1000): Promise<Captured> {
    const since = this.wire.now();
    const opts: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }];
    if (this.tsval !== undefined) {
      opts.push({ kind: 'ts', val: this.tsval, ecr: 0 });
      this.tsval = (this.tsval + 1) >>> 0;
    }
    opts.push({ kind: 'nop' }, { kind: 'wscale', shift: 7 });
    this.send('S', { options: opts });
    this.sndNxt = seqAdd(this.sndNxt, 1);
    const synAck = await this.wire.expect(this.fromPeer('S.'), { within, since });
    const s = synAck.segment!;
    this.peerIsn = s.seq;
    this.rcvNxt = seqAdd(s.seq, 1);
    this.learn(synAck);
    this.ack();
    return synAck;
  }

  send(flags: string, extra: { seq?: number; ack?: number; options?: TcpOption[]; payload?: Uint8Array | string } = {}): bigint {
    return this.wire.send({
      src: this.o.src,
      dst: this.o.dst,
      sport: this.o.sport,
      dport: this.o.dport,
      seq: extra.seq ?? this.sndNxt,
      ack: flags.includes('.') ? (extra.ack ?? this.rcvNxt) : 0,
      flags,
      window: this.o.window ?? 64240,
      options: extra.options ?? this.tsOpt(),
      ...(extra.payload !== undefined ? { payload: extra.payload } : {}),
    });
  }

  ack(): bigint {
    return this.send('.');
  }

  /** Waits for the peer's FIN and acknowledges it. */
  async expectFin(within = 2000): Promise<Captured> {
    const fin = await this.wire.expect(this.fromPeer('F'), { within, since: this.wire.now() - 5_000_000_000n });
    this.learn(fin);
    this.rcvNxt = seqAdd(fin.segment!.seq, fin.segment!.payload.length + 1);
    this.ack();
    return fin;
  }

  /** Sends our FIN and waits for its ACK. */
  async close(within = 1000): Promise<Captured> {
    const since = this.wire.now();
    this.send('F.');
    this.sndNxt = seqAdd(this.sndNxt, 1);
    const ack = await this.wire.expect(this.fromPeer('.'), { within, since });
    this.learn(ack);
    return ack;
  }

  /** A bare SYN with a chosen ISN and timestamp (or none), on the same 4-tuple. */
  syn(isn: number, ts: TsChoice): bigint {
    const options: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackOk' }];
    if (ts) options.push({ kind: 'ts', val: ts.val, ecr: ts.ecr });
    options.push({ kind: 'nop' }, { kind: 'wscale', shift: 7 });
    return this.send('S', { seq: isn, options });
  }
}
