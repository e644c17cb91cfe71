// lab:lastack: why TIME-WAIT exists, its second purpose (RFC 9293 §3.6.1, Stevens §18.6): to answer the
// peer's retransmitted FIN when the last ACK was lost. The client closes first; nftables drops its last
// ACK, so the server stays in LAST-ACK and retransmits its FIN. With a TIME-WAIT the FIN is ACKed again
// and the server closes cleanly; when the TIME-WAIT is gone (tcp_max_tw_buckets exhausted, or an RST
// accepted with tcp_rfc1337=0) the FIN meets an RST and the server's application gets ECONNRESET.
import { monoMs } from '../src/lab/clock.js';
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { changed, delta } from '../src/testbed/counters.js';
import { seqAdd } from '../src/wire/seq.js';
import { counting, packets, sockLineOr, socketOf, tcpOnly, waitSocket, classifyReply } from '../src/lab/evidence.js';
import { type Sysctls, connectedPair } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
/** Long enough for the server's first FIN retransmission (RTO >= 200 ms, timers up to 12.5% late). */
const RETRANSMIT_WAIT_MS = 3000;

type Kill = 'none' | 'linger' | 'buckets' | 'rst';

interface LastAckCase {
  id: string;
  title: string;
  kill: Kill;
  client: Sysctls;
  /** The client's socket for the 4-tuple once its last ACK is lost (and the kill step is done). */
  clientState: Expectation;
  /** What the client sends back to the server's retransmitted FIN. */
  answer: Expectation;
  /** What the server application's next send() returns once the connection is over. */
  appSees: Expectation;
}

const REACK = 'tcp_timewait_state_process(): a retransmitted FIN (seq + 1 == tw_rcv_nxt) in TIME-WAIT is answered with an ACK (TCP_TW_ACK) and the timer restarts (RFC 9293 §3.10.7.4, TIME-WAIT: "acknowledge it, and restart the 2 MSL timeout")';
const NO_SOCKET = 'no socket matches the 4-tuple, so tcp_v4_rcv() -> tcp_v4_send_reset() answers the FIN with an RST (RFC 9293 §3.10.7.1, CLOSED)';
const EPIPE = 'tcp_sendmsg_locked() after shutdown(SHUT_WR): sk_stream_error() returns -EPIPE when sk_err is not set (a clean close)';
const ECONNRESET = 'tcp_reset() in LAST-ACK sets sk_err = ECONNRESET; tcp_sendmsg_locked() -> sk_stream_error() reports sock_error() in place of EPIPE';

const CASES: readonly LastAckCase[] = [
  {
    id: 'normal', title: "the client's TIME-WAIT answers the retransmitted FIN", kill: 'none', client: {},
    clientState: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_rcv_state_process(): FIN in FIN-WAIT-2 -> tcp_time_wait(TCP_TIME_WAIT)' }] },
    answer: { linux: [{ versions: '*', expect: 'ACK', because: REACK }], freebsd: [{ versions: '*', expect: 'ACK', because: 'tcp_twcheck(): a retransmitted FIN is ACKed and the 2MSL timer restarted' }] },
    appSees: { linux: [{ versions: '*', expect: 'EPIPE', because: EPIPE }] },
  },
  {
    id: 'linger-too-late', title: 'SO_LINGER {on, 0} after the TIME-WAIT formed does not kill it', kill: 'linger', client: {},
    clientState: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_time_wait() already moved the 4-tuple to an inet_timewait_sock and put the socket in CLOSE; tcp_close() of a CLOSE socket sends nothing (tcp_need_reset() is false) and cannot reach the TIME-WAIT' }] },
    answer: { linux: [{ versions: '*', expect: 'ACK', because: REACK }] },
    appSees: { linux: [{ versions: '*', expect: 'EPIPE', because: EPIPE }] },
  },
  {
    id: 'max-tw-buckets', title: 'net.ipv4.tcp_max_tw_buckets=0: no TIME-WAIT at all', kill: 'buckets', client: { 'net.ipv4.tcp_max_tw_buckets': 0 },
    clientState: { linux: [{ versions: '*', expect: 'gone', because: 'tcp_time_wait(): inet_twsk_alloc() refuses when tw_count >= sysctl_max_tw_buckets, counts TCPTimeWaitOverflow and the socket is simply closed (tcp_done)' }] },
    answer: { linux: [{ versions: '*', expect: 'RST', because: NO_SOCKET }] },
    appSees: { linux: [{ versions: '*', expect: 'ECONNRESET', because: ECONNRESET }] },
  },
  {
    id: 'rfc1337-rst', title: 'tcp_rfc1337=0 and an RST: the TIME-WAIT is assassinated before the FIN comes back', kill: 'rst', client: { 'net.ipv4.tcp_rfc1337': 0 },
    clientState: { linux: [{ versions: '*', expect: 'gone', because: 'tcp_timewait_state_process(): an RST with seq == tw_rcv_nxt kills the TIME-WAIT when tcp_rfc1337=0 (see lab rfc1337)' }] },
    answer: { linux: [{ versions: '*', expect: 'RST', because: NO_SOCKET }] },
    appSees: { linux: [{ versions: '*', expect: 'ECONNRESET', because: ECONNRESET }] },
  },
];


