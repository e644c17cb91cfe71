// lab:timewait-syn: a new SYN on a 4-tuple whose server side is in TIME-WAIT. A ghost prober
// completes a crafted connection with a chosen ISN and timestamps, the server closes first, and the
// prober sends new SYNs with ISNs above, below and equal to the old sequence space, and with newer,
// older or no timestamps. What the server answers shows the stack's rule (Stevens' BSD rule, RFC 6191).
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { CraftedConn } from '../src/wire/crafted.js';
import { seqAdd, seqDiff } from '../src/wire/seq.js';
import { classifyReply, counting, packets, sockLine, socketOf, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { FIN_ACK, liveness } from '../src/lab/probes.js';
import { probeServer } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33000;
const ISN = 1_000_000;
const TSVAL = 500_000;
const ANSWER_WAIT_MS = 300;

interface SynCase {
  id: string;
  title: string;
  /** Did the old connection use timestamps? */
  oldTs: boolean;
  /** New ISN relative to the TIME-WAIT's rcv_nxt (the next sequence number it expects). */
  isnDelta: number;
  /** New TSval relative to the last TSval the TIME-WAIT saw; null: no timestamp option. */
  tsDelta: number | null;
  answer: Expectation;
}

const SEQ_RULE = 'tcp_timewait_state_process(): a SYN is accepted if its seq is after rcv_nxt, or if it has a newer timestamp; otherwise it is answered with an ACK';
const BSD_RULE = 'tcp_twcheck() (sys/netinet/tcp_timewait.c): a SYN is accepted only if SEQ_GT(seq, rcv_nxt); timestamps are not consulted';
const LWIP_RULE = 'tcp_timewait_input() (lwIP src/core/tcp_in.c): a SYN whose seq lies in [rcv_nxt, rcv_nxt + rcv_wnd] is an error answered with RST; any other SYN is acknowledged (ACK); timestamps play no part';
const GVISOR_RULE = 'handleTimeWaitSegment() (gVisor pkg/tcpip/transport/tcp/rcv.go): a SYN with seq after rcv_nxt goes to the listener as a new connection (RFC 1122 4.2.2.13, no PAWS); any other segment without ACK is dropped silently';
const SLIRP_RULE = 'tcp_input() (libslirp src/tcp_input.c, kept from 4.4BSD, Stevens vol. 2 pp. 958-960): a SYN before rcv_nxt loses its SYN bit and, without ACK, is dropped silently; a SYN inside the receive window (128 KiB buffer here) is an error: tcp_drop() resets the old TCB and the SYN gets an RST; only a SYN beyond the window with seq after rcv_nxt closes the TIME_WAIT and opens a new connection; timestamps are not parsed (tcp_dooptions() reads only MSS)';
const slirp = (expect: 'SYN-ACK' | 'RST' | 'nothing') => [{ versions: '*', expect, because: SLIRP_RULE }];
const gvisor = (expect: 'SYN-ACK' | 'nothing') => [{ versions: '*', expect, because: GVISOR_RULE }];
/** lwIP in TIME-WAIT never opens a new connection: RST inside the old window, ACK outside it (here ±100000 > 65535). */
const lwip = (expect: 'ACK' | 'RST') => [{ versions: '*', expect, because: LWIP_RULE }];

const cases: SynCase[] = [
  {
    id: 'isn-above', title: 'ISN above the old sequence space, no timestamps', oldTs: false, isnDelta: 100_000, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'SYN-ACK', because: SEQ_RULE }], freebsd: [{ versions: '*', expect: 'SYN-ACK', because: BSD_RULE }], gvisor: gvisor('SYN-ACK'), slirp: slirp('RST'), lwip: lwip('ACK') },
  },
  {
    id: 'isn-far-above', title: 'ISN far above the old sequence space (beyond any receive window), no timestamps', oldTs: false, isnDelta: 1_000_000, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'SYN-ACK', because: SEQ_RULE }], freebsd: [{ versions: '*', expect: 'SYN-ACK', because: BSD_RULE }], gvisor: gvisor('SYN-ACK'), slirp: slirp('SYN-ACK'), lwip: lwip('ACK') },
  },
  {
    id: 'isn-below', title: 'ISN below the old sequence space, no timestamps', oldTs: false, isnDelta: -100_000, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'ACK', because: SEQ_RULE }], freebsd: [{ versions: '*', expect: 'ACK', because: BSD_RULE }], gvisor: gvisor('nothing'), slirp: slirp('nothing'), lwip: lwip('ACK') },
  },
  {
    id: 'isn-equal', title: 'ISN equal to the next expected sequence number (rcv_nxt), no timestamps', oldTs: false, isnDelta: 0, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'ACK', because: `${SEQ_RULE} (after() is strict)` }], freebsd: [{ versions: '*', expect: 'ACK', because: BSD_RULE }], gvisor: gvisor('nothing'), slirp: slirp('RST'), lwip: lwip('RST') },
  },
  {
    id: 'ts-newer-isn-below', title: 'newer TSval with a lower ISN', oldTs: true, isnDelta: -100_000, tsDelta: 1000,
    answer: { linux: [{ versions: '*', expect: 'SYN-ACK', because: `${SEQ_RULE} (RFC 6191)` }], freebsd: [{ versions: '*', expect: 'ACK', because: BSD_RULE }], gvisor: gvisor('nothing'), slirp: slirp('nothing'), lwip: lwip('ACK') },
  },
  {
    id: 'ts-older-isn-above', title: 'older TSval with a higher ISN', oldTs: true, isnDelta: 100_000, tsDelta: -1000,
    answer: { linux: [{ versions: '*', expect: 'ACK', because: 'tcp_timewait_state_process(): PAWS rejects the older timestamp before the sequence rule is tried (RFC 7323 §5)' }], freebsd: [{ versions: '*', expect: 'SYN-ACK', because: BSD_RULE }], gvisor: gvisor('SYN-ACK'), slirp: slirp('RST'), lwip: lwip('ACK') },
  },
  {
    id: 'ts-none-isn-above', title: 'old connection with timestamps, new SYN without, higher ISN', oldTs: true, isnDelta: 100_000, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'SYN-ACK', because: `${SEQ_RULE}; PAWS needs a timestamp on the SYN` }], freebsd: [{ versions: '*', expect: 'SYN-ACK', because: BSD_RULE }], gvisor: gvisor('SYN-ACK'), slirp: slirp('RST'), lwip: lwip('ACK') },
  },
  {
    id: 'ts-none-isn-below', title: 'old connection with timestamps, new SYN without, lower ISN', oldTs: true, isnDelta: -100_000, tsDelta: null,
    answer: { linux: [{ versions: '*', expect: 'ACK', because: SEQ_RULE }], freebsd: [{ versions: '*', expect: 'ACK', because: BSD_RULE }], gvisor: gvisor('nothing'), slirp: slirp('nothing'), lwip: lwip('ACK') },
  },
];


