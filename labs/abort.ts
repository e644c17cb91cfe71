// lab:abort: the two ways a close() becomes an RST instead of a FIN, and so leaves no TIME-WAIT (the
// "SO_LINGER trick" of tuning guides): SO_LINGER {1, 0}, and closing with data the application never read
// (RFC 9293 §3.10.4 / RFC 2525 §2.17). A ghost prober is the client; the server application on the stack
// under test closes. What goes on the wire first, a FIN or an RST, and at which sequence number?
// Runs on any stack (probeServer()).
import { anyVersion, type Expectation } from '../src/lab/expect.js';
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { seqAdd } from '../src/wire/seq.js';
import { connectCrafted } from '../src/lab/probes.js';
import { counting, packets, tcpOnly } from '../src/lab/evidence.js';
import { probeServer } from '../src/lab/fixtures.js';

const SERVER_PORT = 8080;
const PROBER_PORT = 33400;
const ISN = 5_000_000;
const CLOSE_WAIT_MS = 300;


interface AbortCase {
  id: string;
  title: string;
  /** Bytes the client sends that the application never reads. */
  unread: number;
  linger0: boolean;
  first: Expectation;
}

const CASES: readonly AbortCase[] = [
  {
    id: 'linger0', title: 'close() with SO_LINGER {1, 0} on an idle connection', unread: 0, linger0: true,
    first: {
      linux: anyVersion('RST', 'tcp_close(): sock_flag(SOCK_LINGER) && !sk_lingertime -> tcp_disconnect() sends an RST (TcpExt.TCPAbortOnData) instead of a FIN'),
      freebsd: anyVersion('RST', 'soclose() with SO_LINGER and l_linger 0 -> tcp_usr_disconnect() -> tcp_drop(): RST'),
      gvisor: anyVersion('RST', 'gVisor endpoint.Close() with linger 0 resets the connection (resetConnectionLocked)'),
      lwip: anyVersion('FIN', 'lwip_netconn_do_close_internal() (lwIP src/api/api_msg.c): linger 0 aborts (tcp_abort(), RST) only while data is unsent or unacknowledged; an idle connection is closed gracefully with a FIN'),
      slirp: anyVersion('RST', "slirp is a proxy: the application's RST reaches slirp's host socket, soread() gets ECONNRESET and calls tcp_drop(), so slirp resets the guest-side connection too"),
    },
  },
  {
    id: 'unread-data', title: 'a plain close() while 5 bytes the application never read sit in the receive queue', unread: 5, linger0: false,
    first: {
      linux: anyVersion('RST', 'tcp_close(): data still unread -> RST (RFC 9293 §3.10.4, RFC 2525 §2.17), counted as TcpExt.TCPAbortOnClose'),
      freebsd: anyVersion('FIN', 'soclose() discards the unread data and disconnects gracefully: FreeBSD sends a FIN (no RFC 2525 §2.17 reset)'),
      gvisor: anyVersion('RST', 'gVisor endpoint.Close(): unread data in the receive queue -> resetConnectionLocked() (as Linux)'),
      lwip: anyVersion('RST', 'lwIP lwip_close() -> tcp_close(): with unacknowledged received data (rcv_wnd below the maximum) tcp_close_shutdown() sends an RST'),
      slirp: anyVersion('RST', "slirp passed the bytes on to its host socket, where they sit unread: the application's close() makes that kernel reset slirp's host socket, and soread() relays the ECONNRESET with tcp_drop() (RST)"),
    },
  },
];

