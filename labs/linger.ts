// lab:linger: close() with SO_LINGER {on, 0} versus a normal close(). The client sends more data than
// the server's small receive buffer takes and the server does not read, so most of it waits in the
// client's send queue when the client closes. A normal close queues a FIN behind the data, delivers it
// all and ends in TIME-WAIT; a zero-linger close sends an RST, discards the queue and leaves no TIME-WAIT.
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import type { PeerClient } from '../src/peer/client.js';
import { seqDiff } from '../src/wire/seq.js';
import { counting, packets, sockLineOr, socketOf, tcpOnly, waitSocket } from '../src/lab/evidence.js';
import { connectedPair, type Connected } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const DATA_BYTES = 16 * 1024;
/** A tiny, fixed receive buffer on the server (no autotuning), so the data stays in the client's send queue. */
const SERVER_SYSCTLS = { 'net.ipv4.tcp_rmem': '4096 4096 4096', 'net.ipv4.tcp_moderate_rcvbuf': 0 };
/** A send buffer big enough that send() returns with all the data queued. */
const CLIENT_SYSCTLS = { 'net.ipv4.tcp_wmem': '4096 262144 262144' };

type Setup = Connected;

async function setup(ctx: CaseContext): Promise<Setup> {
  const s = await connectedPair(ctx, { client: CLIENT_SYSCTLS, server: SERVER_SYSCTLS }, SERVER_PORT);
  const { p, cli, local, remote } = s;
  const con = { sock: s.csock };
  await ctx.step(`client ${p.aAddr}:${local.port} connects to ${p.bAddr}:${SERVER_PORT}; the server's receive buffer is 4 KiB (tcp_rmem) and it does not read`);
  const sent = await cli.call('send', { sock: con.sock, data: 'x'.repeat(DATA_BYTES), timeoutMs: 3000 });
  ctx.note('client', `send(${DATA_BYTES} bytes) -> ${sent.bytes}`);
  // Let the window fill: the server's zero window stops the flow with most bytes still queued.
  const queued = await waitSocket(p.a, local, remote, (x) => x?.sendQ !== undefined && x.sendQ > 0 && packets(p.wire, s.point, (r) => s.fromServer(r) && r.segment.window === 0).length > 0, 2000);
  ctx.check({
    id: 'queued',
    title: "most of the data is still in the client's send queue (the server's window is closed)",
    expect: { linux: [{ versions: '*', expect: { atLeast: DATA_BYTES / 2 }, because: 'the server advertises a zero window once its 4 KiB receive buffer is full (tcp_select_window)' }] },
    observed: queued?.sendQ ?? 0,
    sockets: [sockLineOr(queued, 'client'), sockLineOr(await socketOf(p.b, remote, local), 'server')],
    packets: packets(p.wire, s.point, (r) => s.fromServer(r) && r.segment.window === 0).slice(0, 1),
  });
  return s;
}

/** Reads until EOF or an error; returns the byte count and how it ended. */
async function drain(srv: PeerClient, sock: number): Promise<{ bytes: number; end: string }> {
  let bytes = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await srv.try('recv', { sock, max: 65536, timeoutMs: 2000 });
    if (!r.ok) return { bytes, end: r.code };
    if (r.timedOut) return { bytes, end: 'timeout' };
    if (r.eof) return { bytes, end: 'EOF' };
    bytes += r.bytes;
  }
  return { bytes, end: 'too many reads' };
}

