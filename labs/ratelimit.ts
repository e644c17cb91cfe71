// lab:ratelimit: a TIME-WAIT answers refused segments with an ACK, but at most one per
// tcp_invalid_ratelimit (500 ms) for the kinds that could feed an ACK loop: pure ACKs and SYNs
// (tcp_oow_rate_limited(), since 4.0). Data and FINs occupy sequence space and are always answered.
// A burst of five of each kind goes to its own TIME-WAIT; the answers are counted from packets and the
// withheld ones from TcpExt.TCPACKSkippedTimeWait. With the sysctl at 0 nothing is withheld.
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { counting, packets, tcpOnly } from '../src/lab/evidence.js';
import { probeServer } from '../src/lab/fixtures.js';
import { CraftedConn } from '../src/wire/crafted.js';
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


const GLOBAL_CONNS = 5;
const GLOBAL = 'tcp_send_challenge_ack(): after the per-socket limit, the host-wide RFC 5961 limit: a budget drawn each second of jiffies / HZ from [limit/2, limit + limit/2 - 1] (4.7, 75ff39ccc1bd "tcp: make challenge acks less predictable"), per network namespace and off (INT_MAX) by default since 6.0 (79e3602caa6f)';

/**
 * The global challenge ACK limit: one in-window SYN to each of five ESTABLISHED connections (fresh
 * sockets, so the per-socket limit does not apply). With tcp_challenge_ack_limit=1 the budget is exactly
 * 1 per second (half = 1), so one challenge ACK, or two if the 40 ms burst straddles a second boundary of
 * jiffies / HZ (which user space cannot see).
 */
function globalCase(limit: number): LabCase {
  return {
    id: `challenge-limit-${limit}`,
    title: `tcp_challenge_ack_limit=${limit}: in-window SYNs to ${GLOBAL_CONNS} established connections, one each`,
    async run(ctx: CaseContext) {
      const port = SERVER_PORT;
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_challenge_ack_limit': limit }, { port });
      ctx.setColumns([{ label: 'client (prober)', addrs: [p.ghostAddr] }, { label: 'server', addrs: [p.sAddr] }]);
      const srv = await p.peer();
      const l = await srv.call('listen', { addr: p.sAddr, port, reuseAddr: true });
      await ctx.step(`${GLOBAL_CONNS} connections from the prober to the server, left ESTABLISHED`);
      const conns: CraftedConn[] = [];
      for (let i = 0; i < GLOBAL_CONNS; i++) {
        const c = new CraftedConn(p.wire, { src: p.ghostAddr, dst: p.sAddr, sport: PROBER_PORT + 100 + i, dport: port, isn: 9_000_000 + i * 1_000_000, tsval: 4_000_000 + i * 1000 });
        await c.connect(3000);
        await srv.call('accept', { sock: l.sock, timeoutMs: 3000 });
        conns.push(c);
      }
      // The budget is drawn at the first challenge ACK of a new second and kept for that second, whatever
      // the sysctl says meanwhile: an earlier case on the same kernel (a guest) may have spent it.
      await ctx.sleep(1100, 'the next second of the global budget');
      await ctx.step(`one in-window SYN to each, ${SPACING_MS} ms apart: each socket would answer with a challenge ACK (RFC 5961 §4)`);
      const { result: since, moved } = await counting(p.server, async () => {
        const t = p.wire.now();
        for (const [i, c] of conns.entries()) {
          c.syn(c.sndNxt, { val: c.tsval ?? 0, ecr: c.tsRecent });
          if (i < conns.length - 1) await ctx.sleep(SPACING_MS);
        }
        await ctx.sleep(ANSWER_WAIT_MS);
        return t;
      });
      const ports = new Set(conns.map((c) => c.o.sport));
      const syns = packets(p.wire, p.point, (x) => x.tsNs >= since && x.segment.src === p.ghostAddr && x.segment.flags === 'S');
      const acks = packets(p.wire, p.point, (x) => x.tsNs >= since && x.segment.src === p.sAddr && ports.has(x.segment.dport) && x.segment.flags === '.');
      ctx.check({
        id: 'challenge-acks',
        title: `challenge ACKs for ${GLOBAL_CONNS} in-window SYNs on ${GLOBAL_CONNS} sockets`,
        expect: { linux: [{ versions: '>=4.7', expect: limit === 1 ? { oneOf: [1, 2] } : GLOBAL_CONNS, because: limit === 1 ? `${GLOBAL}: limit 1 gives a budget of exactly 1 a second (2 if the burst straddles a second)` : `${GLOBAL}: a budget of at least ${Math.floor((limit + 1) / 2)} covers all ${GLOBAL_CONNS}` }] },
        observed: acks.length,
        packets: [...syns, ...acks].sort((a, b) => (a.tsNs < b.tsNs ? -1 : 1)),
        counters: tcpOnly(moved),
      });
      ctx.check({
        id: 'challenge-counter',
        title: 'TcpExt.TCPChallengeACK counts the challenge ACKs sent, not the ones the global limit withheld',
        expect: { linux: [{ versions: '>=4.7', expect: acks.length, because: 'tcp_send_challenge_ack(): NET_INC_STATS(LINUX_MIB_TCPCHALLENGEACK) only on the send path' }] },
        observed: moved['TcpExt.TCPChallengeACK'] ?? 0,
        counters: tcpOnly(moved),
      });
      for (const c of conns) c.send('R', { seq: c.sndNxt, options: [] });
    },
  };
}

export const ratelimitLab: Lab = {
  id: 'ratelimit',
  title: 'ACK rate limits: tcp_invalid_ratelimit in TIME-WAIT, and the global tcp_challenge_ack_limit',
  summary:
    'A TIME-WAIT answers a refused segment with an ACK. For pure ACKs and SYNs, which could feed an ACK loop, Linux sends at most one such ACK per ' +
    'tcp_invalid_ratelimit (500 ms) and counts the rest in TcpExt.TCPACKSkippedTimeWait; data and FINs are always answered. Bursts of five of each ' +
    'kind, with the limit at its default and at 0. And the host-wide challenge ACK budget (tcp_challenge_ack_limit) across five connections.',
  rfcs: ['RFC 9293 §3.10.7.4 (TIME-WAIT)', 'RFC 5961 §4, §10 (challenge ACKs, rate limiting)', 'Linux tcp_timewait_state_process()', 'Linux tcp_oow_rate_limited()', 'Linux tcp_send_challenge_ack()'],
  sources: ['Linux Documentation/networking/ip-sysctl.rst: tcp_invalid_ratelimit'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  // The prober goes through probeServer() (target.probe()), but the lab counts withheld ACKs in TcpExt and its expectations
  // are Linux's: 'link' keeps it to kernels (QEMU, ssh) and out of the matrix's any-stack default, where
  // gVisor, slirp and lwIP would only give ERROR (no socket table, no counters, no expectations written).
  remote: 'link',
  cases: [labCase(500), labCase(0), globalCase(1), globalCase(1000)],
};
