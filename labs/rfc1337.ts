// lab:rfc1337: TIME-WAIT assassination. The server closes first and holds TIME-WAIT; a ghost prober
// sends RSTs on the 4-tuple at sequence numbers far off, just below, just above and exactly at the
// TIME-WAIT's rcv_nxt, with net.ipv4.tcp_rfc1337 = 0 and 1. The socket list after each RST shows whether
// the TIME-WAIT survived; a SYN with an old (lower) ISN afterwards shows why it matters. On stacks
// without a socket table (gVisor hides fd-less TIME-WAITs, slirp and lwIP have none) the prober asks the
// stack itself: it retransmits its FIN, which a TIME-WAIT acknowledges and a closed 4-tuple resets.
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { CraftedConn } from '../src/wire/crafted.js';
import { seqAdd } from '../src/wire/seq.js';
import { counting, packets, sockLineOr, socketOf, tcpOnly, waitSocket, classifyReply } from '../src/lab/evidence.js';
import { FIN_ACK, liveness } from '../src/lab/probes.js';
import { probeServer } from '../src/lab/fixtures.js';
import type { SocketEntry } from '../src/testbed/ss.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33100;
const ISN = 2_000_000;
const ANSWER_WAIT_MS = 150;

interface RstProbe {
  id: string;
  label: string;
  /** RST seq relative to the TIME-WAIT's rcv_nxt. */
  delta: number;
}

/** Off-window first, the exact one last: each later probe still finds the TIME-WAIT if the earlier ones spared it. */
const PROBES: readonly RstProbe[] = [
  { id: 'far', label: 'far off (rcv_nxt + 1,000,000)', delta: 1_000_000 },
  { id: 'minus1', label: 'rcv_nxt - 1', delta: -1 },
  { id: 'plus1', label: 'rcv_nxt + 1', delta: 1 },
  { id: 'exact', label: 'exactly rcv_nxt', delta: 0 },
];

const OOW = "tcp_timewait_state_process(): only a segment with seq == tw_rcv_nxt reaches the RST branch; any other RST falls through to the end and is dropped silently (no ACK: the ACK path is for non-RST segments)";
const KILL = 'tcp_timewait_state_process(): an RST with seq == tw_rcv_nxt and net.ipv4.tcp_rfc1337=0 goes to kill: inet_twsk_deschedule_put() removes the TIME-WAIT at once (RFC 1337 hazard H1..H3)';
const KEEP = 'tcp_timewait_state_process(): with net.ipv4.tcp_rfc1337=1 an in-window RST is ignored (RFC 1337 §3 fix: "ignore RST segments in TIME-WAIT state"); the timer is not re-armed';

const GVISOR_RST = "handleTimeWaitSegment() (gVisor pkg/tcpip/transport/tcp/rcv.go): every RST in TIME_WAIT is dropped silently (RFC 1337 fix 1; no knob)";
const LWIP_RST = 'tcp_timewait_input() (lwIP src/core/tcp_in.c): an RST in TIME_WAIT is ignored (RFC 1337); no knob';
const SLIRP_OOW = 'tcp_input() (libslirp, 4.4BSD): a segment beyond the receive window goes to dropafterack, which drops an RST without answering';
const SLIRP_KILL = 'tcp_input() (libslirp, 4.4BSD before RFC 5961): the RST is only trimmed against the window, never required to be exact, and any RST that reaches the state switch closes a TIME_WAIT (tcp_close()): rcv_nxt - 1, rcv_nxt and rcv_nxt + 1 all kill it; no knob';

