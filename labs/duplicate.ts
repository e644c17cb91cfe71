// lab:duplicate: why TIME-WAIT exists, its first purpose (RFC 9293 §3.4.1, RFC 1337): a segment of an
// old incarnation must not be accepted by a new one on the same 4-tuple. A ghost prober talks to a real
// server, closes, forgets its TIME-WAIT, opens a new incarnation whose sequence space overlaps the old
// one, and replays an old data segment. Without timestamps the server application reads the old bytes
// as part of the new stream; with timestamps PAWS drops it; with the server holding TIME-WAIT the
// overlapping new incarnation is not even allowed to start.
import type { Expectation } from '../src/lab/expect.js';
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import { CraftedConn } from '../src/wire/crafted.js';
import { seqAdd, seqDiff } from '../src/wire/seq.js';
import type { TcpOption } from '../src/wire/types.js';
import { counting, packets, sockLineOr, socketOf, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { probeServer } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33200;
const OLD_ISN = 5_000_000;
const OLD_DATA = 'OLD:transfer $100 to account 1111\n';
const NEW_DATA = 'NEW:GET /balance\n';
/** The prober's timestamp clock: the new incarnation's TSvals are later than the old one's. */
const OLD_TSVAL = 100_000;
const NEW_TSVAL = 200_000;
/** The window every segment of the prober carries; the slow-path case replays the old segment with another one. */
const WINDOW = 65535;
const OTHER_WINDOW = 32768;

interface DataSeg {
  seq: number;
  ack: number;
  options: TcpOption[];
  payload: string;
}

/** Sends data at snd_nxt and returns exactly what was sent, so it can be replayed later. */
function sendData(conn: CraftedConn, payload: string): DataSeg {
  const options: TcpOption[] = [];
  if (conn.tsval !== undefined) {
    options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: conn.tsval, ecr: conn.tsRecent });
    conn.tsval = (conn.tsval + 1) >>> 0;
  }
  const seg = { seq: conn.sndNxt, ack: conn.rcvNxt, options, payload };
  conn.send('P.', seg);
  conn.sndNxt = seqAdd(conn.sndNxt, Buffer.byteLength(payload));
  return seg;
}

/** Everything the server application can read within `ms` of quiet. */
async function readAll(srv: PeerClient, sock: number, ms = 200): Promise<string> {
  let out = '';
  for (let i = 0; i < 20; i++) {
    const r = await srv.call('recv', { sock, timeoutMs: ms });
    out += r.data;
    if (r.timedOut || r.eof || r.bytes === 0) break;
  }
  return out;
}

type Mode = 'ts-off' | 'ts-off-slow-path' | 'ts-on' | 'server-time-wait';
type DataMode = Exclude<Mode, 'server-time-wait'>;

