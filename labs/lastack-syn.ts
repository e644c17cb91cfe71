// lab:lastack-syn: a new SYN meets a server stuck in LAST-ACK. This is the tcp_tw_reuse story seen from
// the server: the client closed first, its last ACK was lost, and it reuses the 4-tuple at once (Linux's
// tcp_twsk_unique() starts the new connection at the old snd_nxt + 65537). A ghost prober plays that
// client: it closes first, withholds the ACK of the server's FIN, sends the new SYN, and then does what
// a client in SYN-SENT does with the answer (RFC 9293 §3.10.7.3): an ACK that does not acknowledge the
// SYN gets an RST at SEG.ACK and the SYN is sent again; an RST that acknowledges the SYN refuses the
// connection (ECONNREFUSED). Runs on any stack (probeServer()).
import { anyVersion } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { seqAdd } from '../src/wire/seq.js';
import { classifyReply, counting, packets, sockLineOr, socketOf, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { connectCrafted } from '../src/lab/probes.js';
import { probeServer } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33200;
const ISN = 3_000_000;
/** How long to wait for an answer (a slow TCG guest included); FIN retransmissions are told apart by their flag. */
const ANSWER_WAIT_MS = 300;

const CHALLENGE = {
  linux: 'tcp_validate_incoming(): a SYN on a synchronized socket (LAST-ACK included) is answered with a challenge ACK (RFC 5961 §4, tcp_send_challenge_ack(), TcpExt.TCPSYNChallenge)',
  freebsd: 'tcp_input(): a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4) unless net.inet.tcp.insecure_syn=1',
  gvisor: 'handleRcvdSegment() (gVisor pkg/tcpip/transport/tcp/rcv.go): a SYN on a connected endpoint is answered with a challenge ACK (RFC 5961 §4)',
  lwip: 'tcp_process() (lwIP src/core/tcp_in.c): "cope with new connection attempt after remote end crashed": a SYN outside SYN_SENT/SYN_RCVD is answered with tcp_ack_now()',
  slirp: "tcp_input() (libslirp, 4.4BSD): the SYN lies inside the receive window, which is an error: tcp_drop() resets the TCB (RST at its own seq) and the SYN gets an RST|ACK; slirp's LAST_ACK knows no RFC 5961",
};


function labCase(): LabCase {
  return {
    id: 'reuse-syn',
    title: "the client closed first, its last ACK was lost, and it reuses the 4-tuple at once (ISN old snd_nxt + 65537)",
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const { sAddr, point } = p;
      const ghost = p.ghostAddr;
      const { srv, sock, conn } = await connectCrafted(ctx, p, { port: SERVER_PORT, sport: PROBER_PORT, isn: ISN });
      await ctx.step('the client closes first (FIN); the server acknowledges it and is in CLOSE-WAIT');
      await conn.close();
      const fromServer = (x: PacketRecord) => x.segment.src === sAddr && x.segment.sport === SERVER_PORT && x.segment.dport === PROBER_PORT;
      const finSince = p.wire.now();
      await srv.call('close', { sock: sock });
      ctx.note('server', 'close(): the server closes too and sends its FIN');
      await p.wire.expect({ src: sAddr, sport: SERVER_PORT, dport: PROBER_PORT, flags: { set: 'F' } }, { within: 2000, since: finSince });
      await ctx.step("the client's ACK of that FIN is lost (the prober never sends it): the server waits in LAST-ACK");
      const local = { addr: sAddr, port: SERVER_PORT };
      const remote = { addr: ghost, port: PROBER_PORT };
      if (p.server.sockets) {
        const la = await waitSocket(p.server, local, remote, (s) => s?.state === 'LAST-ACK', 500);
        ctx.check({
          id: 'last-ack',
          title: 'the server waits for the ACK of its FIN in LAST-ACK',
          expect: { linux: anyVersion('LAST-ACK', 'tcp_close() from CLOSE-WAIT sends the FIN and moves to LAST-ACK (RFC 9293 §3.6)'), freebsd: anyVersion('LAST-ACK', 'tcp_usrclosed()') },
          observed: la?.state ?? 'gone',
          sockets: [sockLineOr(la)],
        });
      }

      const isn = seqAdd(conn.sndNxt, 65537);
      await ctx.step(`the client reuses the 4-tuple: SYN with ISN ${isn} (old snd_nxt ${conn.sndNxt} + 65537, as Linux's tcp_twsk_unique() sets it)`);
      const { result: since, moved } = await counting(p.server, async () => {
        const t = conn.syn(isn, null);
        await ctx.sleep(ANSWER_WAIT_MS);
        return t;
      });
      const syn = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.flags === 'S' && x.segment.src === ghost)[0];
      // The server retransmits its FIN from LAST-ACK meanwhile (RTO >= 200 ms): that is not an answer to the SYN.
      const replies = packets(p.wire, point, (x) => x.tsNs >= since && fromServer(x) && !x.segment.flags.includes('F'));
      const reply = replies[0];
      const answer = classifyReply(reply);
      ctx.check({
        id: 'answer',
        title: 'what the server in LAST-ACK answers to the new SYN',
        expect: {
          linux: anyVersion('ACK', CHALLENGE.linux), freebsd: anyVersion('ACK', CHALLENGE.freebsd), gvisor: anyVersion('ACK', CHALLENGE.gvisor),
          lwip: anyVersion('ACK', CHALLENGE.lwip), slirp: anyVersion('RST', CHALLENGE.slirp),
        },
        observed: answer,
        packets: [syn, ...replies].filter((x): x is PacketRecord => !!x),
        counters: tcpOnly(moved),
        explain: reply
          ? answer === 'ACK'
            ? `ACK ${reply.segment.ack} (the old connection's rcv_nxt ${conn.sndNxt}), seq ${reply.segment.seq}: the LAST-ACK restates where it is instead of accepting the SYN`
            : undefined
          : `no answer within ${ANSWER_WAIT_MS} ms`,
      });

      // The client's side of it: RFC 9293 §3.10.7.3, SYN-SENT.
      const refusing = replies.find((x) => x.segment.flags.includes('R') && x.segment.flags.includes('.') && x.segment.ack === seqAdd(isn, 1));
      let outcome: string;
      const evidence: PacketRecord[] = [syn, ...replies].filter((x): x is PacketRecord => !!x);
      let afterRst: string | undefined;
      let afterRstLine: string | undefined;
      if (refusing) {
        outcome = 'refused (ECONNREFUSED)';
        await ctx.step('the answer is an RST that acknowledges the SYN: a client in SYN-SENT gives up, connect() fails with ECONNREFUSED');
      } else if (reply && answer === 'ACK') {
        await ctx.step(`the ACK does not acknowledge the SYN: the client answers with an RST at SEG.ACK (seq ${reply.segment.ack}) and sends its SYN again`);
        const rstSince = conn.send('R', { seq: reply.segment.ack, options: [] });
        await ctx.sleep(30);
        if (p.server.sockets) {
          const s = await socketOf(p.server, local, remote);
          afterRst = s?.state ?? 'gone';
          afterRstLine = sockLineOr(s);
        }
        const again = conn.syn(isn, null);
        await ctx.sleep(ANSWER_WAIT_MS);
        const rst = packets(p.wire, point, (x) => x.tsNs >= rstSince && x.segment.flags === 'R' && x.segment.src === ghost)[0];
        const resent = packets(p.wire, point, (x) => x.tsNs >= again && x.segment.flags === 'S' && x.segment.src === ghost)[0];
        const second = packets(p.wire, point, (x) => x.tsNs >= again && fromServer(x) && !x.segment.flags.includes('F'))[0];
        evidence.push(...[rst, resent, second].filter((x): x is PacketRecord => !!x));
        outcome = classifyReply(second) === 'SYN-ACK' ? 'connected after RST + SYN again' : `still not connected (${classifyReply(second)} to the second SYN)`;
        if (classifyReply(second) === 'SYN-ACK') conn.send('R', { seq: seqAdd(isn, 1), options: [] });
      } else {
        outcome = `no progress (${answer}): the client retransmits its SYN after its RTO`;
      }
      if (afterRst !== undefined) {
        ctx.check({
          id: 'after-rst',
          title: "the server's LAST-ACK socket after the client's RST at SEG.ACK",
          expect: { linux: anyVersion('gone', 'tcp_validate_incoming(): the RST is exactly at rcv_nxt, so tcp_reset() closes the LAST-ACK socket (tcp_done())'), freebsd: anyVersion('gone', 'tcp_input(): an RST at rcv_nxt closes the connection') },
          observed: afterRst,
          sockets: [afterRstLine ?? ''],
        });
      }
      ctx.check({
        id: 'client-outcome',
        title: 'what the reusing client ends up with (RFC 9293 §3.10.7.3, SYN-SENT)',
        expect: {
          linux: anyVersion('connected after RST + SYN again', 'the challenge ACK draws the RST that clears LAST-ACK; the resent SYN reaches the listener (Linux clients resend at once since 5.6 instead of waiting 1 s)'),
          freebsd: anyVersion('connected after RST + SYN again', 'the challenge ACK draws the RST that clears LAST-ACK'),
          gvisor: anyVersion('connected after RST + SYN again', 'the challenge ACK draws the RST that clears LAST-ACK'),
          lwip: anyVersion('connected after RST + SYN again', 'tcp_process(): the RST at rcv_nxt is acceptable and removes the pcb; the resent SYN reaches the listening pcb'),
          slirp: anyVersion('refused (ECONNREFUSED)', "slirp answers the SYN with RST|ACK acknowledging it: the reusing client's connect() fails"),
        },
        observed: outcome,
        packets: evidence,
      });
    },
  };
}

export const lastackSynLab: Lab = {
  id: 'lastack-syn',
  title: 'a reused 4-tuple meets a server still in LAST-ACK (the lost last ACK of tcp_tw_reuse)',
  summary:
    'The client closed first and its last ACK was lost, so the server sits in LAST-ACK retransmitting its FIN. ' +
    'The client reuses the 4-tuple at once, as tcp_tw_reuse lets Linux do. What does the server stack answer to ' +
    'the new SYN, and does the client get connected or refused?',
  rfcs: ['RFC 9293 §3.10.7.3 (SYN-SENT)', 'RFC 5961 §4 (challenge ACK)', 'Linux tcp_validate_incoming()', 'Linux tcp_twsk_unique()'],
  sources: ['V. Bernat, Coping with the TCP TIME-WAIT state on busy Linux servers (the seeds): the LAST-ACK case of tcp_tw_reuse'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  cases: [labCase()],
};
