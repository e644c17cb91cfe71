// What every target must do for the labs, checked the same way on each (as serialport's bindings share
// one test suite): labs only ever see the LabTarget / ProbeSession / TargetHost interface, so any stack
// that passes this runs every probe lab. test/integration/targets-conformance.test.ts runs it on one
// target of each kind; the ssh target's test runs it over sshd.
import { expect } from 'vitest';
import { STACK_OSES } from '../../src/lab/kernel.js';
import type { LabTarget } from '../../src/lab/stack.js';
import { UnsupportedError } from '../../src/testbed/unsupported.js';
import { isSafe } from '../../src/testbed/safety.js';
import { CraftedConn } from '../../src/wire/crafted.js';

export async function checkTargetContract(t: LabTarget, port = 18080): Promise<void> {
  expect(t.id).toMatch(/^[a-z0-9][a-z0-9.:@_-]*$/);
  expect(STACK_OSES as readonly string[]).toContain(t.stack.os);
  expect(t.stack.release).not.toBe('');

  const s = await t.probe({ port });
  try {
    // Crafted traffic stays in the lab range, from an address no kernel on our side owns.
    expect(isSafe(s.addr), `session addr ${s.addr}`).toBe(true);
    expect(isSafe(s.ghost), `ghost ${s.ghost}`).toBe(true);
    expect(s.ghost).not.toBe(s.addr);
    expect(s.point).toMatch(/^prober:/);
    expect(s.host.name).not.toBe('');

    // Sysctls: a value to read and write back (put back on dispose); a stack without sysctls says 'n/a'
    // on get (labs record it), ignores set, and getInt is an UnsupportedError, never another failure.
    const v = await s.sysctl.get('net.ipv4.tcp_timestamps');
    await s.sysctl.set('net.ipv4.tcp_timestamps', v);
    if (/^\d+$/.test(v)) expect(await s.sysctl.getInt('net.ipv4.tcp_timestamps')).toBe(Number(v));
    else {
      expect(v).toMatch(/^n\/a \(/);
      await expect(s.sysctl.getInt('net.ipv4.tcp_timestamps')).rejects.toBeInstanceOf(UnsupportedError);
    }
    if (s.host.counters) {
      const c = await s.host.counters();
      expect(Object.keys(c)).toEqual(expect.arrayContaining(['TcpExt', 'Tcp']));
    }
    if (s.host.sockets) expect(Array.isArray(await s.host.sockets())).toBe(true);

    // The handshake every probe lab starts with: an application listens on the stack, the ghost connects.
    const peer = await s.peer();
    const l = await peer.call('listen', { addr: s.addr, port, reuseAddr: true });
    const conn = new CraftedConn(s.wire, { src: s.ghost, dst: s.addr, sport: 40_000 + Math.floor(Math.random() * 20_000), dport: port, isn: 1000 });
    const synAck = await conn.connect(3000);
    expect(synAck.segment?.flags).toBe('S.');
    expect(synAck.segment?.ack).toBe(1001);
    const acc = await peer.call('accept', { sock: l.sock, timeoutMs: 3000 });
    expect(acc.sock).toBeGreaterThanOrEqual(0);
  } finally {
    await s.dispose();
  }
  // Disposing twice is harmless (Ctrl-C and the case's end may both do it).
  await s.dispose();
}