const FAST = 'tcp_rcv_established() header prediction: flags and window match pred_flags, seq == rcv_nxt and the ACK is not after snd_nxt, so tcp_queue_rcv() queues the data before tcp_ack() looks at the ACK';
const TOO_OLD = 'tcp_ack(): the ACK is before snd_una - min(max_window, bytes_acked) (RFC 5961 §5.2; bytes_acked is 0: the server sent no data), so it sends a challenge ACK and returns TCP_TOO_OLD_ACK';
const BEFORE_67 = 'before Linux 6.7 ("tcp: do not accept ACK of bytes we never sent") tcp_ack() allowed an old ACK anywhere within max_window (here 64240 << 7) of snd_una, so the old segment was accepted on the slow path too';
const READS: Record<DataMode, Expectation> = {
  'ts-off': { linux: [{ versions: '*', expect: 'new data + old data', because: `${FAST}; nothing tells the incarnations apart. ${TOO_OLD}, too late: the bytes are already queued` }] },
  'ts-off-slow-path': { linux: [
    { versions: '>=6.7', expect: 'new data only', because: `the window differs from pred_flags, so the slow path runs: ${TOO_OLD} and tcp_rcv_established() discards the segment before tcp_data_queue()` },
    { versions: '<6.7', expect: { oneOf: ['new data only', 'new data + old data'] }, because: `${BEFORE_67}; the stable backport restores the drop` },
  ] },
  'ts-on': { linux: [{ versions: '*', expect: 'new data only', because: 'tcp_validate_incoming() -> tcp_paws_discard(): the old TSval is older than ts_recent, the segment is dropped (RFC 7323 §5.3)' }] },
};
const ANSWERS: Record<DataMode, Expectation> = {
  'ts-off': { linux: [{ versions: '*', expect: 'ACK of the old bytes', because: 'the old bytes became part of the new stream: rcv_nxt moved past them; the challenge ACK carries the new rcv_nxt' }] },
  'ts-off-slow-path': { linux: [
    { versions: '>=6.7', expect: 'dup ACK', because: 'tcp_send_challenge_ack(): an ACK of rcv_nxt, which did not move' },
    { versions: '<6.7', expect: { oneOf: ['dup ACK', 'ACK of the old bytes'] }, because: BEFORE_67 },
  ] },
  'ts-on': { linux: [{ versions: '*', expect: 'dup ACK', because: 'tcp_validate_incoming(): a PAWS-rejected segment is answered with a duplicate ACK (tcp_send_dupack)' }] },
};
const PATHS: Record<DataMode, Expectation> = {
  'ts-off': { linux: [{ versions: '*', expect: '1/1', because: `${FAST}; then ${TOO_OLD}` }] },
  'ts-off-slow-path': { linux: [
    { versions: '>=6.7', expect: '0/1', because: TOO_OLD },
    { versions: '<6.7', expect: { oneOf: ['0/1', '0/0'] }, because: BEFORE_67 },
  ] },
  'ts-on': { linux: [{ versions: '*', expect: '0/0' }] },
};

