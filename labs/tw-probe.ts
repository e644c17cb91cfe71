// TIME-WAITs on the stack under test, one per crafted connection, and their timers read from its socket
// table: ss for a namespace of this machine (whole seconds above 10 s), a QEMU guest's /proc/net/tcp
// (tm->when, 10 ms steps).
import type { PacketRecord } from '../src/lab/packets.js';
import type { CaseContext } from '../src/lab/types.js';
import type { SocketEntry } from '../src/testbed/ss.js';
import { CraftedConn } from '../src/wire/crafted.js';
import type { PeerClient } from '../src/peer/client.js';
import { socketOf } from '../src/lab/evidence.js';
import type { Endpoint } from '../src/wire/types.js';
import type { Probe } from '../src/lab/fixtures.js';

export interface ServerTimeWait {
  conn: CraftedConn;
  /** The server's end and the prober's end of the 4-tuple. */
  local: Endpoint;
  remote: Endpoint;
  fromServer: (x: PacketRecord) => boolean;
  fromProber: (x: PacketRecord) => boolean;
}

/**
 * `n` connections from the ghost prober (ports basePort..basePort+n-1, timestamps on), each closed by the
 * server first (close(): FIN), then by the prober (its FIN, which the server ACKs): n TIME-WAITs on the
 * server, in the real TIME-WAIT substate (tw_substate TCP_TIME_WAIT). The prober sends nothing after.
 */
export async function serverTimeWaits(ctx: CaseContext, p: Probe, o: { port: number; basePort: number; n: number; isn: number; tsval: number }): Promise<{ tws: ServerTimeWait[]; srv: PeerClient }> {
  ctx.setColumns([{ label: 'client (prober)', addrs: [p.ghostAddr] }, { label: 'server', addrs: [p.sAddr] }]);
  const srv = await p.peer();
  const l = await srv.call('listen', { addr: p.sAddr, port: o.port, reuseAddr: true });
  const tws: ServerTimeWait[] = [];
  for (let i = 0; i < o.n; i++) {
    const sport = o.basePort + i;
    const conn = new CraftedConn(p.wire, { src: p.ghostAddr, dst: p.sAddr, sport, dport: o.port, isn: o.isn + i * 1_000_000, tsval: o.tsval + i * 1000 });
    await conn.connect(3000);
    const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 3000 });
    await srv.call('close', { sock: acc.sock });
    await conn.expectFin(3000);
    await conn.close(3000);
    tws.push({
      conn,
      local: { addr: p.sAddr, port: o.port },
      remote: { addr: p.ghostAddr, port: sport },
      fromServer: (x) => x.segment.src === p.sAddr && x.segment.sport === o.port && x.segment.dport === sport,
      fromProber: (x) => x.segment.src === p.ghostAddr && x.segment.sport === sport && x.segment.dport === o.port,
    });
  }
  return { tws, srv };
}

/** The socket of a 4-tuple with its timer, from the stack's socket table (see the file's head for the resolution). */
export async function timerOf(p: Probe, local: Endpoint, remote: Endpoint): Promise<SocketEntry | undefined> {
  if (!p.server.sockets) throw new Error(`${p.server.name}: this stack shows no socket table, so its TIME-WAIT timer cannot be read`);
  return socketOf(p.server, local, remote);
}

/** The segments a TIME-WAIT may receive from its old peer, crafted on the prober's side of the 4-tuple. */
export type TwSegment = 'ack' | 'ack-oow' | 'fin' | 'data' | 'syn-refused' | 'syn-paws' | 'rst';

export const TW_SEGMENTS: Readonly<Record<TwSegment, string>> = {
  ack: 'a bare ACK at rcv_nxt (the ACK of the FIN, again)',
  'ack-oow': 'an out-of-window ACK (seq 5000 below rcv_nxt)',
  fin: 'a retransmitted FIN (seq rcv_nxt - 1)',
  data: 'data at rcv_nxt (4 bytes after the FIN was acknowledged)',
  'syn-refused': 'a SYN below rcv_nxt without a timestamp (not a new connection: refused)',
  'syn-paws': 'a SYN above rcv_nxt whose TSval went backwards (rejected by PAWS)',
  rst: 'an RST at rcv_nxt with tcp_rfc1337=1 (ignored)',
};

/** Sends one segment of a kind on a TIME-WAIT's 4-tuple; returns the capture clock just before. */
export function sendTw(tw: ServerTimeWait, kind: TwSegment): bigint {
  const c = tw.conn;
  const rcvNxt = c.sndNxt; // the server's rcv_nxt: past the prober's FIN
  const back = (n: number) => (rcvNxt - n) >>> 0;
  switch (kind) {
    case 'ack': return c.send('.');
    case 'ack-oow': return c.send('.', { seq: back(5000) });
    case 'fin': return c.send('F.', { seq: back(1) });
    case 'data': return c.send('P.', { payload: 'late' });
    case 'syn-refused': return c.send('S', { seq: back(5000), options: [{ kind: 'mss', value: 1460 }] });
    case 'syn-paws': {
      const old = ((c.tsval ?? 0) - 500_000) >>> 0;
      return c.send('S', { seq: (rcvNxt + 100_000) >>> 0, options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: old, ecr: 0 }] });
    }
    case 'rst': return c.send('R', { seq: rcvNxt, options: [] });
  }
}