const normal: LabCase = {
  id: 'normal-close',
  title: 'a normal close(): the FIN waits behind the queued data, everything is delivered, TIME-WAIT follows',
  async run(ctx) {
    const s = await setup(ctx);
    const { p } = s;
    const { result: since, moved } = await counting(p.a, async () => {
      const t = p.wire.now();
      await s.cli.call('close', { sock: s.csock });
      ctx.note('client', 'close()');
      await ctx.sleep(100);
      return t;
    });
    const fw1 = await socketOf(p.a, s.local, s.remote);
    ctx.check({
      id: 'fin-wait-1',
      title: 'after close() the client is in FIN-WAIT-1 and still owes the queued data',
      expect: { linux: [{ versions: '*', expect: 'FIN-WAIT-1', because: 'tcp_close() -> tcp_close_state() + tcp_send_fin(): the FIN is queued after the data and sent when the window lets it (RFC 9293 §3.10.4)' }] },
      observed: fw1?.state ?? 'gone',
      sockets: [sockLineOr(fw1, 'client')],
      counters: tcpOnly(moved),
    });
    const rstEarly = packets(p.wire, s.point, (x) => x.tsNs >= since && s.fromClient(x) && x.segment.flags.includes('R'));
    ctx.check({
      id: 'no-rst',
      title: 'the client sends no RST on a normal close',
      expect: { linux: [{ versions: '*', expect: 0 }] },
      observed: rstEarly.length,
      packets: packets(p.wire, s.point, (x) => x.tsNs >= since).slice(0, 4),
      sockets: [sockLineOr(fw1, 'client')],
    });
    await ctx.step('the server reads now: all the data arrives, then the FIN (EOF)');
    const got = await drain(s.srv, s.ssock);
    ctx.note('server', `read ${got.bytes} bytes, then ${got.end}`);
    const fin = packets(p.wire, s.point, (x) => s.fromClient(x) && x.segment.flags.includes('F'))[0];
    ctx.check({
      id: 'all-delivered',
      title: 'bytes the server reads before EOF',
      expect: { linux: [{ versions: '*', expect: DATA_BYTES, because: 'close() without linger hands the send queue to the kernel: the orphaned socket keeps sending (RFC 9293 §3.10.4: CLOSE "queue this until all preceding SENDs have been segmentized")' }] },
      observed: got.end === 'EOF' ? got.bytes : `${got.bytes} then ${got.end}`,
      packets: fin ? [fin] : [],
    });
    await s.srv.call('close', { sock: s.ssock });
    ctx.note('server', 'close()');
    const tw = await waitSocket(p.a, s.local, s.remote, (x) => x?.state === 'TIME-WAIT');
    ctx.check({
      id: 'time-wait',
      title: 'the client ends in TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'the active closer enters TIME-WAIT (tcp_time_wait) after the FIN exchange' }] },
      observed: tw?.state ?? 'gone',
      sockets: [sockLineOr(tw, 'client')],
      packets: packets(p.wire, s.point, (x) => x.segment.flags.includes('F')),
    });
  },
};