function labCase(mode: Mode): LabCase {
  const dm = mode as DataMode;
  const ts = mode === 'ts-on';
  const titles: Record<Mode, string> = {
    'ts-off': 'no timestamps, no TIME-WAIT: the old segment is read as new data',
    'ts-off-slow-path': 'the same, but the old segment carries another window: the slow path checks its ACK first and drops it',
    'ts-on': 'timestamps, no TIME-WAIT: PAWS drops the old segment',
    'server-time-wait': 'the server holds TIME-WAIT: the overlapping new incarnation cannot start',
  };
  return {
    id: mode,
    title: titles[mode],
    async run(ctx: CaseContext) {
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const ghost = { addr: p.ghostAddr };
      const sAddr = p.sAddr;
      const point = p.point;
      const local = { addr: sAddr, port: SERVER_PORT };
      const remote = { addr: ghost.addr, port: PROBER_PORT };
      ctx.setColumns([{ label: 'prober', addrs: [ghost.addr] }, { label: 'server', addrs: [sAddr] }]);
      const srv = await p.peer();
      const l = await srv.call('listen', { addr: sAddr, port: SERVER_PORT, reuseAddr: true });
      const tuple = { src: ghost.addr, dst: sAddr, sport: PROBER_PORT, dport: SERVER_PORT, window: WINDOW };

      await ctx.step(`old incarnation: the prober (${ghost.addr}:${PROBER_PORT}) connects with ISN ${OLD_ISN}, ${ts ? `timestamps from TSval ${OLD_TSVAL}` : 'no timestamps'}, and sends ${JSON.stringify(OLD_DATA.trim())}`);
      const old = new CraftedConn(p.wire, { ...tuple, isn: OLD_ISN, ...(ts ? { tsval: OLD_TSVAL } : {}) });
      const oldSynAck = await old.connect();
      const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
      const oldSeg = sendData(old, OLD_DATA);
      const got0 = await readAll(srv, acc.sock);
      ctx.note('server', `recv() -> ${JSON.stringify(got0)}`);
      if (mode === 'server-time-wait') {
        await ctx.step('the server closes first and so holds TIME-WAIT');
        await srv.call('close', { sock: acc.sock });
        await old.expectFin();
        await old.close();
      } else {
        await ctx.step('the prober closes first, then forgets the connection at once: no TIME-WAIT on its side (as with SO_LINGER 0, or a recycled TIME-WAIT)');
        await old.close();
        const eof = await srv.call('recv', { sock: acc.sock, timeoutMs: 1000 });
        if (!eof.eof) throw new Error('server: expected EOF');
        await srv.call('close', { sock: acc.sock });
        await old.expectFin();
      }
      const srvSock = await waitSocket(p.server, local, remote, (s) => (mode === 'server-time-wait' ? s?.state === 'TIME-WAIT' : s === undefined), 1000);
      ctx.check({
        id: 'old-closed',
        title: "the server's socket for the 4-tuple after the old incarnation closed",
        expect: mode === 'server-time-wait'
          ? { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'the server closed first: tcp_time_wait()' }] }
          : { linux: [{ versions: '*', expect: 'gone', because: 'the server closed second: LAST-ACK, then CLOSED when its FIN is acknowledged (tcp_rcv_state_process)' }] },
        observed: srvSock?.state ?? 'gone',
        sockets: [sockLineOr(srvSock, 'server')],
      });

      // The new incarnation's sequence space overlaps the old one: its data runs up to exactly where the
      // old segment starts, so the old segment is the next thing the server expects.
      const newIsn = seqAdd(OLD_ISN, -Buffer.byteLength(NEW_DATA));
      await ctx.step(`new incarnation on the same 4-tuple: ISN ${newIsn} (${Buffer.byteLength(NEW_DATA)} below the old one), ${ts ? `TSval from ${NEW_TSVAL}` : 'no timestamps'}`);
      const neu = new CraftedConn(p.wire, { ...tuple, isn: newIsn, ...(ts ? { tsval: NEW_TSVAL } : {}) });
      if (mode === 'server-time-wait') {
        const since = neu.syn(newIsn, null);
        await ctx.sleep(150);
        const syn = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.flags === 'S')[0];
        const reply = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === sAddr)[0];
        ctx.check({
          id: 'syn-refused',
          title: "the server's TIME-WAIT answers the overlapping SYN",
          expect: { linux: [{ versions: '*', expect: 'ACK', because: 'tcp_timewait_state_process(): a SYN with seq before tw_rcv_nxt and no newer timestamp is not a new connection; it gets an ACK of the old one (RFC 9293 §3.10.7.4)' }] },
          observed: reply ? (reply.segment.flags === 'S.' ? 'SYN-ACK' : reply.segment.flags.includes('R') ? 'RST' : 'ACK') : 'nothing',
          packets: [syn, reply].filter((x): x is PacketRecord => !!x),
        });
        const { result: r, moved } = await counting(p.server, async () => {
          const t = p.wire.now();
          old.send('P.', oldSeg);
          ctx.note('prober', 'replays the old data segment');
          await ctx.sleep(100);
          return { t, acc: await srv.try('accept', { sock: l.sock, timeoutMs: 200 }) };
        });
        const replay = packets(p.wire, point, (x) => x.tsNs >= r.t && x.segment.payload.length > 0 && x.segment.src === ghost.addr)[0];
        const ans = packets(p.wire, point, (x) => x.tsNs >= r.t && x.segment.src === sAddr)[0];
        ctx.check({
          id: 'no-new-connection',
          title: 'the server application gets no new connection, so nothing can be misread',
          expect: { linux: [{ versions: '*', expect: 'ETIMEDOUT', because: 'the TIME-WAIT holds the 4-tuple: the SYN never reached the listener; the replayed segment meets the TIME-WAIT, which only re-ACKs (TCP_TW_ACK)' }] },
          observed: r.acc.ok ? 'accepted' : r.acc.code,
          packets: [replay, ans].filter((x): x is PacketRecord => !!x),
          counters: tcpOnly(moved),
          sockets: [sockLineOr(await socketOf(p.server, local, remote), 'server')],
        });
        neu.send('R', { seq: seqAdd(newIsn, 1), options: [] });
        return;
      }

      const synAck = await neu.connect();
      const acc2 = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
      ctx.note('server', 'accept(): a new connection on the same 4-tuple');
      const newSeg = sendData(neu, NEW_DATA);
      const drift = seqDiff(synAck.segment!.seq, oldSynAck.segment!.seq);
      await ctx.step(`the prober replays the old data segment: seq ${oldSeg.seq} (the new incarnation's next expected byte), ack ${oldSeg.ack} (${drift} behind the new server ISN)${ts ? `, TSval ${(oldSeg.options.find((o) => o.kind === 'ts') as { val: number }).val}` : ''}`);
      const { result: since, moved } = await counting(p.server, async () => {
        await ctx.sleep(30);
        const t = mode === 'ts-off-slow-path'
          ? new CraftedConn(p.wire, { ...tuple, window: OTHER_WINDOW, isn: OLD_ISN }).send('P.', oldSeg)
          : old.send('P.', oldSeg);
        await ctx.sleep(100);
        return t;
      });
      const replay = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === ghost.addr && x.segment.payload.length > 0)[0];
      const answer = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === sAddr)[0];
      const read = await readAll(srv, acc2.sock);
      ctx.note('server', `recv() -> ${JSON.stringify(read)}`);
      const corrupted = read === NEW_DATA + OLD_DATA;
      ctx.check({
        id: 'app-reads',
        title: 'what the server application reads from the new connection',
        expect: READS[dm],
        observed: corrupted ? 'new data + old data' : read === NEW_DATA ? 'new data only' : `other: ${JSON.stringify(read)}`,
        packets: [replay, answer].filter((x): x is PacketRecord => !!x),
        counters: tcpOnly(moved),
        explain: `the server read ${JSON.stringify(read)}`,
      });
      ctx.check({
        id: 'server-answer',
        title: 'what the server acknowledges after the replayed segment',
        expect: ANSWERS[dm],
        observed: !answer ? 'nothing'
          : answer.segment.ack === seqAdd(oldSeg.seq, Buffer.byteLength(OLD_DATA)) ? 'ACK of the old bytes'
            : answer.segment.ack === seqAdd(newSeg.seq, Buffer.byteLength(NEW_DATA)) ? 'dup ACK' : `ack ${answer.segment.ack}`,
        packets: [replay, answer].filter((x): x is PacketRecord => !!x),
      });
      if (!ts) {
        ctx.check({
          id: 'ack-check',
          title: 'which receive path took the segment, and the challenge ACK its old ACK number drew (TcpExt.TCPHPHits / TcpExt.TCPChallengeACK)',
          expect: PATHS[dm],
          observed: `${moved['TcpExt.TCPHPHits'] ?? 0}/${moved['TcpExt.TCPChallengeACK'] ?? 0}`,
          counters: tcpOnly(moved),
          packets: [replay, answer].filter((x): x is PacketRecord => !!x),
        });
      }
      if (ts) {
        ctx.check({
          id: 'paws-counted',
          title: 'the drop is counted (TcpExt.PAWSEstab)',
          expect: { linux: [{ versions: '*', expect: 1, because: 'tcp_validate_incoming() increments LINUX_MIB_PAWSESTABREJECTED' }] },
          observed: moved['TcpExt.PAWSEstab'] ?? 0,
          counters: tcpOnly(moved),
        });
      }
      neu.send('R', { seq: neu.sndNxt, options: [] });
    },
  };
}

export const duplicateLab: Lab = {
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  id: 'duplicate',
  title: 'why TIME-WAIT exists (1): an old duplicate landing in a new incarnation',
  summary:
    'A data segment of an old connection, delayed in the network, arrives after a new connection on the same ' +
    '4-tuple has started with an overlapping sequence space. Without timestamps the server application reads ' +
    'the old bytes as part of the new stream; with timestamps PAWS drops them; a TIME-WAIT on the 4-tuple keeps ' +
    'the overlapping incarnation from starting at all, which is what 2*MSL is for.',
  rfcs: ['RFC 9293 §3.4.1 (knowing when to keep quiet)', 'RFC 1337', 'RFC 7323 §5 (PAWS)', 'RFC 5961 §5.2', 'Linux tcp_validate_incoming()', 'Linux tcp_paws_discard()'],
  sources: ['W. R. Stevens, TCP/IP Illustrated vol. 1 §18.6', 'V. Bernat, "Coping with the TCP TIME-WAIT state on busy Linux servers" (2014)'],
  cases: [labCase('ts-off'), labCase('ts-off-slow-path'), labCase('ts-on'), labCase('server-time-wait')],
};