function labCase(ac: AbortCase): LabCase {
  return {
    id: ac.id,
    title: ac.title,
    async run(ctx: CaseContext) {
      // Timestamps pinned so the segments before the close look the same from run to run (none matter here).
      const p = await probeServer(ctx, { 'net.ipv4.tcp_timestamps': 1 }, { port: SERVER_PORT });
      const { sAddr, point } = p;
      const { srv, sock, conn } = await connectCrafted(ctx, p, { port: SERVER_PORT, sport: PROBER_PORT, isn: ISN });
      if (ac.unread) {
        await ctx.step(`the client sends ${ac.unread} bytes; the server application does not read them`);
        const sent = p.wire.now();
        conn.send('P.', { payload: 'x'.repeat(ac.unread) });
        conn.sndNxt = seqAdd(conn.sndNxt, ac.unread);
        await p.wire.expect({ src: sAddr, sport: SERVER_PORT, dport: PROBER_PORT, flags: { set: '.' } }, { within: 2000, since: sent });
      }
      const sndNxt = seqAdd(conn.peerIsn, 1); // the server has sent nothing but its SYN
      await ctx.step(ac.linger0 ? 'the server application sets SO_LINGER {1, 0} and closes' : 'the server application closes (plain close())');
      const { result: since, moved } = await counting(p.server, async () => {
        const t = p.wire.now();
        await srv.call(ac.linger0 ? 'closeLinger' : 'close', ac.linger0 ? { sock: sock, secs: 0 } : { sock: sock });
        ctx.note('server', ac.linger0 ? 'setsockopt(SO_LINGER {1, 0}); close()' : 'close()');
        await ctx.sleep(CLOSE_WAIT_MS);
        return t;
      });
      const fromServer = packets(p.wire, point, (x) => x.tsNs >= since && x.segment.src === sAddr && x.segment.sport === SERVER_PORT && x.segment.dport === PROBER_PORT);
      const first = fromServer.find((x) => x.segment.flags.includes('R') || x.segment.flags.includes('F'));
      const kind = !first ? 'nothing' : first.segment.flags.includes('R') ? 'RST' : 'FIN';
      ctx.check({
        id: 'first',
        title: 'what the server stack sends when the application closes',
        expect: ac.first,
        observed: kind,
        packets: fromServer,
        counters: tcpOnly(moved),
        explain: first ? `${first.segment.flags} seq ${first.segment.seq} (the server's snd_nxt is ${sndNxt})` : `nothing within ${CLOSE_WAIT_MS} ms`,
      });
      if (first && kind === 'RST') {
        ctx.check({
          id: 'rst-seq',
          title: "the RST's sequence number is the server's snd_nxt (so the client accepts it)",
          expect: Object.fromEntries(['linux', 'freebsd', 'gvisor', 'lwip', 'slirp'].map((k) => [k, anyVersion('snd_nxt', 'an RST is acceptable when its seq is in the receive window (RFC 5961 §3: exactly RCV.NXT); a stack sends it at its snd_nxt')])),
          observed: first.segment.seq === sndNxt ? 'snd_nxt' : `snd_nxt ${first.segment.seq - sndNxt >= 0 ? '+' : ''}${(first.segment.seq - sndNxt) | 0}`,
          packets: [first],
        });
      }
      conn.send('R', { seq: conn.sndNxt, options: [] });
    },
  };
}

export const abortLab: Lab = {
  id: 'abort',
  title: 'close() that sends an RST: SO_LINGER {1, 0}, and unread data',
  summary:
    'Tuning guides suggest SO_LINGER {1, 0} to avoid TIME-WAIT: close() then sends an RST and the connection ' +
    'vanishes. Closing with data still unread does the same on some stacks. The server application closes; ' +
    'does its stack send a FIN or an RST, and at which sequence number?',
  rfcs: ['RFC 9293 §3.10.4 (CLOSE)', 'RFC 2525 §2.17 (failure to RST on close with data pending)', 'Linux tcp_close()', 'socket(7): SO_LINGER'],
  sources: ['the seeds: SO_LINGER resets as a way around TIME-WAIT', 'lab linger (the same on two local hosts, with queued data)'],
  roles: { all: ['prober', 'server'], subject: 'server' },
  remote: 'probe',
  cases: CASES.map(labCase),
};
