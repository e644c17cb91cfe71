// lab:ratelimit: a TIME-WAIT answers refused segments with an ACK, but at most one per
// tcp_invalid_ratelimit (500 ms) for the kinds that could feed an ACK loop: pure ACKs and SYNs
// (tcp_oow_rate_limited(), since 4.0). Data and FINs occupy sequence space and are always answered.
// A burst of five of each kind goes to its own TIME-WAIT; the answers are counted from packets and the
// withheld ones from TcpExt.TCPACKSkippedTimeWait. With the sysctl at 0 nothing is withheld.
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { counting, packets, probeServer, tcpOnly } from './common.js';
import { sendTw, serverTimeWaits, TW_SEGMENTS, type TwSegment } from './tw-probe.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 34200;
const BURST = 5;
/** Spacing of the burst: all five inside 40 ms, far inside a 500 ms rate limit (125 jiffies at HZ=250). */
const SPACING_MS = 10;
const ANSWER_WAIT_MS = 200;

/** Kinds with sequence space are never limited: tcp_oow_rate_limited() returns false for them at once. */
const KINDS: ReadonlyArray<{ seg: TwSegment; limited: boolean }> = [
  { seg: 'ack-oow', limited: true },
  { seg: 'syn-refused', limited: true },
  { seg: 'syn-paws', limited: true },
  { seg: 'fin', limited: false },
  { seg: 'data', limited: false },
];

const LIMIT = 'tcp_timewait_check_oow_rate_limit() -> tcp_oow_rate_limited(TCPACKSKIPPEDTIMEWAIT, &tw_last_oow_ack_time): one ACK, then none until tcp_invalid_ratelimit has passed (4.0, 4fb17a609167 "tcp: mitigate ACK loops for connections as tcp_timewait_sock")';
const NEVER = 'tcp_oow_rate_limited(): "Data packets without SYNs are not likely part of an ACK loop": a segment with sequence space (data, FIN) is answered every time';

function labCase(ratelimitMs: number): LabCase {
  return {
    id: ratelimitMs ? 'limited' : 'off',
    title: ratelimitMs ? `tcp_invalid_ratelimit=${ratelimitMs}: bursts of ${BURST} refused segments at TIME-WAITs` : `tcp_invalid_ratelimit=0: the same bursts, no rate limit`,
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_invalid_ratelimit': ratelimitMs }, { port: SERVER_PORT });
      await ctx.step(`the server closes ${KINDS.length} connections from the prober first: one TIME-WAIT per kind of segment`);
      const { tws } = await serverTimeWaits(ctx, p, { port: SERVER_PORT, basePort: PROBER_PORT + (ratelimitMs ? 0 : 50), n: KINDS.length, isn: 7_000_000, tsval: 3_000_000 });
      for (const [i, k] of KINDS.entries()) {
        const tw = tws[i]!;
        await ctx.step(`TIME-WAIT ${tw.remote.port}: ${BURST} x ${TW_SEGMENTS[k.seg]}, ${SPACING_MS} ms apart`);
        const { result: since, moved } = await counting(p.server, async () => {
          const t = p.wire.now();
          for (let j = 0; j < BURST; j++) {
            sendTw(tw, k.seg);
            if (j < BURST - 1) await ctx.sleep(SPACING_MS);
          }
          await ctx.sleep(ANSWER_WAIT_MS);
          return t;
        });
        const sent = packets(p.wire, p.point, (x) => x.tsNs >= since && tw.fromProber(x));
        const answers = packets(p.wire, p.point, (x) => x.tsNs >= since && tw.fromServer(x) && x.segment.flags === '.');
        const limitedHere = k.limited && ratelimitMs > 0;
        ctx.check({
          id: `answers-${k.seg}`,
          title: `ACKs for ${BURST} x ${TW_SEGMENTS[k.seg]}`,
          expect: { linux: [{ versions: '>=4.0', expect: limitedHere ? 1 : BURST, because: limitedHere ? LIMIT : k.limited ? 'tcp_invalid_ratelimit=0: __tcp_oow_rate_limited() needs elapsed < 0 jiffies, which never holds' : NEVER }] },
          observed: answers.length,
          packets: [...sent, ...answers].sort((a: PacketRecord, b: PacketRecord) => (a.tsNs < b.tsNs ? -1 : 1)),
          counters: tcpOnly(moved),
        });
        ctx.check({
          id: `skipped-${k.seg}`,
          title: `TcpExt.TCPACKSkippedTimeWait for that burst (ACKs withheld)`,
          expect: { linux: [{ versions: '>=4.0', expect: limitedHere ? BURST - 1 : 0, because: limitedHere ? LIMIT : 'nothing was withheld' }] },
          observed: moved['TcpExt.TCPACKSkippedTimeWait'] ?? 0,
          counters: tcpOnly(moved),
        });
      }
      for (const tw of tws) tw.conn.send('R', { seq: tw.conn.sndNxt, options: [] });
    },
  };
}

export const ratelimitLab: Lab = {
  id: 'ratelimit',
  title: 'ACK rate limiting in TIME-WAIT (tcp_invalid_ratelimit): which refused segments are answered, and how often',
  summary:
    'A TIME-WAIT answers a refused segment with an ACK. For pure ACKs and SYNs, which could feed an ACK loop, Linux sends at most one such ACK per ' +
    'tcp_invalid_ratelimit (500 ms) and counts the rest in TcpExt.TCPACKSkippedTimeWait; data and FINs are always answered. Bursts of five of each ' +
    'kind, with the limit at its default and at 0.',
  rfcs: ['RFC 9293 §3.10.7.4 (TIME-WAIT)', 'RFC 5961 §10 (rate-limiting ACKs)', 'Linux tcp_timewait_state_process()', 'Linux tcp_oow_rate_limited()'],
  sources: ['Linux Documentation/networking/ip-sysctl.rst: tcp_invalid_ratelimit'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  // The prober goes through probeServer() (target.probe()), but the lab counts withheld ACKs in TcpExt and its expectations
  // are Linux's: 'link' keeps it to kernels (QEMU, ssh) and out of the matrix's any-stack default, where
  // gVisor, slirp and lwIP would only give ERROR (no socket table, no counters, no expectations written).
  remote: 'link',
  cases: [labCase(500), labCase(0)],
};
