import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { ensureBuilt } from './testbed-build.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { sock } from '../../src/peer/sock.js';
import { isAlive } from '../../src/testbed/journal.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await cond()) return true;
  return cond();
}

describe('native sock: argument checking', () => {
  it('throws TypeError/RangeError naming the field, errors of the system come back as values', () => {
    const s = sock();
    expect(() => s.recv('3' as unknown as number, 10, 10)).toThrow(/^fd: /);
    expect(() => s.socket(5 as 4)).toThrow(RangeError);
    expect(() => s.bind(0, 'nope', 80)).toThrow(/addr: 'nope' is not an IPv4 or IPv6/);
    expect(() => s.bind(0, '127.0.0.1', 70000)).toThrow(/port: must be an integer/);
    expect(() => s.shutdown(0, 'both' as 'rd')).toThrow(/how: expected/);
    expect(s.close(1 << 29)).toMatchObject({ ok: false, code: 'EBADF', syscall: 'close' });
  });
});

describe('peer program', () => {
  requireRoot();
  beforeAll(() => ensureBuilt());

  it('answers malformed requests with EBADREQUEST naming the field', async () => {
    await using tb = await Testbed.create({ hosts: ['solo'] });
    const p = await tb.host('solo').peer();
    expect(await p.try('bogus' as 'ping', {})).toMatchObject({ ok: false, code: 'EBADREQUEST', message: expect.stringMatching(/op: unknown operation/) });
    expect(await p.try('close', { sock: 99 })).toMatchObject({ ok: false, code: 'EBADREQUEST', message: expect.stringMatching(/sock: no open socket/) });
    expect(await p.try('listen', { addr: '127.0.0.1', port: -1 })).toMatchObject({ ok: false, message: expect.stringMatching(/^port:/) });
    expect(await p.try('listen', { addr: 'x', port: 1 })).toMatchObject({ ok: false, message: expect.stringMatching(/^addr:/) });
    expect(await p.try('connect', { addr: '127.0.0.1', port: 1, timeoutMs: 1000 })).toMatchObject({ ok: false, code: 'ECONNREFUSED', syscall: 'connect' });
    expect((await p.ping()).sockets).toBe(0); // the failed connect did not leak its socket
  });

  it('closeLinger 0 resets, shutdown(wr) half-closes, info reports kernel state', async () => {
    await using tb = await Testbed.create();
    const s = tb.host('server');
    const c = tb.host('client');
    const ps = await s.peer();
    const pc = await c.peer();
    const l = await ps.listen({ addr: s.addr(), port: 8080 });
    const c1 = await pc.connect({ addr: s.addr(), port: 8080, timeoutMs: 2000 });
    const a1 = await ps.accept({ sock: l.sock, timeoutMs: 2000 });
    expect(await pc.info({ sock: c1.sock })).toMatchObject({ state: 'ESTABLISHED', local: { port: c1.localPort }, remote: { addr: s.addr(), port: 8080 } });
    await pc.shutdown({ sock: c1.sock, how: 'wr' });
    expect((await ps.recv({ sock: a1.sock, timeoutMs: 2000 })).eof).toBe(true);
    await ps.send({ sock: a1.sock, data: 'still open' });
    expect((await pc.recv({ sock: c1.sock, timeoutMs: 2000 })).data).toBe('still open');
    expect((await pc.info({ sock: c1.sock })).state).toBe('FIN-WAIT-2');
    await ps.closeLinger({ sock: a1.sock, secs: 0 });
    expect(await pc.try('recv', { sock: c1.sock, timeoutMs: 2000 })).toMatchObject({ ok: false, code: 'ECONNRESET' });
    expect(await s.sockets({ state: 'TIME-WAIT' })).toEqual([]); // RST, not FIN: no TIME-WAIT
    const r = await pc.recv({ sock: (await pc.connect({ addr: s.addr(), port: 8080, timeoutMs: 2000 })).sock, timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, eof: false, bytes: 0 });
  });

  it('closes its sockets and exits when stdin closes', async () => {
    await using tb = await Testbed.create({ hosts: ['solo'] });
    const h = tb.host('solo');
    const p = await h.peer();
    await p.listen({ addr: '127.0.0.1', port: 5555 });
    expect(await h.sockets({ state: 'LISTEN', localPort: 5555 })).toHaveLength(1);
    const pid = p.pid!;
    await p.dispose();
    expect(isAlive(pid)).toBe(false);
    expect(await h.sockets({ localPort: 5555 })).toEqual([]);
  });

  it('dies with its parent, even when the parent is SIGKILLed', async () => {
    await using tb = await Testbed.create({ hosts: ['solo'] });
    const h = tb.host('solo');
    const parent = spawn(process.execPath, [new URL('../fixtures/testbed-peer-parent.mjs', import.meta.url).pathname, h.netns, '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res) => createInterface({ input: parent.stdout! }).once('line', res));
    const { pid } = JSON.parse(line) as { pid: number };
    expect(isAlive(pid)).toBe(true);
    expect(await h.sockets({ state: 'LISTEN', localPort: 7777 })).toHaveLength(1);
    parent.kill('SIGKILL');
    expect(await waitFor(() => !isAlive(pid), 3000)).toBe(true);
    expect(await h.sockets({ localPort: 7777 })).toEqual([]);
  });

  it('a peer killed from outside fails its pending and later requests instead of hanging', async () => {
    await using tb = await Testbed.create({ hosts: ['solo'] });
    const p = await tb.host('solo').peer();
    const l = await p.listen({ addr: '127.0.0.1', port: 6000 });
    const pending = p.try('accept', { sock: l.sock, timeoutMs: 10_000 });
    await sleep(100);
    process.kill(p.pid!, 'SIGKILL');
    await expect(pending).rejects.toThrow(/peer exited .*SIGKILL/);
    await expect(p.ping()).rejects.toThrow(/already exited/);
    await p.dispose(); // idempotent after death
  });
});
