// lab:template: the smallest real lab, to copy when you write a new one (CONTRIBUTING.md). It is not in
// labs/index.ts (so `tcplab list` does not show it); test/labs/template.test.ts runs it, which keeps it
// true. The story: whichever side closes first is the one left in TIME-WAIT.
//
// To make a lab of it: copy to labs/<id>.ts, rename, tell the story in `summary`, register it in
// labs/index.ts, add `lab:<id>` to package.json's scripts and a test/labs/<id>.test.ts, and tell the
// story with a real run in labs/README.md.
import type { CaseContext, Lab, LabCase } from '../src/lab/types.js';
import { packets, sockLineOr, waitSocket } from '../src/lab/evidence.js';
import { pair } from '../src/lab/fixtures.js';

const PORT = 8080;

async function closeFirst(ctx: CaseContext, first: 'client' | 'server'): Promise<void> {
  // pair(): two hosts on one link (namespaces here, or a target's kernel with --target), the sysctls the
  // story depends on pinned (and put back), a capture on the link registered for the ladder and the pcap.
  const p = await pair(ctx, ['client', 'server'], { client: { 'net.ipv4.tcp_timestamps': 1 }, server: { 'net.ipv4.tcp_timestamps': 1 } }, { port: PORT });
  ctx.setColumns([{ label: 'client', addrs: [p.aAddr] }, { label: 'server', addrs: [p.bAddr] }]);
  const cli = await p.a.peer();
  const srv = await p.b.peer();
  const l = await srv.call('listen', { addr: p.bAddr, port: PORT, reuseAddr: true });
  await ctx.step(`the client connects to ${p.bAddr}:${PORT}`);
  const con = await cli.call('connect', { addr: p.bAddr, port: PORT, timeoutMs: 2000 });
  const acc = await srv.call('accept', { sock: l.sock, timeoutMs: 2000 });
  const [closer, other, closerSock, otherSock] = first === 'client' ? [cli, srv, con.sock, acc.sock] : [srv, cli, acc.sock, con.sock];
  await ctx.step(`the ${first} closes first, then the other side reads EOF and closes`);
  await closer.call('close', { sock: closerSock });
  await other.call('recv', { sock: otherSock, timeoutMs: 2000 });
  await other.call('close', { sock: otherSock });
  // Evidence: the socket table of the side that closed first, and the FINs on the wire.
  const host = first === 'client' ? p.a : p.b;
  const local = first === 'client' ? { addr: p.aAddr, port: con.localPort } : { addr: p.bAddr, port: PORT };
  const remote = first === 'client' ? { addr: p.bAddr, port: PORT } : { addr: p.aAddr, port: con.localPort };
  const s = await waitSocket(host, local, remote, (x) => x?.state === 'TIME-WAIT');
  ctx.check({
    id: 'time-wait',
    title: `the ${first}'s socket after both closed`,
    // Expectations are data per stack, each with the kernel function it comes from.
    expect: { linux: [{ versions: '*', expect: 'TIME-WAIT', because: 'tcp_fin() / tcp_rcv_state_process(): the side that sent the first FIN goes FIN-WAIT-2 -> TIME-WAIT (tcp_time_wait()) when the peer\'s FIN arrives' }] },
    observed: s?.state ?? 'gone',
    sockets: [sockLineOr(s, first)],
    packets: packets(p.wire, p.point, (x) => x.segment.flags.includes('F')),
  });
}

const clientFirst: LabCase = { id: 'client-first', title: 'the client closes first', run: (ctx) => closeFirst(ctx, 'client') };
const serverFirst: LabCase = { id: 'server-first', title: 'the server closes first', run: (ctx) => closeFirst(ctx, 'server') };

export const templateLab: Lab = {
  id: 'template',
  title: 'the side that closes first holds the TIME-WAIT',
  summary: 'A template: one connection per case; one side closes first and the lab checks, from the socket table, that this side is the one left in TIME-WAIT.',
  rfcs: ['RFC 9293 §3.6 (closing a connection)', 'Linux tcp_time_wait()'],
  sources: ['CONTRIBUTING.md'],
  roles: { all: ['client', 'server'], subject: 'client', choices: ['client', 'server'] },
  remote: 'link',
  cases: [clientFirst, serverFirst],
};
