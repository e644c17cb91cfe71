// lab:syn-retries: the SYN retransmission schedule of a connect() that gets no answer (the server's
// SYNs are dropped by nftables), timed between the captured SYNs, and when connect() gives up
// (ETIMEDOUT). net.ipv4.tcp_syn_retries sets how many retransmissions; since 6.5 the first
// tcp_syn_linear_timeouts of them keep the initial 1 s instead of doubling, and add to the count.
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { packets } from '../src/lab/evidence.js';
import { pair } from '../src/lab/fixtures.js';
import { timerTolerance } from './timers.js';

const SERVER_PORT = 8080;
/** TCP_TIMEOUT_INIT: the first SYN's retransmission timeout (RFC 6298 §2.1). */
const INIT_MS = 1000;

interface SynCase {
  id: string;
  title: string;
  retries: number;
  /** tcp_syn_linear_timeouts to set where the kernel has it (6.5+). */
  linear: number;
}

const CASES: readonly SynCase[] = [
  { id: 'exponential', title: 'tcp_syn_retries=2, tcp_syn_linear_timeouts=0: 1 s, then doubling', retries: 2, linear: 0 },
  { id: 'linear', title: 'tcp_syn_retries=2, tcp_syn_linear_timeouts=2: the first two retransmissions keep 1 s', retries: 2, linear: 2 },
];

const hasLinear = (v: readonly number[]) => v[0]! > 6 || (v[0] === 6 && v[1]! >= 5);

/**
 * The waits after SYN 1, 2, ... as tcp_retransmit_timer() arms them; the last one is the wait after the
 * last retransmission, at whose end tcp_write_timeout() gives up.
 */
export function synSchedule(version: readonly number[], retries: number, linear: number): number[] {
  const lin = hasLinear(version) ? linear : 0;
  // 6.5+: tcp_write_timeout() allows tcp_syn_retries + tcp_syn_linear_timeouts retransmissions in SYN-SENT.
  const n = retries + lin;
  const gaps = [INIT_MS];
  for (let k = 1; k <= n; k++) gaps.push(k <= lin ? gaps[k - 1]! : 2 * gaps[k - 1]!);
  return gaps;
}

const WHY_LINEAR = '6.5 (ccce324dabfe "tcp: make the first N SYN RTO backoffs linear"): in SYN-SENT, tcp_retransmit_timer() keeps icsk_rto (TCP_TIMEOUT_INIT) for the first tcp_syn_linear_timeouts retransmissions and doubles it after; tcp_write_timeout() allows tcp_syn_retries + tcp_syn_linear_timeouts of them';
const WHY_EXP = 'tcp_retransmit_timer(): icsk_rto doubles after every retransmission (exponential backoff, RFC 6298 §5.5), from TCP_TIMEOUT_INIT; tcp_write_timeout() gives up after tcp_syn_retries';

