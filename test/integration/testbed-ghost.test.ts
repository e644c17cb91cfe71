// The testbed's ghost address with a real Wire: a crafted handshake from an address no kernel owns
// completes against a kernel listener, and the prober host's kernel never answers with a RST.
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { ensureBuilt } from './testbed-build.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { Wire } from '../../src/wire/wire.js';
import { isSafe } from '../../src/testbed/safety.js';

describe('ghost prober', () => {
  requireRoot();
  beforeAll(() => ensureBuilt());

  for (const family of [4, 6] as const) {
    it(`IPv${family}: crafted handshake + data from the ghost is accepted by a kernel listener, no RST from the prober's kernel`, async () => {
      await using tb = await Testbed.create({ hosts: ['prober', 'server'], ipv6: true });
      const server = tb.host('server');
      const prober = tb.host('prober');
      await using ghost = await tb.ghost('prober', 'server', family);
      expect(isSafe(ghost.addr)).toBe(true);
      expect(ghost.addr).not.toBe(prober.addr('server', family));
      expect(ghost.prober).toEqual({ host: 'prober', netns: prober.netns, ifname: prober.iface('server').ifname, mac: prober.iface('server').mac });
      expect(ghost.target.addr).toBe(server.addr('prober', family));
      // No kernel owns the ghost address.
      for (const h of [prober, server]) expect((await h.exec('ip', ['addr'])).stdout).not.toContain(`${ghost.addr}/`);

      const ps = await server.peer();
      const l = await ps.listen({ addr: ghost.target.addr, port: 8080 });
      await using wire = await Wire.open({ netns: ghost.prober.netns, ifname: ghost.prober.ifname, filter: { host: ghost.addr } });
      const base = { src: ghost.addr, dst: ghost.target.addr, sport: 40000 + family, dport: 8080 };
      const isn = 1_000_000;
      const t0 = wire.send({ ...base, seq: isn, flags: 'S', window: 64240, options: [{ kind: 'mss', value: 1400 }] });
      const synack = await wire.expect({ src: ghost.target.addr, sport: 8080, dport: base.sport, flags: { set: 'S.' } }, { since: t0, within: 2000 });
      expect(synack.segment!.ack).toBe(isn + 1);
      const srvIsn = synack.segment!.seq;
      wire.send({ ...base, seq: isn + 1, ack: srvIsn + 1, flags: '.', window: 64240 });
      const a = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
      expect(a.peer).toEqual({ addr: ghost.addr, port: base.sport });
      const t1 = wire.send({ ...base, seq: isn + 1, ack: srvIsn + 1, flags: 'P.', window: 64240, payload: 'hello from a ghost' });
      expect((await ps.recv({ sock: a.sock, timeoutMs: 2000 })).data).toBe('hello from a ghost');
      const ack = await wire.expect({ src: ghost.target.addr, sport: 8080, flags: { set: '.' } }, { since: t1, within: 2000 });
      expect(ack.segment!.ack).toBe(isn + 1 + 'hello from a ghost'.length);
      const est = await server.sockets({ state: 'ESTABLISHED', localPort: 8080 });
      expect(est.map((s) => s.peer)).toEqual([{ addr: ghost.addr, port: base.sport }]);
      // The prober's kernel stayed silent: everything that left the prober is what we crafted.
      await wire.expectNone({ src: ghost.addr, flags: { set: 'R' } }, { for: 300, since: t0 });
      const out = wire.captured.filter((p) => p.dir === 'out').map((p) => p.segment?.flags);
      expect(out).toEqual(['S', '.', 'P.']);
    });
  }

  it('removing the ghost removes the neighbour entry', async () => {
    await using tb = await Testbed.create({ hosts: ['prober', 'server'] });
    const server = tb.host('server');
    const g = await tb.ghost('prober', 'server');
    expect((await server.exec('ip', ['neigh', 'show', g.addr])).stdout).toMatch(/PERMANENT/);
    await g.dispose();
    expect((await server.exec('ip', ['neigh', 'show', g.addr])).stdout.trim()).toBe('');
    await expect(tb.ghost('prober', 'server', 6)).rejects.toThrow(/ipv6: true/);
  });
});