function survival(rfc1337: 0 | 1, probe: RstProbe): Expectation {
  const others = {
    gvisor: [{ versions: '*', expect: 'TIME-WAIT', because: GVISOR_RST }],
    lwip: [{ versions: '*', expect: 'TIME-WAIT', because: LWIP_RST }],
    slirp: [probe.id === 'far' ? { versions: '*', expect: 'TIME-WAIT', because: SLIRP_OOW } : { versions: '*', expect: 'gone', because: SLIRP_KILL }],
  };
  if (probe.delta !== 0) return { linux: [{ versions: '*', expect: 'TIME-WAIT', because: OOW }], freebsd: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_twcheck(): RSTs out of window are dropped' }], ...others };
  return rfc1337 === 0
    ? { linux: [{ versions: '*', expect: 'gone', because: KILL }], freebsd: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_twcheck(): FreeBSD ignores every RST in TIME-WAIT (RFC 1337) without a knob' }], ...others }
    : { linux: [{ versions: '*', expect: 'TIME-WAIT', because: KEEP }], freebsd: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_twcheck(): RSTs are dropped in TIME-WAIT' }], ...others };
}


function labCase(rfc1337: 0 | 1): LabCase {
  return {
    id: `rfc1337-${rfc1337}`,
    title: `net.ipv4.tcp_rfc1337=${rfc1337}: RSTs at four sequence numbers against the server's TIME-WAIT`,
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_rfc1337': rfc1337, 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const ghost = { addr: p.ghostAddr };
      const { sAddr, point } = p;
      ctx.setColumns([{ label: 'prober', addrs: [ghost.addr] }, { label: 'server', addrs: [sAddr] }]);
      const srv = await p.peer();
      const l = await srv.call('listen', { addr: sAddr, port: SERVER_PORT, reuseAddr: true });
      await ctx.step(`server listens on ${sAddr}:${SERVER_PORT}; the prober speaks from ghost address ${ghost.addr} (no timestamps)`);

      const conn = new CraftedConn(p.wire, { src: ghost.addr, dst: sAddr, sport: PROBER_PORT, dport: SERVER_PORT, isn: ISN });
      await conn.connect();
      const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
      await ctx.step('the server closes first; the prober acknowledges its FIN and sends its own: the server is in TIME-WAIT');
      await srv.call('close', { sock: acc.sock });
      ctx.note('server', 'close(): the server closes first');
      await conn.expectFin();
      await conn.close();
      const rcvNxt = conn.sndNxt;
      const local = { addr: sAddr, port: SERVER_PORT };
      const remote = { addr: ghost.addr, port: PROBER_PORT };
      const fromServer = (x: PacketRecord) => x.segment.src === sAddr && x.segment.sport === SERVER_PORT && x.segment.dport === PROBER_PORT;
      const finSeq = seqAdd(rcvNxt, -1);
      // The socket table, where there is one, is polled until the state shows; elsewhere the stack is asked.
      let tw: SocketEntry | undefined;
      if (p.server.sockets) tw = await waitSocket(p.server, local, remote, (s) => s?.state === 'TIME-WAIT');
      const first = p.server.sockets
        ? { state: tw?.state ?? 'gone', sockets: [sockLineOr(tw)], packets: [] as PacketRecord[] }
        : await liveness(ctx, p, conn, finSeq, local, remote, fromServer, ANSWER_WAIT_MS);
      ctx.check({
        id: 'time-wait',
        title: 'the server, which closed first, holds the 4-tuple in TIME-WAIT',
        expect: {
          linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_time_wait() after the FIN exchange (RFC 9293 §3.6)' }],
          freebsd: [{ versions: '*', expect: 'TIME-WAIT' }],
          gvisor: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }],
          slirp: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }],
          lwip: [{ versions: '*', expect: 'TIME-WAIT', because: FIN_ACK }],
        },
        observed: first.state,
        sockets: first.sockets,
        packets: first.packets,
      });

      let alive = first.state === 'TIME-WAIT';
      for (const probe of PROBES) {
        if (!alive) break;
        const seq = seqAdd(rcvNxt, probe.delta);
        await ctx.step(`prober sends an RST with seq ${seq}: ${probe.label} (the TIME-WAIT's rcv_nxt is ${rcvNxt})`);
        const { result: since, moved } = await counting(p.server, async () => {
          const t = conn.send('R', { seq, options: [] });
          await ctx.sleep(ANSWER_WAIT_MS);
          return t;
        });
        const rst = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.flags.includes('R') && x.segment.src === ghost.addr)[0];
        // Answers to the RST itself: those before the liveness probe (if any) is sent.
        const replies = packets(p.wire, point, (x) => x.tsNs >= since && fromServer(x));
        const after = await liveness(ctx, p, conn, finSeq, local, remote, fromServer, ANSWER_WAIT_MS);
        alive = after.state === 'TIME-WAIT';
        ctx.check({
          id: `rst-${probe.id}`,
          title: `the server's socket after an RST at ${probe.label}`,
          expect: survival(rfc1337, probe),
          observed: after.state,
          packets: [rst, ...replies, ...after.packets].filter((x): x is PacketRecord => !!x),
          sockets: after.sockets,
          counters: tcpOnly(moved),
          explain: after.state === 'TIME-WAIT'
            ? `the TIME-WAIT survived (${after.sockets[0]})`
            : after.state === 'gone' ? 'the TIME-WAIT was assassinated: the 4-tuple is free before 2*MSL' : undefined,
        });
        ctx.check({
          id: `rst-${probe.id}-silent`,
          title: `what the TIME-WAIT sends back to the RST at ${probe.label}`,
          expect: {
            linux: [{ versions: '*', expect: 'nothing', because: 'an RST is never answered (RFC 9293 §3.10.7.4); tcp_timewait_state_process() returns TCP_TW_SUCCESS for every RST' }],
            ...Object.fromEntries(['freebsd', 'gvisor', 'slirp', 'lwip'].map((k) => [k, [{ versions: '*', expect: 'nothing', because: 'an RST is never answered (RFC 9293 §3.10.7.4)' }]])),
          },
          observed: classifyReply(replies[0]),
          packets: [rst, ...replies].filter((x): x is PacketRecord => !!x),
        });
      }

      // Why it matters: a SYN whose ISN lies inside the old sequence space. A live TIME-WAIT refuses it;
      // after an assassination the listener accepts it, and the old connection's wandering segments
      // could land in the new one.
      const isn = seqAdd(rcvNxt, -100_000);
      await ctx.step(`why it matters: the prober sends a SYN with ISN ${isn}, 100000 below the old rcv_nxt (an old incarnation's sequence space)`);
      const since = conn.syn(isn, null);
      await ctx.sleep(ANSWER_WAIT_MS);
      const syn = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.flags === 'S')[0];
      const reply = packets(p.wire, point, (x) => x.tsNs >= since && fromServer(x))[0];
      const final = await socketOf(p.server, local, remote);
      ctx.check({
        id: 'old-isn-syn',
        title: 'the answer to a SYN whose ISN lies in the old sequence space',
        expect: {
          linux: rfc1337 === 0
            ? [{ versions: '*', expect: 'SYN-ACK', because: 'with the TIME-WAIT gone the SYN reaches the listener (tcp_v4_rcv -> tcp_conn_request): nothing remembers the old sequence space' }]
            : [{ versions: '*', expect: 'ACK', because: 'tcp_timewait_state_process(): the surviving TIME-WAIT answers a SYN with seq before rcv_nxt (and no newer timestamp) with an ACK' }],
          freebsd: [{ versions: '*', expect: 'ACK', because: 'tcp_twcheck(): the TIME-WAIT survived every RST; a SYN not above rcv_nxt is acknowledged' }],
          gvisor: [{ versions: '*', expect: 'nothing', because: 'the TIME-WAIT survived; handleTimeWaitSegment() drops a SYN not after rcv_nxt silently' }],
          lwip: [{ versions: '*', expect: 'ACK', because: 'the TIME-WAIT survived; tcp_timewait_input() acknowledges a SYN outside its window' }],
          slirp: [{ versions: '*', expect: 'SYN-ACK', because: 'the RST at rcv_nxt - 1 already closed the TIME_WAIT, so the SYN finds no TCB and slirp opens a new connection' }],
        },
        observed: classifyReply(reply),
        packets: [syn, reply].filter((x): x is PacketRecord => !!x),
        sockets: [sockLineOr(final)],
        explain: classifyReply(reply) === 'SYN-ACK'
          ? 'a new incarnation is opened with sequence numbers overlapping the old one: an old duplicate could now be accepted as new data (see lab duplicate)'
          : 'the TIME-WAIT still guards the 4-tuple and restates the old connection',
      });
      conn.send('R', { seq: seqAdd(isn, 1), options: [] });
    },
  };
}

export const rfc1337Lab: Lab = {
  id: 'rfc1337',
  title: 'TIME-WAIT assassination (RFC 1337): an RST against a TIME-WAIT',
  summary:
    'The server closed first and holds TIME-WAIT. An RST arrives for the 4-tuple, at sequence numbers far off, ' +
    'one below, one above and exactly at the next expected one, with net.ipv4.tcp_rfc1337 off and on. Does the ' +
    'TIME-WAIT survive, and what does it matter when a SYN from the old sequence space follows?',
  rfcs: ['RFC 1337 (TIME-WAIT assassination hazards)', 'RFC 9293 §3.10.7.4', 'Linux tcp_timewait_state_process()', 'Linux inet_twsk_deschedule_put()'],
  sources: ['RFC 1337', 'tcp(7): tcp_rfc1337', 'notes on TIME_WAIT under Linux, Windows and Solaris (the seeds)'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  cases: [labCase(0), labCase(1)],
};
