// One TCP segment as a packetdrill packet line: `< S 0:0(0) win 64240 <mss 1460,sackOK,TS val 5 ecr 0,nop,wscale 7>`.
import type { Segment, TcpOption } from '../../wire/types.js';
import type { SeqSpace } from './seqspace.js';

/** packetdrill writes flags in this order (F S R P .); URG/ECE/CWR have no place in our labs' segments. */
const ORDER = ['F', 'S', 'R', 'P', '.'] as const;

export function pdFlags(tcpdump: string): string {
  const unsupported = [...tcpdump].filter((c) => !(ORDER as readonly string[]).includes(c));
  if (unsupported.length) throw new RangeError(`flags '${tcpdump}': ${unsupported.join('')} not exported (only F S R P .)`);
  return ORDER.filter((c) => tcpdump.includes(c)).join('');
}

function optionText(o: TcpOption, ts: { val: number | undefined; ecr: number | undefined }): string {
  switch (o.kind) {
    case 'nop': return 'nop';
    case 'eol': return 'eol';
    case 'mss': return `mss ${o.value}`;
    case 'wscale': return `wscale ${o.shift}`;
    case 'sackOk': return 'sackOK';
    case 'sack': return `sack ${o.blocks.map(([a, b]) => `${a}:${b}`).join(' ')}`;
    case 'ts': return `TS val ${ts.val ?? o.val} ecr ${ts.ecr ?? o.ecr}`;
    case 'raw': throw new RangeError(`TCP option kind ${o.type} has no packetdrill spelling in this exporter`);
  }
}

/**
 * The packet line without its time: direction, flags, seq:end(len), ack, win, options; `fresh` when it is
 * an outbound SYN-ACK whose ISN no script can state (see SeqSpace).
 */
export function segmentLine(s: Segment, dir: '<' | '>', space: SeqSpace): { line: string; fresh: boolean } {
  const m = dir === '<' ? space.inbound(s) : space.outbound(s);
  const ts = dir === '<' ? { val: undefined, ecr: (m as { tsEcr?: number }).tsEcr } : { val: (m as { tsVal?: number }).tsVal, ecr: undefined };
  const len = s.payload.length;
  const parts = [dir, pdFlags(s.flags), `${m.seq}:${(m.seq + len) >>> 0}(${len})`];
  if (m.ack !== undefined) parts.push(`ack ${m.ack}`);
  parts.push(`win ${s.window}`);
  if (s.options.length) parts.push(`<${s.options.map((o) => optionText(o, ts)).join(',')}>`);
  return { line: parts.join(' '), fresh: (m as { fresh?: boolean }).fresh === true };
}