function labCase(sc: SynCase): LabCase {
  return {
    id: sc.id,
    title: sc.title,
    async run(ctx: CaseContext) {
      const p = await pair(ctx, ['client', 'server'], { client: { 'net.ipv4.tcp_syn_retries': sc.retries } }, { port: SERVER_PORT });
      const client = p.stackOf(p.a);
      if (hasLinear(client.version)) {
        await p.a.sysctl.set('net.ipv4.tcp_syn_linear_timeouts', sc.linear);
        ctx.sysctl('client', 'net.ipv4.tcp_syn_linear_timeouts', await p.a.sysctl.get('net.ipv4.tcp_syn_linear_timeouts'));
      } else {
        ctx.sysctl('client', 'net.ipv4.tcp_syn_linear_timeouts', `absent (${client.release} < 6.5)`);
      }
      ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
      const drop = await p.impair(p.b, { dir: 'in', match: { tcpFlags: 'syn', dport: SERVER_PORT } });
      ctx.note('server', 'nftables drops every SYN to port 8080: the client hears nothing');
      const cli = await p.a.peer();
      const sched = synSchedule(client.version, sc.retries, sc.linear);
      const total = sched.reduce((a, b) => a + b, 0);
      await ctx.step(`the client connect()s to ${p.bAddr}:${SERVER_PORT}; the schedule its kernel should follow: SYN, then ${sched.slice(0, -1).map((g) => `${g / 1000} s`).join(', ')}, and ETIMEDOUT ${sched.at(-1)! / 1000} s after the last`);
      const t0 = p.wire.now();
      const r = await ctx.waiting('connect() retransmitting its SYN', total + 5000, () => cli.try('connect', { addr: p.bAddr, port: SERVER_PORT, timeoutMs: total + 10_000 }));
      const failedAt = p.wire.now();
      await drop.dispose();
      const code = r.ok ? 'connected' : r.code;
      ctx.note('client', `connect() -> ${code}`);
      const syns = packets(p.wire, p.point, (x) => x.tsNs >= t0 && x.segment.src === p.aAddr && x.segment.flags === 'S');
      const tol = timerTolerance(undefined);
      const why: Expectation = { linux: [{ versions: '>=6.5', expect: sched.length, because: WHY_LINEAR }, { versions: '<6.5', expect: sched.length, because: WHY_EXP }] };
      ctx.check({
        id: 'syns',
        stack: client,
        title: 'SYNs the client sent before giving up (1 + retransmissions)',
        expect: why,
        observed: syns.length,
        packets: syns,
      });
      for (let i = 1; i < syns.length && i < sched.length; i++) {
        ctx.checkTiming({
          id: `gap-${i}`,
          stack: client,
          title: `SYN ${i} -> SYN ${i + 1}`,
          from: syns[i - 1]!,
          to: syns[i]!,
          expectMs: { linux: [{ versions: '*', expect: sched[i - 1]!, because: hasLinear(client.version) ? WHY_LINEAR : WHY_EXP }] },
          tolerance: tol,
          explain: `tolerance max(${tol.absMs} ms, 12.5 %): the timer wheel fires a timer of T up to T/8 late, plus two ticks (the coarsest HZ, 100, assumed: the client may be a guest)`,
        });
      }
      const last: PacketRecord | undefined = syns.at(-1);
      const waited = last ? Number(failedAt - last.tsNs) / 1e6 : NaN;
      const lastGap = sched.at(-1)!;
      ctx.check({
        id: 'gives-up',
        stack: client,
        title: 'connect() fails with ETIMEDOUT one more timeout after the last SYN (ms after it)',
        expect: { linux: [{ versions: '*', expect: { between: [lastGap - tol.absMs, lastGap * (1 + tol.pct) + tol.absMs + 100] }, because: `${hasLinear(client.version) ? WHY_LINEAR : WHY_EXP}: the timer after the last retransmission finds it expired and tcp_write_err() reports ETIMEDOUT; +100 ms for the peer's answer to reach this process` }] },
        observed: code === 'ETIMEDOUT' ? +waited.toFixed(1) : code,
        packets: last ? [last] : [],
        explain: `connect() returned ${code} ${waited.toFixed(0)} ms after the last SYN (the moment taken when the peer's answer arrived here)`,
      });
    },
  };
}

export const synRetriesLab: Lab = {
  id: 'syn-retries',
  title: 'the SYN retransmission schedule of an unanswered connect() (tcp_syn_retries, tcp_syn_linear_timeouts)',
  summary:
    'A connect() whose SYNs are never answered retransmits them on a schedule: 1 s, then doubling, tcp_syn_retries times, on older kernels; since 6.5 the ' +
    'first tcp_syn_linear_timeouts retransmissions stay at 1 s and are added to the count. This is the schedule a reconnect falls back on when ' +
    'its SYN is ignored (lab reconnect). The gaps are timed between captured SYNs.',
  rfcs: ['RFC 6298 §5.5 (backoff)', 'RFC 9293 §3.8.1', 'Linux tcp_retransmit_timer()', 'Linux tcp_write_timeout()'],
  sources: ['Linux Documentation/networking/ip-sysctl.rst: tcp_syn_retries, tcp_syn_linear_timeouts'],
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  cases: CASES.map(labCase),
};
