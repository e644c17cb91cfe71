// The Linux 6.1 QEMU target: boots, answers as a host (sysctl, sockets, counters, peers), runs
// lab:timewait-syn, and leaves no qemu process or namespace behind.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuTarget } from '../../src/targets/qemu.js';
import { runLab } from '../../src/lab/runner.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { requireRoot } from '../helpers/root.js';

function qemuPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'qemu-system-x86_64.*tcplab'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('linux-6.1-qemu target', () => {
  requireRoot();
  let t: QemuTarget;
  const before = new Set(qemuPids());
  beforeAll(async () => {
    t = await QemuTarget.start();
  }, 200_000);
  afterAll(async () => {
    await t?.dispose();
  }, 60_000);

  it('is Debian 6.1 and works as a host: sysctl, listen, socket table, counters', async () => {
    expect(t.stack.os).toBe('linux');
    expect(t.stack.version.slice(0, 2)).toEqual([6, 1]);
    expect(t.stack.release).toMatch(/^6\.1\.0-\d+-amd64$/);
    await using s = await t.probe({ port: 8081 });
    await s.sysctl.set('net.ipv4.tcp_fin_timeout', 17);
    expect(await s.sysctl.getInt('net.ipv4.tcp_fin_timeout')).toBe(17);
    const p = await s.peer();
    const l = await p.call('listen', { addr: s.addr, port: 8081, reuseAddr: true });
    expect(l.port).toBe(8081);
    const socks = await t.host.sockets({ state: 'LISTEN', localPort: 8081 });
    expect(socks.map((x) => `${x.local.addr}:${x.local.port}`)).toEqual([`${s.addr}:8081`]);
    const c = await t.host.counters();
    expect(c.Tcp.PassiveOpens).toBeGreaterThanOrEqual(0);
    expect(Object.keys(c.TcpExt).length).toBeGreaterThan(50);
    await s.dispose();
    // the session put the sysctl back and closed the peer's listener
    expect(await t.host.sysctl.getInt('net.ipv4.tcp_fin_timeout')).toBe(60);
    expect(await t.host.sockets({ state: 'LISTEN', localPort: 8081 })).toEqual([]);
  }, 60_000);

  it('runs lab:timewait-syn (its cases pass against the Linux expectations)', async () => {
    const r = await runLab(timewaitSynLab, { target: t, cases: ['isn-above', 'isn-below', 'ts-older-isn-above'] });
    const summary = r.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''} ${c.checks.map((k) => `${k.id}=${JSON.stringify(k.observed)}/${k.verdict}`).join(' ')}`);
    expect(summary.join('\n')).not.toMatch(/ERROR/);
    const answers = Object.fromEntries(r.cases.map((c) => [c.id, c.checks.find((k) => k.id === 'answer')?.observed]));
    expect(answers).toEqual({ 'isn-above': 'SYN-ACK', 'isn-below': 'ACK', 'ts-older-isn-above': 'ACK' });
    // the packets came from the guest's kernel over the tap
    expect(r.cases[0]!.packets.some((p) => p.segment.src === t.host.addrV4 && p.segment.flags === 'S.')).toBe(true);
  }, 90_000);

  it('leaves no qemu process and no namespace', async () => {
    const ns = t.netns;
    await t.dispose();
    expect(qemuPids().filter((p) => !before.has(p))).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(ns);
  }, 60_000);
});
