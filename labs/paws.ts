// lab:paws: timestamps are what lets a stack recognise a wandering old segment inside the current window
// (PAWS, RFC 7323 §5) once TIME-WAIT no longer guards the 4-tuple (tcp_tw_reuse, an assassinated
// TIME-WAIT). A ghost prober opens a connection with timestamps and sends in-sequence data whose TSval has
// gone backwards, as a segment from an earlier incarnation carries, or data with no timestamp at all.
// Does the server application receive those bytes? Runs on any stack (probeServer()).
import { anyVersion, type Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { seqAdd } from '../src/wire/seq.js';
import type { TcpOption } from '../src/wire/types.js';
import { classifyReply, counting, packets, tcpOnly } from '../src/lab/evidence.js';
import { connectCrafted } from '../src/lab/probes.js';
import { probeServer } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33300;
const ISN = 4_000_000;
const TSVAL = 1_000_000;
/** How far the connection's timestamps have moved on before the stale segment (an earlier incarnation's TSval). */
const TS_STEP = 100_000;
const READ_WAIT_MS = 300;

const NOT_NEGOTIATED = (stack: string) => `${stack} did not put a timestamp on its SYN-ACK, so the connection has none and nothing can tell an old segment from a new one (RFC 7323 §3.2: TSopt is used only if both SYNs carry it)`;

interface PawsCase {
  id: string;
  title: string;
  /** The stale segment's timestamp option: an older TSval, or none. */
  stale: 'older' | 'missing';
  expect: Expectation;
}

const CASES: readonly PawsCase[] = [
  {
    id: 'ts-older', title: 'in-sequence data whose TSval is older than the last one seen (an earlier incarnation\'s)', stale: 'older',
    expect: {
      linux: anyVersion('dropped', 'tcp_validate_incoming() -> tcp_paws_discard(): TSval before ts_recent, the segment is dropped and a duplicate ACK sent (TcpExt.PAWSEstab)'),
      freebsd: anyVersion('dropped', 'tcp_input(): PAWS, TSTMP_LT(to_tsval, ts_recent): dropped after an ACK (RFC 7323 §5.3)'),
      gvisor: anyVersion('accepted', 'gVisor keeps TS.Recent (updateRecentTimestamp() only moves it forward) but makes no PAWS test: an older TSval is no reason to drop in-window data'),
      lwip: anyVersion('accepted', NOT_NEGOTIATED('lwIP (built without LWIP_TCP_TIMESTAMPS)')),
      slirp: anyVersion('accepted', NOT_NEGOTIATED('slirp (tcp_dooptions() reads only MSS)')),
    },
  },
  {
    id: 'ts-missing', title: 'in-sequence data without a timestamp on a connection that negotiated them', stale: 'missing',
    expect: {
      linux: anyVersion('accepted', 'tcp_validate_incoming(): PAWS only tests segments that carry a timestamp; Linux accepts one without (it does not apply RFC 7323 §3.2\'s "SHOULD drop")'),
      freebsd: anyVersion('dropped', 'tcp_input(): a segment without TSopt on a connection that negotiated it is dropped unless net.inet.tcp.tolerate_missing_ts=1 (RFC 7323 §3.2)'),
      gvisor: anyVersion('accepted', 'gVisor applies RFC 7323 §3.2 only to the handshake\'s final ACK (handshake synRcvdState()); an established segment without TSopt is processed'),
      lwip: anyVersion('accepted', NOT_NEGOTIATED('lwIP (built without LWIP_TCP_TIMESTAMPS)')),
      slirp: anyVersion('accepted', NOT_NEGOTIATED('slirp (tcp_dooptions() reads only MSS)')),
    },
  },
];

function labCase(pc: PawsCase): LabCase {
  return {
    id: pc.id,
    title: pc.title,
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const { sAddr, point } = p;
      const ghost = p.ghostAddr;
      const { srv, sock, conn, synAck } = await connectCrafted(ctx, p, { port: SERVER_PORT, sport: PROBER_PORT, isn: ISN, tsval: TSVAL });
      const negotiated = synAck.segment!.options.some((o) => o.kind === 'ts');
      if (!negotiated) conn.tsval = undefined; // RFC 7323 §3.2: no TSopt on later segments either
      const synAckRec = packets(p.wire, point, (x) => x.segment.flags === 'S.' && x.segment.src === sAddr).at(-1);
      ctx.check({
        id: 'ts-negotiated',
        title: 'the server put a timestamp on its SYN-ACK: the connection uses timestamps',
        expect: {
          linux: anyVersion(true, 'net.ipv4.tcp_timestamps=1 and the SYN offered TSopt'), freebsd: anyVersion(true, 'net.inet.tcp.rfc1323=1'),
          gvisor: anyVersion(true, 'gVisor answers TSopt on the SYN with TSopt (tcpip.TCPTimestampEnabled)'),
          lwip: anyVersion(false, 'Debian\'s liblwip is built without LWIP_TCP_TIMESTAMPS'), slirp: anyVersion(false, 'slirp sends only MSS on its SYN-ACK'),
        },
        observed: negotiated,
        packets: synAckRec ? [synAckRec] : [],
      });

      // Fresh data first: the connection works, and its timestamps move on (an earlier incarnation's would now be old).
      if (conn.tsval !== undefined) conn.tsval = TSVAL + TS_STEP;
      await ctx.step(`the client sends 5 bytes "fresh"${negotiated ? ` with TSval ${TSVAL + TS_STEP}` : ''}; the server reads them`);
      conn.send('P.', { payload: 'fresh' });
      conn.sndNxt = seqAdd(conn.sndNxt, 5);
      const first = await srv.call('recv', { sock: sock, max: 64, timeoutMs: 2000 });
      if (first.data !== 'fresh') throw new Error(`set-up: the server read ${JSON.stringify(first.data)} instead of "fresh"`);

      const tsOpt: TcpOption[] = pc.stale === 'older' && negotiated ? [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: TSVAL + 10, ecr: conn.tsRecent }] : [];
      await ctx.step(`the client sends 5 bytes "stale" in sequence (seq ${conn.sndNxt}) ${pc.stale === 'older' ? (negotiated ? `with TSval ${TSVAL + 10}, older than ${TSVAL + TS_STEP}` : 'without a timestamp (none were negotiated)') : 'without a timestamp option'}`);
      const { result: since, moved } = await counting(p.server, async () => {
        const t = conn.send('P.', { payload: 'stale', options: tsOpt });
        await ctx.sleep(50);
        return t;
      });
      const read = await srv.call('recv', { sock: sock, max: 64, timeoutMs: READ_WAIT_MS });
      const accepted = read.data === 'stale';
      if (accepted) conn.sndNxt = seqAdd(conn.sndNxt, 5);
      const sent = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === ghost && x.segment.payload.length > 0)[0];
      const reply = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === sAddr && x.segment.dport === PROBER_PORT)[0];
      ctx.check({
        id: 'stale-data',
        title: 'does the server application receive the stale segment\'s bytes?',
        expect: pc.expect,
        observed: accepted ? 'accepted' : 'dropped',
        packets: [sent, reply].filter((x): x is PacketRecord => !!x),
        counters: tcpOnly(moved),
        explain: accepted
          ? `recv() returned "stale": the bytes joined the stream${reply ? `; the server answered ${classifyReply(reply)} ${reply.segment.ack}` : ''}`
          : `recv() returned nothing within ${READ_WAIT_MS} ms${reply ? `; the server answered ${classifyReply(reply)} ${reply.segment.ack} (still expecting ${conn.sndNxt})` : ''}`,
      });
      conn.send('R', { seq: conn.sndNxt, options: [] });
    },
  };
}

export const pawsLab: Lab = {
  id: 'paws',
  title: 'PAWS: is an in-window segment with an old (or no) timestamp accepted?',
  summary:
    'When TIME-WAIT no longer guards a 4-tuple, timestamps are what can still tell a wandering old segment from ' +
    'new data (PAWS). A client opens a connection with timestamps, then sends in-sequence data whose TSval went ' +
    'backwards, or that has no timestamp. Does the server application read those bytes?',
  rfcs: ['RFC 7323 §5 (PAWS)', 'RFC 7323 §3.2', 'Linux tcp_paws_discard()', 'FreeBSD tcp_input()'],
  sources: ['RFC 1337 (why TIME-WAIT protects against old duplicates)', 'lab duplicate (the same question on two local hosts)'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  cases: CASES.map(labCase),
};