const linger0: LabCase = {
  id: 'linger0',
  title: 'SO_LINGER {on, 0}: close() sends an RST, the queued data is discarded, no TIME-WAIT',
  async run(ctx) {
    const s = await setup(ctx);
    const { p } = s;
    const lastData = packets(p.wire, s.point, (x) => s.fromClient(x) && x.segment.payload.length > 0).at(-1);
    const { result: since, moved } = await counting(p.a, async () => {
      const t = p.wire.now();
      await s.cli.call('closeLinger', { sock: s.csock, secs: 0 });
      ctx.note('client', 'setsockopt(SO_LINGER {1, 0}); close()');
      await ctx.sleep(100);
      return t;
    });
    const after = packets(p.wire, s.point, (x) => x.tsNs >= since && s.fromClient(x));
    const rst = after.find((x) => x.segment.flags.includes('R'));
    ctx.check({
      id: 'rst-not-fin',
      title: 'what the client sends on close()',
      expect: { linux: [{ versions: '*', expect: 'RST', because: 'tcp_close(): SOCK_LINGER with sk_lingertime 0 -> tcp_disconnect() -> tcp_send_active_reset() (no FIN)' }], freebsd: [{ versions: '*', expect: 'RST', because: 'tcp_disconnect(): so_linger 0 -> tcp_drop()' }] },
      observed: rst ? 'RST' : after.some((x) => x.segment.flags.includes('F')) ? 'FIN' : 'nothing',
      packets: after,
      counters: tcpOnly(moved),
    });
    if (rst && lastData) {
      const sndNxt = (lastData.segment.seq + lastData.segment.payload.length) >>> 0;
      ctx.check({
        id: 'rst-seq',
        title: "the RST's seq is the client's snd_nxt (the end of the last data sent), not the end of the queued data",
        expect: { linux: [{ versions: '*', expect: 0, because: 'tcp_send_active_reset() uses tcp_acceptable_seq(): snd_nxt when it is inside the peer\'s window' }] },
        observed: seqDiff(rst.segment.seq, sndNxt),
        packets: [lastData, rst],
        explain: `the queued bytes beyond seq ${sndNxt} are never sent`,
      });
    }
    ctx.check({
      id: 'abort-counted',
      title: 'the kernel counts the abort (TcpExt.TCPAbortOnData) and the RST (Tcp.OutRsts)',
      expect: { linux: [{ versions: '*', expect: '1/1', because: 'tcp_close() increments LINUX_MIB_TCPABORTONDATA after the zero-linger disconnect; tcp_send_active_reset() TCP_MIB_OUTRSTS' }] },
      observed: `${moved['TcpExt.TCPAbortOnData'] ?? 0}/${moved['Tcp.OutRsts'] ?? 0}`,
      counters: tcpOnly(moved),
    });
    const gone = await socketOf(p.a, s.local, s.remote);
    ctx.check({
      id: 'no-time-wait',
      title: 'the client socket after close(): no TIME-WAIT',
      expect: { linux: [{ versions: '*', expect: 'gone', because: 'tcp_disconnect() moves the socket to CLOSE and tcp_close() destroys it: TIME-WAIT is skipped' }] },
      observed: gone?.state ?? 'gone',
      sockets: [sockLineOr(gone, 'client')],
    });
    await ctx.step('the server reads now');
    const got = await drain(s.srv, s.ssock);
    ctx.note('server', `read ${got.bytes} bytes, then ${got.end}`);
    ctx.check({
      id: 'server-sees',
      title: 'how the server application learns of it: what recv() returns once the buffered bytes are read',
      expect: { linux: [{ versions: '*', expect: 'ECONNRESET', because: 'tcp_reset() sets sk_err = ECONNRESET; tcp_recvmsg() returns the error once the receive queue is empty' }] },
      observed: got.end,
      packets: rst ? [rst] : [],
      sockets: [sockLineOr(await socketOf(p.b, s.remote, s.local), 'server')],
    });
    ctx.check({
      id: 'data-lost',
      title: 'bytes discarded: sent by the application but never delivered',
      expect: { linux: [{ versions: '*', expect: { atLeast: DATA_BYTES / 2 }, because: 'tcp_disconnect() purges the write queue (tcp_write_queue_purge): the RST throws away what was still queued' }] },
      observed: DATA_BYTES - got.bytes,
      packets: rst ? [rst] : [],
      explain: `the application sent ${DATA_BYTES} bytes; the server read ${got.bytes} before ${got.end}`,
    });
  },
};

export const lingerLab: Lab = {
  roles: { all: ['client', 'server'], subject: 'client' },
  remote: 'link',
  id: 'linger',
  title: 'close() with SO_LINGER {on, 0}: RST instead of FIN, no TIME-WAIT, queued data lost',
  summary:
    'The "fix" for TIME-WAIT that articles warn about: SO_LINGER with a zero timeout. The client has data ' +
    'queued that the server has not taken yet. A normal close() delivers it and ends in TIME-WAIT; a ' +
    'zero-linger close() sends an RST, throws the queued data away and leaves no TIME-WAIT behind.',
  rfcs: ['RFC 9293 §3.10.4 (CLOSE)', 'RFC 9293 §3.10.7.4 (RST received)', 'Linux tcp_close()', 'Linux tcp_disconnect()', 'Linux tcp_send_active_reset()'],
  sources: ['socket(7): SO_LINGER', 'W. R. Stevens, UNIX Network Programming vol. 1 §7.5 (SO_LINGER)', 'notes on TIME_WAIT (the seeds)'],
  cases: [normal, linger0],
};
