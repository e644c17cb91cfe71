// lab:tw-timer: which segments restart a TIME-WAIT's 60 s timer (TCP_TIMEWAIT_LEN) and which leave it
// running. The server closes first, so the TIME-WAITs are the server's: one per segment kind, all aged
// for the same time, then each receives one segment and its timer is read again from the socket table.
// A TIME-WAIT that keeps being restarted by a chatty or confused peer never goes away.
import { anyVersion, type Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { classifyReply, counting, packets, sockLineOr, tcpOnly } from '../src/lab/evidence.js';
import { probeServer } from '../src/lab/fixtures.js';
import { sendTw, serverTimeWaits, timerOf, TW_SEGMENTS, type TwSegment } from './tw-probe.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 34100;
/** How long the TIME-WAITs age before the segment: a restart then shows as a jump of about this much. */
const AGE_MS = 3000;
/**
 * A restart must lift the remaining time by at least this, half the age: ss prints whole seconds above
 * 10 s (57.9 s shows as 57 s), so a restart shows as +2 s or more and a running timer as 0 or less.
 */
const RESTART_MIN_MS = AGE_MS / 2;
const ANSWER_WAIT_MS = 150;

const RESCHEDULE = 'tcp_timewait_state_process(): inet_twsk_reschedule(tw, TCP_TIMEWAIT_LEN)';
const OOW_ACK = 'the segment is not a bare ACK or RST at rcv_nxt, so it falls to the out-of-window part: "if (paws_reject || th->ack) inet_twsk_reschedule()", then tcp_timewait_check_oow_rate_limit() answers TCP_TW_ACK';

interface Kind {
  seg: TwSegment;
  restart: Expectation;
  answer: Expectation;
}

const KINDS: readonly Kind[] = [
  {
    seg: 'ack',
    restart: { linux: anyVersion('restarted', `${RESCHEDULE} in the in-window branch: a bare ACK with seq == tw_rcv_nxt (and not PAWS-rejected) restarts the timer (RFC 9293's TIME-WAIT restarts only on a FIN; Linux also on this ACK)`) },
    answer: { linux: anyVersion('nothing', 'tcp_timewait_state_process(): the in-window bare ACK returns TCP_TW_SUCCESS: nothing is sent') },
  },
  {
    seg: 'ack-oow',
    restart: { linux: anyVersion('restarted', OOW_ACK) },
    answer: { linux: anyVersion('ACK', 'tcp_v4_timewait_ack() for TCP_TW_ACK (first one: tw_last_oow_ack_time is 0)') },
  },
  {
    seg: 'fin',
    restart: { linux: anyVersion('restarted', `${OOW_ACK} (RFC 9293 §3.10.7.4: "acknowledge it, and restart the 2 MSL timeout")`) },
    answer: { linux: anyVersion('ACK', 'TCP_TW_ACK: the retransmitted FIN is acknowledged (a FIN occupies sequence space, so tcp_oow_rate_limited() never limits it)') },
  },
  {
    seg: 'data',
    restart: { linux: anyVersion('restarted', OOW_ACK) },
    answer: { linux: anyVersion('ACK', 'TCP_TW_ACK (data is never rate-limited: tcp_oow_rate_limited() lets segments with payload through)') },
  },
  {
    seg: 'syn-refused',
    restart: { linux: anyVersion('running', 'tcp_timewait_state_process(): "If it is ACKless SYN it may be both old duplicate and new good SYN with random sequence number <rcv_nxt. Do not reschedule in the last case."') },
    answer: { linux: anyVersion('ACK', 'not after rcv_nxt and no newer TSval: not TCP_TW_SYN; tcp_timewait_check_oow_rate_limit() answers it with an ACK') },
  },
  {
    seg: 'syn-paws',
    restart: { linux: anyVersion('restarted', `tcp_paws_reject() is true, so the SYN is no new connection; "if (paws_reject || th->ack)" ${RESCHEDULE}`) },
    answer: { linux: anyVersion('ACK', 'the PAWS-rejected SYN gets an ACK (tcp_timewait_check_oow_rate_limit())') },
  },
  {
    seg: 'rst',
    restart: {
      linux: [
        { versions: '>=4.19', expect: 'running', because: 'tcp_timewait_state_process(): with tcp_rfc1337=1 the RST at rcv_nxt is ignored and the timer left alone (4.19, 63cc357f7bba "tcp: do not restart timewait timer on rst reception")' },
        { versions: '<4.19', expect: 'restarted', because: 'before 4.19 the in-window branch rescheduled for an RST too when tcp_rfc1337=1' },
      ],
    },
    answer: { linux: anyVersion('nothing', 'an RST is never answered (TCP_TW_SUCCESS)') },
  },
];

function labCase(): LabCase {
  return {
    id: 'restart',
    title: 'a TIME-WAIT aged 3 s receives one segment: is its 60 s timer restarted?',
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_rfc1337': 1, 'net.ipv4.tcp_invalid_ratelimit': 500 }, { port: SERVER_PORT });
      await ctx.step(`the server closes ${KINDS.length} connections from the prober first: ${KINDS.length} TIME-WAITs on the server, one per kind of segment`);
      const { tws } = await serverTimeWaits(ctx, p, { port: SERVER_PORT, basePort: PROBER_PORT, n: KINDS.length, isn: 5_000_000, tsval: 2_000_000 });
      await ctx.sleep(AGE_MS, 'the TIME-WAITs age');
      for (const [i, k] of KINDS.entries()) {
        const tw = tws[i]!;
        await ctx.step(`TIME-WAIT ${tw.remote.port}: ${TW_SEGMENTS[k.seg]}`);
        const before = await timerOf(p, tw.local, tw.remote);
        const { result: since, moved } = await counting(p.server, async () => {
          const t = sendTw(tw, k.seg);
          await ctx.sleep(ANSWER_WAIT_MS);
          return t;
        });
        const after = await timerOf(p, tw.local, tw.remote);
        const sent = packets(p.wire, p.point, (x) => x.tsNs >= since && tw.fromProber(x))[0];
        const reply = packets(p.wire, p.point, (x) => x.tsNs >= since && tw.fromServer(x))[0];
        const b = before?.timer?.remainingMs;
        const a = after?.timer?.remainingMs;
        const observed = after?.state !== 'TIME-WAIT' || a === undefined || b === undefined ? `gone (${after?.state ?? 'no socket'})` : a - b >= RESTART_MIN_MS ? 'restarted' : 'running';
        const evidence = [sent, reply].filter((x): x is PacketRecord => !!x);
        ctx.check({
          id: `restart-${k.seg}`,
          title: `${TW_SEGMENTS[k.seg]}: the TIME-WAIT timer`,
          expect: k.restart,
          observed,
          sockets: [sockLineOr(before, 'before'), sockLineOr(after, 'after')],
          packets: evidence,
          counters: tcpOnly(moved),
          explain: b !== undefined && a !== undefined ? `remaining ${b} ms before, ${a} ms ${ANSWER_WAIT_MS} ms after the segment (restarted: at least ${RESTART_MIN_MS} ms more than before)` : undefined,
        });
        ctx.check({
          id: `answer-${k.seg}`,
          title: `${TW_SEGMENTS[k.seg]}: the TIME-WAIT's answer`,
          expect: k.answer,
          observed: classifyReply(reply),
          packets: evidence,
          counters: tcpOnly(moved),
        });
      }
      for (const tw of tws) tw.conn.send('R', { seq: tw.conn.sndNxt, options: [] });
    },
  };
}

export const twTimerLab: Lab = {
  id: 'tw-timer',
  title: "which segments restart a TIME-WAIT's timer, and which leave it running",
  summary:
    'A TIME-WAIT lasts TCP_TIMEWAIT_LEN (60 s) from its last restart. Which segments from the old peer restart it: a bare ACK, an out-of-window ACK, ' +
    'a retransmitted FIN, data, a refused SYN, a PAWS-rejected SYN, an ignored RST? The timer is read from the socket table (ss; a guest\'s /proc/net/tcp) before and after each.',
  rfcs: ['RFC 9293 §3.10.7.4 (TIME-WAIT)', 'RFC 1337', 'RFC 7323 §5 (PAWS)', 'Linux tcp_timewait_state_process()', 'Linux inet_twsk_reschedule()'],
  sources: ['V. Bernat, Coping with the TCP TIME-WAIT state on busy Linux servers'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  // The prober goes through probeServer() (target.probe()), but the lab reads the TIME-WAIT timer from the socket table and its expectations
  // are Linux's: 'link' keeps it to kernels (QEMU, ssh) and out of the matrix's any-stack default, where
  // gVisor, slirp and lwIP would only give ERROR (no socket table, no counters, no expectations written).
  remote: 'link',
  cases: [labCase()],
};
