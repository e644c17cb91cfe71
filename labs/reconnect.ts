// lab:reconnect: the slow path of the LAST-ACK story. A Linux client closed first, its last ACK was lost,
// and tcp_tw_reuse lets it reuse the 4-tuple while the server still sits in LAST-ACK. The fast path (lab
// lastack-syn): the server's challenge ACK draws the client's RST, which clears LAST-ACK, and the client
// resends its SYN at once. The slow path: the server had sent an out-of-window ACK shortly before (within
// tcp_invalid_ratelimit, 500 ms), so tcp_send_challenge_ack() stays silent, the SYN goes unanswered and
// the reconnect waits for the client's SYN retransmission timer. Both reconnects are timed from packets.
import { anyVersion, type Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { seqAdd } from '../src/wire/seq.js';
import { classifyReply, counting, packets, sockLineOr, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { connectOn, pair } from '../src/lab/fixtures.js';
import { synSchedule } from './syn-retries.js';
import { jiffyMs, localHz, timerTolerance } from './timers.js';

const SERVER_PORT = 8080;
/** The client's only ephemeral port: the second connect() must reuse the TIME-WAIT (__inet_hash_connect()). */
const CLIENT_PORT = 40500;
/**
 * How long after the out-of-window ACK the client reconnects: far inside tcp_invalid_ratelimit (500 ms),
 * and short, so that a guest stalled by a busy host rarely sees the window pass on its own clock.
 */
const AFTER_OOW_MS = 20;

const CHALLENGE = 'tcp_validate_incoming(): a SYN on a synchronized socket (LAST-ACK) gets a challenge ACK from tcp_send_challenge_ack() (RFC 5961 §4, TcpExt.TCPSYNChallenge)';
const SUPPRESSED =
  'tcp_send_challenge_ack() first asks __tcp_oow_rate_limited(TCPACKSKIPPEDCHALLENGE, &tp->last_oow_ack_time): the dupack sent for the out-of-window ACK set last_oow_ack_time less than tcp_invalid_ratelimit ago, so no challenge ACK goes out (since 4.0, f2b2c582e824 "tcp: mitigate ACK loops for connections as tcp_sock")';
const QUICK_RESEND =
  'tcp_rcv_synsent_state_process(): an ACK that does not acknowledge the SYN draws an RST (reset_and_undo) and, while icsk_retransmits == 0, re-arms the retransmit timer at TCP_TIMEOUT_MIN, 2 jiffies (5.6, 2ae21cf527da "tcp: Reduce SYN resend delay if a suspicous ACK is received")';

interface ReconnectCase {
  id: string;
  title: string;
  /** Send an out-of-window ACK toward the server just before the reconnect. */
  oow: boolean;
}

const CASES: readonly ReconnectCase[] = [
  { id: 'fast', title: 'the reused SYN meets LAST-ACK: challenge ACK, RST, SYN again at once', oow: false },
  { id: 'slow', title: 'the server sent an out-of-window ACK 20 ms before: the challenge ACK is rate-limited away, the SYN waits for its retransmission', oow: true },
];

/** ms between SYN n and SYN n+1 of a connect() with no answer (n from 1): lab syn-retries' schedule. */
function synGapMs(n: number, linear: number, version: readonly number[]): number {
  // tcp_syn_retries only bounds the count; six (the default) is more than the three SYNs here.
  return synSchedule(version, 6, linear)[n - 1]!;
}

function labCase(rc: ReconnectCase): LabCase {
  return {
    id: rc.id,
    title: rc.title,
    async run(ctx: CaseContext) {
      // The capture and crafted sends sit on the client's end: what the client sends and receives is what
      // its kernel decided, and a crafted segment reaches the server.
      const p = await pair(ctx, ['client', 'server'], {
        client: { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_tw_reuse': 1, 'net.ipv4.ip_local_port_range': `${CLIENT_PORT} ${CLIENT_PORT}` },
        server: { 'net.ipv4.tcp_timestamps': 1, 'net.ipv4.tcp_invalid_ratelimit': 500 },
      }, { port: SERVER_PORT }, 'a');
      if (p.sendsReach !== p.b) throw new Error('crafted segments on this link must reach the server');
      const client = p.stackOf(p.a);
      const clientNew = client.version[0]! > 6 || (client.version[0] === 6 && client.version[1]! >= 14);
      // tcp_tw_reuse_delay (6.14): the reuse threshold is tw_entry_stamp + delay ms; before, the next second.
      const reuseDelay = clientNew ? Number(await p.a.sysctl.get('net.ipv4.tcp_tw_reuse_delay')) : 1000;
      if (clientNew) ctx.sysctl('client', 'net.ipv4.tcp_tw_reuse_delay', String(reuseDelay));
      const linear = Number(await p.a.sysctl.get('net.ipv4.tcp_syn_linear_timeouts').catch(() => '0'));
      ctx.sysctl('client', 'net.ipv4.tcp_syn_linear_timeouts', String(linear));
      const hz = localHz(); // the client, whose timers are timed, is this machine's kernel on a target too

      const c = await connectOn(ctx, p, SERVER_PORT, 3000);
      const { cli, srv } = c;
      const [l, con, acc] = [{ sock: c.lsock }, { sock: c.csock }, { sock: c.ssock }];
      const cport = c.local.port;
      const local = { addr: p.aAddr, port: cport };
      const remote = { addr: p.bAddr, port: SERVER_PORT };
      const fromServer = (x: PacketRecord) => x.segment.src === p.bAddr && x.segment.sport === SERVER_PORT && x.segment.dport === cport;
      const fromClient = (x: PacketRecord) => x.segment.src === p.aAddr && x.segment.sport === cport && x.segment.dport === SERVER_PORT;
      await ctx.step(`client ${p.aAddr}:${cport} (its only ephemeral port) connects to ${p.bAddr}:${SERVER_PORT}; tcp_tw_reuse=1, timestamps on`);

      const synAck = packets(p.wire, p.point, (x) => fromServer(x) && x.segment.flags === 'S.')[0];
      const syn0 = packets(p.wire, p.point, (x) => fromClient(x) && x.segment.flags === 'S')[0];
      if (!synAck || !syn0) throw new Error('the first handshake was not captured');
      const srvFinAck = seqAdd(synAck.segment.seq, 2); // no data: the server's FIN is ISN + 1
      const rcvNxt = seqAdd(syn0.segment.seq, 2); // the server's rcv_nxt after the client's FIN
      const lostAck = await p.impair(p.a, { dir: 'out', match: { tcpFlags: 'ack-only', sport: cport, dport: SERVER_PORT, ackSeq: srvFinAck } });
      ctx.note('client', `nftables drops every pure ACK of the server's FIN (ack ${srvFinAck}): the last ACK is lost`);

      await ctx.step('the client closes first; the server reads EOF and closes: its FIN is answered by the TIME-WAIT, but the ACK is lost');
      await cli.call('close', { sock: con.sock });
      const eof = await srv.call('recv', { sock: acc.sock, timeoutMs: 3000 });
      if (!eof.eof) throw new Error('server: expected EOF after the client closed');
      const finAt = p.wire.now();
      await srv.call('close', { sock: acc.sock });
      await p.wire.expect({ src: p.bAddr, sport: SERVER_PORT, dport: cport, flags: { set: 'F' } }, { within: 2000, since: finAt });
      // The server's FIN retransmissions would reach the client's new SYN-SENT socket and draw the same
      // RST a challenge ACK does (tcp_rcv_synsent_state_process()): they are dropped so that only the
      // challenge ACK, or its absence, decides. (On a real path they may come and cut the wait short.)
      const finRtx = await p.impair(p.b, { dir: 'out', match: { tcpFlags: 'fin', sport: SERVER_PORT, dport: cport } });
      ctx.note('server', "nftables drops the server's FIN retransmissions from LAST-ACK");
      const tw = await waitSocket(p.a, local, remote, (s) => s?.state === 'TIME-WAIT', 1000);
      const la = await waitSocket(p.b, remote, local, (s) => s?.state === 'LAST-ACK', 1000);
      ctx.check({
        id: 'states',
        title: 'the client holds a TIME-WAIT, the server waits in LAST-ACK for the lost ACK',
        expect: { linux: anyVersion('TIME-WAIT/LAST-ACK', 'tcp_time_wait() on the client (FIN in FIN-WAIT-2); tcp_close() from CLOSE-WAIT -> LAST-ACK on the server') },
        observed: `${tw?.state ?? 'gone'}/${la?.state ?? 'gone'}`,
        sockets: [sockLineOr(tw, 'client'), sockLineOr(la, 'server')],
      });

      // tcp_twsk_unique() lets connect() take the TIME-WAIT's port only after the reuse delay.
      await ctx.sleep(reuseDelay + (clientNew ? 100 : 1000), 'the tcp_tw_reuse delay');

      const { result: r, moved } = await counting(p.b, async () => {
        let oowAt: bigint | undefined;
        if (rc.oow) {
          const seq = seqAdd(rcvNxt, -100_000);
          await ctx.step(`an old duplicate ACK of the first connection (seq ${seq}, below the server's rcv_nxt ${rcvNxt}) reaches the server in LAST-ACK`);
          // It acknowledges only up to the server's FIN, as a duplicate from before it did (and so the lost-ACK rule lets it pass).
          oowAt = p.wire.send({ src: p.aAddr, dst: p.bAddr, sport: cport, dport: SERVER_PORT, seq, ack: seqAdd(srvFinAck, -1), flags: '.', window: 502 });
          await ctx.sleep(AFTER_OOW_MS);
        }
        await ctx.step(`the client connect()s again${rc.oow ? ` ${AFTER_OOW_MS} ms later` : ''}: tcp_tw_reuse hands it the TIME-WAIT's 4-tuple`);
        const t = p.wire.now();
        const c2 = await cli.call('connect', { addr: p.bAddr, port: SERVER_PORT, timeoutMs: 10_000 });
        const a2 = await srv.call('accept', { sock: l.sock, timeoutMs: 3000 });
        return { oowAt, t, c2, a2 };
      });
      await lostAck.dispose();
      await finRtx.dispose();
      ctx.note('client', `connect() returned on port ${r.c2.localPort}`);
      if (r.c2.localPort !== cport) throw new Error(`the second connect() used port ${r.c2.localPort}, not the TIME-WAIT's ${cport}`);
      await cli.call('close', { sock: r.c2.sock });
      await srv.call('close', { sock: r.a2.sock });

      const after = packets(p.wire, p.point, (x) => x.tsNs >= r.t);
      const synAck2 = after.find((x) => fromServer(x) && x.segment.flags === 'S.');
      const syns = after.filter((x) => fromClient(x) && x.segment.flags === 'S' && (!synAck2 || x.tsNs <= synAck2.tsNs));
      const first = syns[0];
      if (!first || !synAck2) throw new Error(`the reconnect was not captured (${syns.length} SYN(s), SYN-ACK ${synAck2 ? 'seen' : 'missing'})`);
      // The server's FIN retransmissions are no answer to the SYN (and on a target the capture sees them
      // before this machine's input hook drops them).
      const answers = (since: bigint, until: bigint) => after.filter((x) => fromServer(x) && x.tsNs > since && x.tsNs < until && !x.segment.flags.includes('S') && !x.segment.flags.includes('F'));
      const firstAnswer = answers(first.tsNs, syns[1]?.tsNs ?? synAck2.tsNs)[0];
      const rsts = after.filter((x) => fromClient(x) && x.segment.flags.includes('R'));
      const skipped = moved['TcpExt.TCPACKSkippedChallenge'] ?? 0;

      if (rc.oow && r.oowAt !== undefined) {
        const oow = packets(p.wire, p.point, (x) => x.tsNs >= r.oowAt! && x.tsNs < r.t && fromClient(x) && x.segment.flags === '.')[0];
        const dup = packets(p.wire, p.point, (x) => x.tsNs >= r.oowAt! && x.tsNs < r.t && fromServer(x))[0];
        // The premise, on the server's own clock: its TSval (ms, one clock per connection) on the dupack and
        // on its answer to the first SYN. A guest stalled by a busy host can see 500 ms pass in what was 20 ms
        // here; then the challenge ACK is due, and the run proves nothing about the rate limit.
        const tsv = (x: PacketRecord | undefined) => x?.segment.options.find((o) => o.kind === 'ts');
        const a = tsv(dup);
        const b = tsv(firstAnswer);
        if (a && b && a.kind === 'ts' && b.kind === 'ts') {
          const serverMs = (b.val - a.val) >>> 0;
          if (serverMs >= 500) throw new Error(`premise not met: the server's clock (TSval) moved ${serverMs} ms between its duplicate ACK and its answer to the SYN, ${(Number(first.tsNs - dup!.tsNs) / 1e6).toFixed(0)} ms here: the window of tcp_invalid_ratelimit had passed for it (a stalled guest); run again`);
        }
        ctx.check({
          id: 'dupack',
          title: 'the server in LAST-ACK answers the out-of-window ACK with a duplicate ACK',
          expect: { linux: anyVersion('ACK', 'tcp_validate_incoming(): !tcp_sequence() -> tcp_send_dupack(), unless tcp_oow_rate_limited(TCPACKSKIPPEDSEQ); it stamps tp->last_oow_ack_time') },
          observed: classifyReply(dup),
          packets: [oow, dup].filter((x): x is PacketRecord => !!x),
        });
      }
      const answer: Expectation = rc.oow
        ? { linux: anyVersion('nothing', SUPPRESSED) }
        : { linux: anyVersion('ACK', CHALLENGE) };
      ctx.check({
        id: 'answer',
        title: "what the server in LAST-ACK answers to the client's first reused SYN",
        expect: answer,
        observed: classifyReply(firstAnswer),
        packets: [first, ...(firstAnswer ? [firstAnswer] : syns.slice(1, 2))],
        counters: tcpOnly(moved),
        explain: firstAnswer ? `ACK ${firstAnswer.segment.ack}: the old connection's rcv_nxt, not the SYN` : `no answer before the client's next SYN`,
      });
      ctx.check({
        id: 'skipped-counter',
        title: "the server's TcpExt.TCPACKSkippedChallenge (challenge ACKs withheld by the per-socket rate limit)",
        expect: { linux: [{ versions: '>=4.0', expect: rc.oow ? 1 : 0, because: rc.oow ? SUPPRESSED : 'no out-of-window answer went out in the last 500 ms: the challenge ACK is sent' }] },
        observed: skipped,
        counters: tcpOnly(moved),
      });
      ctx.check({
        id: 'syns',
        stack: client,
        title: 'SYNs the client sent before the SYN-ACK',
        expect: { linux: [{ versions: '>=5.6', expect: rc.oow ? 3 : 2, because: rc.oow ? 'the first SYN gets nothing and is retransmitted after TCP_TIMEOUT_INIT; that one draws the challenge ACK and the RST, but icsk_retransmits is 1 now: no quick resend, the SYN after it waits for the retransmit timer' : QUICK_RESEND }] },
        observed: syns.length,
        packets: [...syns, ...rsts, synAck2],
      });
      const tol = timerTolerance(hz);
      const tick = jiffyMs(hz);
      if (!rc.oow && syns[1] && firstAnswer) {
        // Anchored on the challenge ACK as the client received it: what comes before is the round trip.
        // A 2-jiffy timer cannot fire before one tick has passed; how late the timer softirq runs on a
        // busy (or virtual) CPU is not the kernel's rule, so the upper bound only has to tell 2 jiffies
        // from the 1 s TCP_TIMEOUT_INIT a SYN would wait otherwise: 50 ms, a twentieth of it.
        const ms = +(Number(syns[1].tsNs - firstAnswer.tsNs) / 1e6).toFixed(3);
        ctx.check({
          id: 'resend',
          stack: client,
          title: 'the client resends its SYN TCP_TIMEOUT_MIN (2 jiffies) after the challenge ACK arrived (ms)',
          expect: { linux: [{ versions: '>=5.6', expect: { between: [tick, 50] }, because: `${QUICK_RESEND}; 2 jiffies = ${2 * tick} ms at HZ=${hz ?? '?'}` }, { versions: '<5.6', expect: { between: [1000 - tick, 1000 * (1 + tol.pct) + tol.absMs] }, because: 'before 5.6 the SYN waits for its retransmission timer, TCP_TIMEOUT_INIT' }] },
          observed: ms,
          packets: [firstAnswer, ...rsts, syns[1]],
          explain: `${ms} ms; at least one tick (${tick} ms): the timer is armed at jiffies + 2 within a running jiffy; at most 50 ms: far from the 1 s of TCP_TIMEOUT_INIT, whatever the timer softirq's latency on this CPU`,
        });
      }
      if (rc.oow) {
        for (let i = 1; i < syns.length; i++) {
          const gap = synGapMs(i, linear, client.version);
          ctx.checkTiming({
            id: `syn-gap-${i}`,
            stack: client,
            title: `the client's SYN ${i + 1} follows SYN ${i} after its retransmission timeout`,
            from: syns[i - 1]!,
            to: syns[i]!,
            expectMs: { linux: anyVersion(gap, `tcp_retransmit_timer() in SYN-SENT: TCP_TIMEOUT_INIT (1 s), ${linear > 0 ? `kept for the first tcp_syn_linear_timeouts=${linear} retransmissions (6.5+)` : 'doubled each time'}`) },
            tolerance: tol,
            explain: `tolerance max(${tol.absMs} ms, 12.5 %): the timer wheel fires a timer of T up to T/8 late (granularity of its level), plus two ticks at HZ=${hz ?? '?'}`,
          });
        }
      }
      if (rc.oow) {
        const total = synGapMs(1, linear, client.version) + synGapMs(2, linear, client.version);
        ctx.checkTiming({
          id: 'reconnect',
          stack: client,
          title: 'the reconnect: from the first reused SYN to the SYN-ACK',
          from: first,
          to: synAck2,
          expectMs: { linux: [{ versions: '>=5.6', expect: total, because: 'the two SYN retransmission timeouts: the first SYN was never answered, and the quick resend is only for a SYN not yet retransmitted' }] },
          tolerance: { absMs: 3 * tol.absMs, pct: tol.pct },
          explain: 'two timers of the client plus one round trip (the last SYN and its SYN-ACK)',
        });
      } else {
        const ms = Number(synAck2.tsNs - first.tsNs) / 1e6;
        ctx.check({
          id: 'reconnect',
          stack: client,
          title: 'the reconnect: from the first reused SYN to the SYN-ACK (ms)',
          expect: { linux: [{ versions: '>=5.6', expect: { atMost: 200 }, because: `${QUICK_RESEND}: two round trips and 2 jiffies; 200 ms leaves room for a slow guest, and is far below the 1 s of the SYN retransmission timer` }] },
          observed: +ms.toFixed(3),
          packets: [first, ...(firstAnswer ? [firstAnswer] : []), ...rsts, ...syns.slice(1), synAck2],
        });
      }
    },
  };
}

export const reconnectLab: Lab = {
  id: 'reconnect',
  title: 'reusing a 4-tuple whose server is in LAST-ACK: the fast RST+resend, and the slow path when the challenge ACK is rate-limited',
  summary:
    'A Linux client closed first, its last ACK was lost and tcp_tw_reuse hands it the same 4-tuple while the server still waits in LAST-ACK. ' +
    "Normally the server's challenge ACK draws the client's RST and the SYN is resent after 2 jiffies. If the server sent any out-of-window ACK " +
    'in the last tcp_invalid_ratelimit (500 ms), the challenge ACK is withheld (TcpExt.TCPACKSkippedChallenge) and the reconnect waits for the SYN retransmission timer: ' +
    'how long, and why?',
  rfcs: ['RFC 5961 §4 (challenge ACK)', 'RFC 9293 §3.10.7.3 (SYN-SENT)', 'Linux tcp_send_challenge_ack()', 'Linux tcp_oow_rate_limited()', 'Linux tcp_rcv_synsent_state_process()', 'Linux tcp_twsk_unique()'],
  sources: ['V. Bernat, Coping with the TCP TIME-WAIT state on busy Linux servers: the LAST-ACK case of tcp_tw_reuse'],
  roles: { all: ['client', 'server'], subject: 'server' },
  remote: 'link',
  cases: CASES.map(labCase),
};
