// docs/api.md's example: a SYN with a chosen ISN and TSval sent to a socket in TIME-WAIT; prints the answer.
import { CraftedConn, Testbed, Wire } from 'tcplab';

await using tb = await Testbed.create({ hosts: ['prober', 'server'] }); // two namespaces and a veth
const server = tb.host('server');
await using ghost = await tb.ghost('prober', 'server'); // an address the prober's kernel will not answer for
await using wire = await Wire.open({ netns: tb.host('prober').netns, ifname: tb.host('prober').iface('server').ifname });
const peer = await server.peer(); // a socket program inside the server's namespace
const l = await peer.call('listen', { addr: server.addr('prober'), port: 8080 });
const conn = new CraftedConn(wire, { src: ghost.addr, dst: server.addr('prober'), sport: 33000, dport: 8080, isn: 1_000_000, tsval: 500 });
await conn.connect();
await peer.call('close', { sock: (await peer.call('accept', { sock: l.sock, timeoutMs: 2000 })).sock }); // the server closes first
await conn.expectFin();
await conn.close(); // the server's side is now in TIME-WAIT
const since = conn.syn(conn.sndNxt + 100_000, { val: 600, ecr: 0 }); // ISN above rcv_nxt, newer TSval
const answer = await wire.expect(conn.fromPeer(), { since, within: 500 });
console.log(`TIME-WAIT answered ${answer.segment?.flags} (seq ${answer.segment?.seq}, ack ${answer.segment?.ack})`);
await peer.dispose();
