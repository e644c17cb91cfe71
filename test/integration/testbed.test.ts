import { readFileSync, existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { ensureBuilt } from './testbed-build.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { delta } from '../../src/testbed/counters.js';
import { listNamespaces } from '../../src/testbed/clean.js';
import { journalPath } from '../../src/testbed/names.js';
import { run } from '../../src/testbed/exec.js';
import { Wire } from '../../src/wire/wire.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until cond holds (kernel state changes trail the syscalls that cause them, more so under load). */
async function until(cond: () => Promise<boolean>, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await cond()) return;
}
const rootRead = (key: string) => readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();

describe('Testbed (namespaces, links, sysctls)', () => {
  requireRoot();
  beforeAll(() => ensureBuilt());

  it('creates prefixed namespaces with pinned links and removes them all on dispose', async () => {
    let names: string[];
    let runId: string;
    {
      await using tb = await Testbed.create({ hosts: ['client', 'server'], ipv6: true });
      runId = tb.runId;
      const c = tb.host('client');
      const s = tb.host('server');
      names = [c.netns, s.netns];
      expect(names).toEqual([`tcplab-${runId}-client`, `tcplab-${runId}-server`]);
      expect(await listNamespaces()).toEqual(expect.arrayContaining(names));
      const ci = c.iface();
      expect(ci.ifname).toMatch(/^tcplab-[0-9a-f]{6}0a$/);
      expect(ci.v4).toMatch(/^198\.1[89]\.\d+\.1$/);
      expect(s.addr('client')).toBe(ci.v4.replace(/1$/, '2'));
      expect(s.addr('client', 6)).toMatch(/^2001:2:0:[0-9a-f]+::2$/);
      // the veth never shows up in the root namespace
      expect((await run('ip', ['link', 'show', ci.ifname])).code).not.toBe(0);
      // pinned environment: pfifo, tx checksum offload off, lo up, no default route
      expect((await c.exec('tc', ['qdisc', 'show', 'dev', ci.ifname])).stdout).toMatch(/qdisc pfifo /);
      expect((await c.exec('ethtool', ['-k', ci.ifname])).stdout).toMatch(/tx-checksumming: off/);
      expect((await c.exec('ip', ['link', 'show', 'lo'])).stdout).toMatch(/UP/);
      expect((await c.exec('ip', ['route', 'show', 'default'])).stdout.trim()).toBe('');
      expect((await c.exec('ip', ['-6', 'route', 'show', 'default'])).stdout.trim()).toBe('');
      // and the link carries traffic both ways, v4 and v6
      const ps = await s.peer();
      const pc = await c.peer();
      for (const fam of [4, 6] as const) {
        const l = await ps.listen({ addr: s.addr('client', fam), port: 7000 + fam });
        const conn = await pc.connect({ addr: s.addr('client', fam), port: 7000 + fam, timeoutMs: 2000 });
        const a = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
        await pc.send({ sock: conn.sock, data: `hello v${fam}` });
        expect((await ps.recv({ sock: a.sock, timeoutMs: 2000 })).data).toBe(`hello v${fam}`);
        expect(a.peer.addr).toBe(c.addr('server', fam));
      }
      expect(existsSync(journalPath(runId))).toBe(true);
    }
    const after = await listNamespaces();
    for (const n of names) expect(after).not.toContain(n);
    expect(existsSync(journalPath(runId))).toBe(false);
  });

  it('sets sysctls in one namespace only, journals them first and restores them', async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const key = 'net.ipv4.tcp_fin_timeout';
    const rootBefore = rootRead(key);
    const orig = await s.sysctl.getInt(key);
    const target = orig === 17 ? 18 : 17;
    await s.sysctl.set(key, target);
    await s.sysctl.set(key, target + 1); // two changes: the restore must land on the original
    expect(await s.sysctl.getInt(key)).toBe(target + 1);
    expect(await c.sysctl.getInt(key)).toBe(orig);
    expect(rootRead(key)).toBe(rootBefore);
    const journal = JSON.parse(readFileSync(journalPath(tb.runId), 'utf8')) as { sysctls: Array<{ netns: string; key: string; before: string }> };
    expect(journal.sysctls).toEqual([
      { netns: s.netns, key, before: String(orig) },
      { netns: s.netns, key, before: String(target) },
    ]);
    // multi-value sysctls round-trip too
    const rmem = await s.sysctl.get('net.ipv4.tcp_rmem');
    await s.sysctl.set('net.ipv4.tcp_rmem', [4096, 65536, 1048576]);
    expect(await s.sysctl.get('net.ipv4.tcp_rmem')).toBe('4096 65536 1048576');
    await s.dispose(); // host-level undo, while the namespace still exists to look at
    expect(await s.sysctl.getInt(key)).toBe(orig);
    expect(await s.sysctl.get('net.ipv4.tcp_rmem')).toBe(rmem);
    const j2 = JSON.parse(readFileSync(journalPath(tb.runId), 'utf8')) as { sysctls: unknown[] };
    expect(j2.sysctls).toEqual([]);
    await expect(s.sysctl.set('net.ipv4.no_such_knob', 1)).rejects.toThrow(/No such file|cannot/);
  });

  it('server closes first: TIME-WAIT with a ~60 s timer on the server, nothing on the client', async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const ps = await s.peer();
    const pc = await c.peer();
    const before = await s.counters();
    const l = await ps.listen({ addr: s.addr(), port: 8080 });
    const conn = await pc.connect({ addr: s.addr(), port: 8080, timeoutMs: 2000 });
    const a = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
    await ps.close({ sock: a.sock });
    expect((await pc.recv({ sock: conn.sock, timeoutMs: 2000 })).eof).toBe(true);
    await pc.close({ sock: conn.sock });
    await until(async () => (await s.sockets({ state: 'TIME-WAIT' })).length > 0 && (await c.sockets({ port: 8080 })).length === 0);
    const tw = await s.sockets({ state: 'TIME-WAIT' });
    expect(tw).toHaveLength(1);
    expect(tw[0]!.local).toEqual({ addr: s.addr(), port: 8080 });
    expect(tw[0]!.peer).toEqual({ addr: c.addr(), port: conn.localPort });
    expect(tw[0]!.timer?.kind).toBe('timewait');
    expect(tw[0]!.timer!.remainingMs).toBeGreaterThanOrEqual(55_000);
    expect(tw[0]!.timer!.remainingMs).toBeLessThanOrEqual(60_000);
    expect(await c.sockets({ port: 8080 })).toEqual([]);
    const d = delta(before, await s.counters());
    expect(d.Tcp.PassiveOpens).toBe(1);
    expect(d.Tcp.ActiveOpens).toBe(0);
  });

  it('reconnecting from a fixed port after an active close: EADDRINUSE or EADDRNOTAVAIL (reported), SO_REUSEADDR outcome reported', async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const ps = await s.peer();
    const pc = await c.peer();
    const l = await ps.listen({ addr: s.addr(), port: 8080, reuseAddr: true });
    const localPort = 41000;
    // SO_REUSEADDR on the first socket too: the TIME-WAIT socket inherits it, and bind() only lets a
    // new socket share the port when both have it.
    const first = await pc.connect({ addr: s.addr(), port: 8080, localPort, reuseAddr: true, timeoutMs: 2000 });
    expect(first.localPort).toBe(localPort);
    const a = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
    await pc.close({ sock: first.sock }); // client closes first: the client holds TIME-WAIT
    expect((await ps.recv({ sock: a.sock, timeoutMs: 2000 })).eof).toBe(true);
    await ps.close({ sock: a.sock });
    await until(async () => (await c.sockets({ state: 'TIME-WAIT', localPort })).length === 1);
    expect((await c.sockets({ state: 'TIME-WAIT', localPort })).length).toBe(1);
    const plain = await pc.try('connect', { addr: s.addr(), port: 8080, localPort, timeoutMs: 2000 });
    const reuse = await pc.try('connect', { addr: s.addr(), port: 8080, localPort, reuseAddr: true, timeoutMs: 2000 });
    const report = (r: typeof plain) => (r.ok ? 'connected' : `${r.code} from ${r.syscall}`);
    console.log(`fixed-port reconnect after active close: without SO_REUSEADDR ${report(plain)}; with SO_REUSEADDR ${report(reuse)}`);
    // Without SO_REUSEADDR the port is taken by the TIME-WAIT socket. With it on both sockets, what
    // happens is the kernel's business (6.18: bind succeeds and connect() too); it is reported, and
    // checked only to be a known outcome.
    expect(plain.ok).toBe(false);
    if (!plain.ok) expect(['EADDRINUSE', 'EADDRNOTAVAIL']).toContain(plain.code);
    if (!reuse.ok) expect(['EADDRINUSE', 'EADDRNOTAVAIL']).toContain(reuse.code);
    else console.log(`  with SO_REUSEADDR: client sockets on port ${localPort}:`, (await c.sockets({ localPort })).map((x) => x.state).join(', '));
  });

  it("dropping the client's final ACK leaves the server in LAST-ACK, retransmitting its FIN", async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const ps = await s.peer();
    const pc = await c.peer();
    const l = await ps.listen({ addr: s.addr(), port: 8080 });
    const conn = await pc.connect({ addr: s.addr(), port: 8080, timeoutMs: 2000 });
    const a = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
    // Capture on the server's side of the link.
    await using wire = await Wire.open({ netns: s.netns, ifname: s.iface().ifname, filter: { port: 8080 } });
    const before = await s.counters();
    await using imp = await c.impair({ dir: 'out', match: { tcpFlags: 'ack-only', sport: conn.localPort, dport: 8080 } });
    await pc.close({ sock: conn.sock });
    expect((await ps.recv({ sock: a.sock, timeoutMs: 2000 })).eof).toBe(true);
    await ps.close({ sock: a.sock });
    await sleep(1700); // TLP ~200 ms, then RTO 200, 400, 800 ms: 3-4 retransmissions
    const la = await s.sockets({ state: 'LAST-ACK' });
    expect(la).toHaveLength(1);
    expect(la[0]!.peer.port).toBe(conn.localPort);
    expect(la[0]!.timer?.kind).toBe('on');
    expect(await imp.dropped()).toBeGreaterThanOrEqual(2);
    const fins = wire.captured.filter((p) => p.dir === 'out' && p.segment?.flags.includes('F'));
    expect(fins.length).toBeGreaterThanOrEqual(4);
    expect(new Set(fins.map((p) => p.segment!.seq)).size).toBe(1); // the same FIN, retransmitted
    // Backoff: the first retransmission is a tail loss probe (~RTO_MIN for one packet out), then the
    // RTO doubles. Gaps never shrink (beyond timer slack) and the last clearly exceeds the first.
    const gaps = fins.slice(1).map((p, i) => Number(p.tsNs - fins[i]!.tsNs) / 1e6);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]! * 0.85);
    expect(gaps[gaps.length - 1]!).toBeGreaterThan(gaps[0]! * 1.5);
    // and no ACK of that FIN ever reached the server
    const finSeq = fins[0]!.segment!.seq;
    expect(wire.captured.filter((p) => p.dir === 'in' && p.segment!.ack === (finSeq + 1) >>> 0)).toEqual([]);
    expect(delta(before, await s.counters()).Tcp.RetransSegs).toBeGreaterThanOrEqual(2);
    // Lifting the impairment lets the next retransmitted FIN be acked: LAST-ACK goes away.
    await imp.dispose();
    for (let i = 0; i < 40 && (await s.sockets({ state: 'LAST-ACK' })).length > 0; i++) await sleep(100);
    expect(await s.sockets({ state: 'LAST-ACK' })).toEqual([]);
  });

  it('an inbound impairment drops SYNs to one port only, counts them, and is gone after dispose', async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const pc = await c.peer();
    const ps = await s.peer();
    await ps.listen({ addr: s.addr(), port: 9100 });
    const imp = await s.impair({ dir: 'in', match: { tcpFlags: 'syn', dport: 9 } });
    const dropped = await pc.try('connect', { addr: s.addr(), port: 9, timeoutMs: 400 });
    expect(dropped).toMatchObject({ ok: false, code: 'ETIMEDOUT', timedOut: true });
    expect(await imp.dropped()).toBeGreaterThanOrEqual(1);
    // other ports are untouched
    expect((await pc.connect({ addr: s.addr(), port: 9100, timeoutMs: 2000 })).localPort).toBeGreaterThan(0);
    await imp.dispose();
    const nft = await s.exec('nft', ['list', 'table', 'inet', `tcplab-${tb.runId}`]);
    expect(nft.stdout).not.toContain('dport 9 ');
    expect(await pc.try('connect', { addr: s.addr(), port: 9, timeoutMs: 2000 })).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    await expect(s.impair({ dir: 'in', match: { daddr: 'bad' } })).rejects.toThrow(/match.daddr/);
  });

  it('refuses addresses outside the benchmarking ranges unless told otherwise, creating nothing', async () => {
    const runId = 'ee0001';
    await expect(Testbed.create({ runId, v4Subnets: ['10.9.9.0'] })).rejects.toThrow(/outside 198\.18\.0\.0\/15.*allowUnsafeAddresses/);
    await expect(Testbed.create({ runId, v4Subnets: ['192.168.1.0'] })).rejects.toThrow(RangeError);
    expect((await listNamespaces()).filter((n) => n.includes(runId))).toEqual([]);
    expect(existsSync(journalPath(runId))).toBe(false);
    await using tb = await Testbed.create({ v4Subnets: ['198.19.250.0'] });
    expect(tb.host('server').addr()).toBe('198.19.250.2');
  });

  it('delay is a clear unsupported error on a kernel without netem, leaving the qdisc pinned', async () => {
    await using tb = await Testbed.create();
    const c = tb.host('client');
    const netem = await c.exec('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    if (netem.code === 0) {
      await c.exec('tc', ['qdisc', 'del', 'dev', 'lo', 'root']);
      await using _delay = await c.impair({ dir: "out", match: {}, delayMs: 5 });
      expect((await c.exec('tc', ['qdisc', 'show', 'dev', c.iface().ifname])).stdout).toMatch(/netem/);
      return;
    }
    await expect(c.impair({ dir: 'out', match: {}, delayMs: 5 })).rejects.toMatchObject({ code: 'EUNSUPPORTED', message: expect.stringMatching(/netem/) });
    expect((await c.exec('tc', ['qdisc', 'show', 'dev', c.iface().ifname])).stdout).toMatch(/qdisc pfifo /);
  });

  it('parallel testbeds get distinct names and addresses and do not collide', async () => {
    const tbs = await Promise.all([0, 1, 2].map(() => Testbed.create()));
    try {
      expect(new Set(tbs.map((t) => t.runId)).size).toBe(3);
      const ns = tbs.flatMap((t) => [...t.hosts.values()].map((h) => h.netns));
      expect(new Set(ns).size).toBe(6);
      await Promise.all(tbs.map(async (tb, i) => {
        const s = tb.host('server');
        const ps = await s.peer();
        const pc = await tb.host('client').peer();
        await s.sysctl.set('net.ipv4.tcp_fin_timeout', 20 + i);
        const l = await ps.listen({ addr: s.addr(), port: 9000 });
        const conn = await pc.connect({ addr: s.addr(), port: 9000, timeoutMs: 2000 });
        await ps.accept({ sock: l.sock, timeoutMs: 2000 });
        await pc.send({ sock: conn.sock, data: `tb${i}` });
      }));
      for (const [i, tb] of tbs.entries()) {
        expect(await tb.host('server').sysctl.getInt('net.ipv4.tcp_fin_timeout')).toBe(20 + i);
        expect(await tb.host('server').sockets({ state: 'ESTABLISHED' })).toHaveLength(1);
      }
    } finally {
      await Promise.all(tbs.map((t) => t.dispose()));
    }
    const left = await listNamespaces();
    for (const tb of tbs) expect(left.filter((n) => n.includes(tb.runId))).toEqual([]);
  });
});
