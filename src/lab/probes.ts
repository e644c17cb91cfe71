// Probes of a stack under test through the ghost prober: a crafted client connected to the stack's
// server, and the TIME-WAIT liveness probe (the socket table where there is one, else the answer to a
// retransmitted FIN).
import { CraftedConn } from '../wire/crafted.js';
import type { Captured } from '../wire/wire.js';
import type { Endpoint } from '../wire/types.js';
import type { PeerClient } from '../peer/client.js';
import type { PacketRecord } from './packets.js';
import type { CaseContext } from './types.js';
import type { Probe } from './fixtures.js';
import { classifyReply, packets, socketOf, sockLineOr } from './evidence.js';

export const FIN_ACK = 'a TIME-WAIT acknowledges a retransmitted FIN (RFC 9293 §3.10.7.4, TIME-WAIT: "acknowledge it, and restart the 2 MSL timeout")';

/** What the stack answers to a retransmission of the prober's FIN: a live TIME-WAIT ACKs it, a closed 4-tuple RSTs. */
function finProbeState(reply: PacketRecord | undefined): string {
  const r = classifyReply(reply);
  return r === 'ACK' ? 'TIME-WAIT' : r === 'RST' ? 'gone' : `unknown (${r} to the FIN)`;
}

export interface Liveness {
  state: string;
  sockets: string[];
  packets: PacketRecord[];
}

/** Is the server's TIME-WAIT still there? Its socket table says so where it has one; elsewhere its answer to a retransmitted FIN. */
export async function liveness(ctx: CaseContext, p: Probe, conn: CraftedConn, finSeq: number, local: Endpoint, remote: Endpoint, fromServer: (x: PacketRecord) => boolean, waitMs = 150): Promise<Liveness> {
  if (p.server.sockets) {
    const s = await socketOf(p.server, local, remote);
    return { state: s?.state ?? 'gone', sockets: [sockLineOr(s)], packets: [] };
  }
  const since = conn.send('F.', { seq: finSeq }); // with the connection's next timestamp, if it has them
  await ctx.sleep(waitMs);
  const fin = packets(p.wire, p.point, (x) => x.tsNs >= since && x.segment.src === p.ghostAddr && x.segment.flags.includes('F'))[0];
  const reply = packets(p.wire, p.point, (x) => x.tsNs >= since && fromServer(x))[0];
  return { state: finProbeState(reply), sockets: [`(no socket table: asked with a retransmitted FIN, seq ${finSeq}; ${FIN_ACK}, a closed 4-tuple answers RST)`], packets: [fin, reply].filter((x): x is PacketRecord => !!x) };
}

export interface CraftedClient {
  /** The server application's peer, and its accepted socket. */
  srv: PeerClient;
  sock: number;
  /** The ghost prober as a scripted client, connected. */
  conn: CraftedConn;
  synAck: Captured;
}

/** The server application listens on the stack under test and a crafted client (the ghost prober) connects to it. */
export async function connectCrafted(ctx: CaseContext, p: Probe, o: { port: number; sport: number; isn: number; tsval?: number }): Promise<CraftedClient> {
  ctx.setColumns([{ label: 'client (prober)', addrs: [p.ghostAddr] }, { label: 'server', addrs: [p.sAddr] }]);
  const srv = await p.peer();
  const l = await srv.call('listen', { addr: p.sAddr, port: o.port, reuseAddr: true });
  const ts = o.tsval === undefined ? '' : `, offering timestamps from TSval ${o.tsval}`;
  await ctx.step(`server listens on ${p.sAddr}:${o.port}; the client is a crafted prober at ghost address ${p.ghostAddr}${ts}`);
  const conn = new CraftedConn(p.wire, { src: p.ghostAddr, dst: p.sAddr, sport: o.sport, dport: o.port, isn: o.isn, ...(o.tsval === undefined ? {} : { tsval: o.tsval }) });
  const synAck = await conn.connect();
  const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
  return { srv, sock: acc.sock, conn, synAck };
}