function labCase(sc: SynCase): LabCase {
  return {
    id: sc.id,
    title: sc.title,
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const ghost = { addr: p.ghostAddr };
      const { sAddr, point } = p;
      ctx.setColumns([{ label: 'prober', addrs: [ghost.addr] }, { label: 'server', addrs: [sAddr] }]);
      const srv = await p.peer();
      const l = await srv.call('listen', { addr: sAddr, port: SERVER_PORT, reuseAddr: true });
      await ctx.step(`server listens on ${sAddr}:${SERVER_PORT}; the prober speaks from ghost address ${ghost.addr}`);

      const conn = new CraftedConn(p.wire, { src: ghost.addr, dst: sAddr, sport: PROBER_PORT, dport: SERVER_PORT, isn: ISN, ...(sc.oldTs ? { tsval: TSVAL } : {}) });
      await ctx.step(`prober opens a crafted connection: ISN ${ISN}, ${sc.oldTs ? `timestamps from TSval ${TSVAL}` : 'no timestamps'}`);
      const synAck = await conn.connect();
      const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
      await ctx.step('the server closes first; the prober acknowledges its FIN and sends its own');
      await srv.call('close', { sock: acc.sock });
      ctx.note('server', 'close(): the server closes first');
      await conn.expectFin();
      await conn.close();
      const oldSrvSndNxt = seqAdd(synAck.segment!.seq, 2); // SYN and FIN, no data
      const twRcvNxt = conn.sndNxt;
      const local = { addr: sAddr, port: SERVER_PORT };
      const remote = { addr: ghost.addr, port: PROBER_PORT };
      // Socket and counter checks only where the stack shows them (slirp and lwIP show neither); where it
      // has no socket table the stack is asked instead: a TIME-WAIT ACKs a retransmission of our FIN.
      const seesSockets = p.server.sockets !== undefined;
      const fromServer = (x: PacketRecord) => x.segment.src === sAddr && x.segment.sport === SERVER_PORT && x.segment.dport === PROBER_PORT;
      if (seesSockets) await waitSocket(p.server, local, remote, (s) => s?.state === 'TIME-WAIT', 1000);
      // The FIN probe carries the connection's next timestamp (if any), so it cannot trip PAWS.
      const tw = await liveness(ctx, p, conn, seqAdd(twRcvNxt, -1), local, remote, fromServer, 150);
      // The last TSval the TIME-WAIT has seen from us (the FIN probe's, where there was one).
      const lastTs = conn.tsval === undefined ? undefined : (conn.tsval - 1) >>> 0;
      ctx.check({
        id: 'server-time-wait',
        title: 'the server, which closed first, holds the 4-tuple in TIME-WAIT',
        expect: {
          linux: [{ versions: '*', expect: 'TIME-WAIT' }], freebsd: [{ versions: '*', expect: 'TIME-WAIT' }],
          gvisor: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }], slirp: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }], lwip: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }],
        },
        observed: tw.state,
        sockets: tw.sockets,
        packets: tw.packets,
      });

      const isn = seqAdd(twRcvNxt, sc.isnDelta);
      const ts = sc.tsDelta === null || lastTs === undefined ? null : { val: (lastTs + sc.tsDelta) >>> 0, ecr: 0 };
      const rel = sc.isnDelta === 0 ? 'equal to' : `${Math.abs(sc.isnDelta)} ${sc.isnDelta > 0 ? 'above' : 'below'}`;
      await ctx.step(`prober sends a new SYN on the same 4-tuple: ISN ${isn} (${rel} rcv_nxt ${twRcvNxt}), ${ts ? `TSval ${ts.val} (${sc.tsDelta! > 0 ? 'newer' : 'older'} than ${lastTs})` : 'no timestamp'}`);
      const { result: since, moved } = await counting(p.server, async () => {
        const t = conn.syn(isn, ts);
        await new Promise((r) => setTimeout(r, ANSWER_WAIT_MS));
        return t;
      });
      const newSyn = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.flags === 'S' && x.segment.src === ghost.addr)[0];
      const reply = packets(p.wire, point, (x) => x.tsNs >= since && fromServer(x))[0];
      const answer = classifyReply(reply);
      ctx.check({
        id: 'answer',
        title: 'what the server answers to the new SYN',
        expect: sc.answer,
        observed: answer,
        packets: [newSyn, reply].filter((x): x is PacketRecord => !!x),
        counters: tcpOnly(moved),
        explain: reply
          ? answer === 'ACK'
            ? `ACK ${reply.segment.ack} (the old connection's rcv_nxt ${twRcvNxt}): the TIME-WAIT kept the 4-tuple and restated where it is`
            : answer === 'SYN-ACK'
              ? `the TIME-WAIT gave way to a new connection; SYN-ACK ISN ${reply.segment.seq}`
              : undefined
          : `no answer within ${ANSWER_WAIT_MS} ms`,
      });
      if (reply && answer === 'SYN-ACK') {
        ctx.check({
          id: 'new-isn',
          title: "the SYN-ACK's ISN relative to the old connection's snd_nxt",
          expect: {
            linux: [
              { versions: '>=6.10', expect: 'snd_nxt + 65537', because: 'tcp_timewait_state_process(): isn = tw_snd_nxt + 65535 + 2, carried to tcp_conn_request() (fixed in 6.10: "tcp: fix ISN selection in TIMEWAIT -> SYN_RECV")' },
              { versions: '<6.10', expect: 'fresh ISN', because: 'the tw_snd_nxt-based ISN was lost on its way to tcp_conn_request() (TCP_SKB_CB tcp_tw_isn overwritten) until 6.10, so the SYN-ACK got a fresh secure ISN' },
            ],
            gvisor: [{ versions: '*', expect: 'fresh ISN' }],
            slirp: [{ versions: '*', expect: 'fresh ISN', because: 'tcp_input() computes iss = rcv_nxt + TCP_ISSINCR in the TIME_WAIT branch, but the new connection waits for slirp\'s outside connect(); when it completes, tcp_input() is re-entered with iss = 0 and takes slirp->tcp_iss' }],
          },
          // A derived ISN is old snd_nxt + 65537 (Linux) or, as written in slirp's 4.4BSD code, rcv_nxt + 128000.
          observed: seqDiff(reply.segment.seq, oldSrvSndNxt) === 65537 ? 'snd_nxt + 65537' : seqDiff(reply.segment.seq, twRcvNxt) === 128_000 ? 'rcv_nxt + 128000' : 'fresh ISN',
          explain: `the SYN-ACK's ISN is old snd_nxt ${seqDiff(reply.segment.seq, oldSrvSndNxt) >= 0 ? '+' : ''}${seqDiff(reply.segment.seq, oldSrvSndNxt)}`,
          packets: [reply],
        });
      }
      if (reply && answer === 'ACK') {
        ctx.check({
          id: 'ack-restates',
          title: "the ACK carries the TIME-WAIT's sequence numbers (snd_nxt, rcv_nxt)",
          expect: { linux: [{ versions: '*', expect: true }], lwip: [{ versions: '*', expect: true, because: 'tcp_timewait_input() answers with tcp_ack_now() from the TIME-WAIT pcb' }] },
          observed: reply.segment.seq === oldSrvSndNxt && reply.segment.ack === twRcvNxt,
          packets: [reply],
        });
      }
      const after = await socketOf(p.server, local, remote);
      if (seesSockets) ctx.check({
        id: 'time-wait-after',
        title: 'the server socket of the 4-tuple after the SYN',
        expect: answer === 'SYN-ACK'
          ? { linux: [{ versions: '*', expect: 'SYN-RECV', because: 'the TIME-WAIT was descheduled and the SYN went to the listener' }] }
          : { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'a rejected SYN leaves the TIME-WAIT in place' }] },
        observed: after?.state ?? 'gone',
        sockets: after ? [sockLine(after)] : ['(no socket for the 4-tuple)'],
      });
      if (sc.tsDelta !== null && sc.tsDelta < 0 && p.server.counters) {
        ctx.check({
          id: 'paws-counter',
          title: 'which counter records the PAWS rejection in TIME-WAIT',
          expect: {
            linux: [
              { versions: '>=6.16', expect: 'TcpExt.PAWSTimewait', because: 'tcp_timewait_state_process() counts LINUX_MIB_PAWS_TW_REJECTED (added in 6.16)' },
              { versions: '<6.16', expect: 'TcpExt.PAWSEstab', because: 'before 6.16 a PAWS rejection in TIME-WAIT was counted as LINUX_MIB_PAWSESTABREJECTED' },
            ],
            gvisor: [{ versions: '*', expect: 'none', because: "gVisor's netstack keeps no TcpExt PAWS counters" }],
          },
          observed: moved['TcpExt.PAWSTimewait'] ? 'TcpExt.PAWSTimewait' : moved['TcpExt.PAWSEstab'] ? 'TcpExt.PAWSEstab' : 'none',
          counters: tcpOnly(moved),
        });
      }
    },
  };
}

export const timewaitSynLab: Lab = {
  id: 'timewait-syn',
  title: "a new SYN on a 4-tuple in TIME-WAIT (Stevens' BSD rule, RFC 6191)",
  summary:
    'The server closed first and holds TIME-WAIT. A prober speaking from a ghost address sends a new SYN on the ' +
    'same 4-tuple, with an ISN above, below or equal to the old sequence space and with newer, older or no ' +
    'timestamps. Does the stack open a new connection, or answer with an ACK of the old one?',
  rfcs: ['RFC 1122 §4.2.2.13', 'RFC 6191', 'RFC 7323 §5 (PAWS)', 'Linux tcp_timewait_state_process()', 'FreeBSD tcp_twcheck()'],
  sources: ['W. R. Stevens, TCP/IP Illustrated vol. 2 (tcp_input: a SYN received in TIME_WAIT)', 'notes on TIME_WAIT under Linux, Windows and Solaris (the seeds)'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  cases: cases.map(labCase),
};