function labCase(lc: LastAckCase): LabCase {
  return {
    id: lc.id,
    title: lc.title,
    // The injected RST is crafted on this machine's end of the link, so it reaches only a client on the target.
    ...(lc.kill === 'rst' ? { localOnly: (subject: string) => (subject === 'client' ? undefined : "the stray RST toward the client is crafted on this machine's end of the target's link, so it can only reach a client on the target (--subject client)") } : {}),
    async run(ctx: CaseContext) {
      const c = await connectedPair(ctx, { client: { 'net.ipv4.tcp_timestamps': 1, ...lc.client } }, SERVER_PORT);
      const { p, cli, srv, point, local, remote, fromServer, fromClient } = c;
      const con = { sock: c.csock };
      const acc = { sock: c.ssock };
      const cport = local.port;
      await ctx.step(`client ${p.aAddr}:${cport} connects to ${p.bAddr}:${SERVER_PORT}`);

      const synAck = packets(p.wire, point, (x) => fromServer(x) && x.segment.flags === 'S.')[0];
      if (!synAck) throw new Error('no SYN-ACK from the server was captured');
      const ackOfFin = seqAdd(synAck.segment.seq, 2); // the server sends no data: its FIN is ISN + 1
      const drop = await p.impair(p.a, { dir: 'out', match: { tcpFlags: 'ack-only', sport: cport, dport: SERVER_PORT, ackSeq: ackOfFin } });
      ctx.note('client', `nftables drops the client's pure ACK of the server's FIN (ack ${ackOfFin}), once`);

      await ctx.step('the client closes first (shutdown SHUT_WR: FIN); the server reads EOF and closes its side too (shutdown SHUT_WR, keeping the socket to see what happens)');
      const cliBefore = await p.a.counters();
      await cli.call('shutdown', { sock: con.sock, how: 'wr' });
      const eof = await srv.call('recv', { sock: acc.sock, timeoutMs: 2000 });
      if (!eof.eof) throw new Error('server: expected EOF after the client closed');
      await srv.call('shutdown', { sock: acc.sock, how: 'wr' });
      ctx.note('server', 'recv() = EOF; shutdown(SHUT_WR): FIN, LAST-ACK');
      // Read LAST-ACK while the drop rule still holds the ACK back: once it is gone, the FIN's
      // retransmission (~200 ms) may be re-ACKed before a busy machine gets to look.
      const laDuring = await waitSocket(p.b, remote, local, (x) => x?.state === 'LAST-ACK');
      for (let i = 0; i < 100 && (await drop.dropped()) < 1; i++) await ctx.sleep(10);
      const dropped = await drop.dropped();
      await drop.dispose();
      ctx.note('client', `the last ACK was dropped (${dropped}); later ACKs pass`);

      {
        if (lc.kill === 'linger') {
          await cli.call('closeLinger', { sock: con.sock, secs: 0 });
          ctx.note('client', 'setsockopt(SO_LINGER {1, 0}); close()');
        } else {
          await cli.call('close', { sock: con.sock });
          ctx.note('client', 'close()');
        }
        if (lc.kill === 'rst') {
          const fin = packets(p.wire, point, (x) => fromServer(x) && x.segment.flags.includes('F'))[0];
          if (!fin) throw new Error("the server's FIN was not captured");
          const seq = seqAdd(fin.segment.seq, 1);
          if (p.sendsReach !== p.a) throw new Error('the stray RST must reach the client, but crafted sends on this link reach the other host');
          p.wire.send({ src: p.bAddr, dst: p.aAddr, sport: SERVER_PORT, dport: cport, seq, ack: 0, flags: 'R', window: 0 });
          ctx.note(undefined, `a stray RST (seq ${seq}, the TIME-WAIT's rcv_nxt) is injected toward the client`);
        }
        await ctx.sleep(20);
      }
      const cliMoved = changed(delta(cliBefore, await p.a.counters()));
      const cs = await socketOf(p.a, local, remote);
      const la = await socketOf(p.b, remote, local);
      ctx.check({
        id: 'client-state',
        stack: p.stackOf(p.a),
        title: "the client's socket for the 4-tuple while the server is in LAST-ACK",
        expect: lc.clientState,
        observed: cs?.state ?? 'gone',
        sockets: [sockLineOr(cs, 'client'), sockLineOr(la, 'server')],
        counters: tcpOnly(cliMoved),
      });
      ctx.check({
        id: 'server-last-ack',
        stack: p.stackOf(p.b),
        title: 'the server, whose FIN was never acknowledged, is in LAST-ACK',
        expect: { linux: [{ versions: '*', expect: 'LAST-ACK', because: 'tcp_rcv_state_process(): CLOSE-WAIT + shutdown(SHUT_WR) -> LAST-ACK until the FIN is acknowledged' }] },
        observed: laDuring?.state ?? 'gone',
        sockets: [sockLineOr(laDuring, 'server')],
        packets: packets(p.wire, point, (x) => x.segment.flags.includes('F')),
      });
      if (lc.kill === 'linger') {
        const rsts = packets(p.wire, point, (x) => fromClient(x) && x.segment.flags.includes('R'));
        ctx.check({
          id: 'linger-sends-nothing',
          stack: p.stackOf(p.a),
          title: 'close() with SO_LINGER {1, 0} on the client sends no RST: the connection is already over',
          expect: { linux: [{ versions: '*', expect: 0, because: 'tcp_close(): the socket is in CLOSE after tcp_time_wait(); tcp_disconnect() sends an RST only when tcp_need_reset(state)' }] },
          observed: rsts.length,
          packets: rsts.length ? rsts : packets(p.wire, point, (x) => fromClient(x)).slice(-1),
          counters: tcpOnly(cliMoved),
        });
      }
      if (lc.kill === 'buckets') {
        ctx.check({
          id: 'tw-overflow',
          stack: p.stackOf(p.a),
          title: 'the refused TIME-WAIT is counted (TcpExt.TCPTimeWaitOverflow)',
          expect: { linux: [{ versions: '*', expect: 1, because: 'tcp_time_wait(): NET_INC_STATS(LINUX_MIB_TCPTIMEWAITOVERFLOW) when inet_twsk_alloc() fails' }] },
          observed: cliMoved['TcpExt.TCPTimeWaitOverflow'] ?? 0,
          counters: tcpOnly(cliMoved),
        });
      }

      await ctx.step("the server's retransmission timer fires: it sends its FIN again");
      const { result: retrans, moved: srvMoved } = await counting(p.b, async () => {
        const end = monoMs() + RETRANSMIT_WAIT_MS;
        for (;;) {
          const fins = packets(p.wire, point, (x) => fromServer(x) && x.segment.flags.includes('F'));
          if (fins.length >= 2 || monoMs() > end) {
            await ctx.sleep(50);
            return fins[1];
          }
          await ctx.sleep(20);
        }
      });
      const answer = retrans ? packets(p.wire, point, (x) => x.tsNs > retrans.tsNs && fromClient(x))[0] : undefined;
      ctx.check({
        id: 'answer',
        stack: p.stackOf(p.a),
        title: "the client's answer to the retransmitted FIN",
        expect: lc.answer,
        observed: retrans ? classifyReply(answer) : 'no FIN retransmission',
        packets: [retrans, answer].filter((x): x is PacketRecord => !!x),
        counters: tcpOnly(srvMoved),
      });
      const after = await waitSocket(p.b, remote, local, (x) => x === undefined, 500);
      ctx.check({
        id: 'server-after',
        stack: p.stackOf(p.b),
        title: "the server's socket once the retransmitted FIN is answered",
        expect: { linux: [{ versions: '*', expect: 'gone', because: classifyReply(answer) === 'RST' ? 'tcp_reset(): LAST-ACK + RST -> tcp_done()' : 'tcp_rcv_state_process(): LAST-ACK + the ACK of our FIN -> tcp_done()' }] },
        observed: after?.state ?? 'gone',
        sockets: [sockLineOr(after, 'server')],
        packets: answer ? [answer] : [],
      });
      const r = await srv.try('send', { sock: acc.sock, data: 'x', timeoutMs: 500 });
      ctx.note('server', `send() -> ${r.ok ? 'ok' : r.code}`);
      ctx.check({
        id: 'app-sees',
        stack: p.stackOf(p.b),
        title: "what the server application's next call (send) returns",
        expect: lc.appSees,
        observed: r.ok ? 'ok' : r.code,
        packets: answer ? [answer] : [],
        explain: r.ok ? undefined : r.code === 'ECONNRESET'
          ? 'the application learns that its connection was reset although both sides had closed cleanly: the lost ACK became an error'
          : 'EPIPE only says the application itself shut the sending side down: the close was clean',
      });
      await srv.call('close', { sock: acc.sock });
    },
  };
}

export const lastackLab: Lab = {
  roles: { all: ['client', 'server'], subject: 'server', choices: ['server', 'client'] },
  remote: 'link',
  id: 'lastack',
  title: "why TIME-WAIT exists (2): re-acknowledging the peer's retransmitted FIN",
  summary:
    "The client closes first and its last ACK is lost, so the server stays in LAST-ACK and retransmits its FIN. " +
    'A TIME-WAIT acknowledges it again and the server closes cleanly. Without the TIME-WAIT (tcp_max_tw_buckets ' +
    'exhausted, or assassinated by an RST with tcp_rfc1337=0) the FIN meets an RST and the server application ' +
    'sees ECONNRESET. SO_LINGER 0 applied after the TIME-WAIT formed cannot remove it.',
  rfcs: ['RFC 9293 §3.6.1 (TIME-WAIT: "to allow the remote TCP to receive the acknowledgment of its connection termination request")', 'RFC 9293 §3.10.7.4', 'Linux tcp_timewait_state_process()', 'Linux tcp_time_wait()', 'Linux tcp_reset()'],
  sources: ['W. R. Stevens, TCP/IP Illustrated vol. 1 §18.6 (2MSL wait state)', 'V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  cases: CASES.map(labCase),
};
