// Pure parts of the targets and the matrix (no root): /proc/net/tcp parsing, the guest channel's
// routing, the matrix's rows and Markdown.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatV6, parseProcNetTcp } from '../../src/targets/proc-net-tcp.js';
import { GuestChannel } from '../../src/targets/guest-channel.js';
import { differingRows, matrixMarkdown, type MatrixResult } from '../../src/matrix/matrix.js';

describe('parseProcNetTcp', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0200A8C6:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 527 1 00000000b0d51004 100 0 0 10 0',
    '   1: 0200A8C6:1F90 C800A8C6:80E8 06 00000000:00000000 03:00001420 00000000     0        0 0 3 0000000032881c5e',
    '   2: 0200A8C6:1F90 C900A8C6:80E8 01 00000010:00000000 01:0000002A 00000002     0        0 999 2 0000000032881c5e 20 4 1 10 -1',
    '   3: garbage line',
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 02000120000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0',
    '   1: 0000000000000000FFFF00000200A8C6:1F90 0000000000000000FFFF0000C800A8C6:80E8 06 00000000:00000000 03:000000FA 00000000     0        0 0 3 0',
  ].join('\n');
  const s = parseProcNetTcp(text);

  it('reads v4 states, endpoints (little-endian words), queues and timers', () => {
    expect(s).toHaveLength(5);
    expect(s[0]).toMatchObject({ state: 'LISTEN', local: { addr: '198.168.0.2', port: 8080 }, peer: { addr: '0.0.0.0', port: null }, recvQ: 3, sendQ: 0 });
    expect(s[0]!.timer).toBeUndefined();
    // 0x1420 ticks of 1/100 s = 51.52 s left in TIME-WAIT
    expect(s[1]).toMatchObject({ state: 'TIME-WAIT', peer: { addr: '198.168.0.200', port: 33000 }, timer: { kind: 'timewait', remainingMs: 51_520 } });
    expect(s[2]).toMatchObject({ state: 'ESTABLISHED', sendQ: 16, timer: { kind: 'on', remainingMs: 420, count: 2 } });
  });

  it('reads v6 endpoints (four host-order words) and IPv4-mapped addresses', () => {
    expect(s[3]).toMatchObject({ state: 'LISTEN', local: { addr: '2001:2::1', port: 8080 } });
    expect(s[4]).toMatchObject({ state: 'TIME-WAIT', local: { addr: '::ffff:198.168.0.2' }, peer: { addr: '::ffff:198.168.0.200', port: 33000 } });
  });

  it('formats IPv6 like RFC 5952 (longest zero run, not a single zero)', () => {
    expect(formatV6([0x2001, 2, 0, 0, 0, 0, 0, 1])).toBe('2001:2::1');
    expect(formatV6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatV6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
  });

  it('never throws on junk', () => {
    expect(parseProcNetTcp('')).toEqual([]);
    expect(parseProcNetTcp('0: zz:zz yy 0A')).toEqual([]);
  });
});

describe('GuestChannel', () => {
  function pair() {
    const fromGuest = new PassThrough();
    const toGuest = new PassThrough();
    const ch = new GuestChannel(fromGuest, toGuest, 'test guest');
    const sent: Record<string, unknown>[] = [];
    toGuest.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach((l) => sent.push(JSON.parse(l))));
    return { ch, fromGuest, sent };
  }

  it('routes admin answers by id and peer answers by channel; a peer dispose closes its channel', async () => {
    const { ch, fromGuest, sent } = pair();
    fromGuest.write('garbage from the console\n{"id":0,"ok":true,"ready":true}\n');
    await ch.ready;
    const read = ch.read('/proc/net/tcp');
    await new Promise((r) => setImmediate(r));
    expect(sent[0]).toMatchObject({ op: 'read', path: '/proc/net/tcp' });
    fromGuest.write(JSON.stringify({ id: sent[0]!.id, ok: true, data: 'x' }) + '\n');
    expect(await read).toBe('x');

    const peerP = ch.peer(1000);
    await new Promise((r) => setImmediate(r));
    const ping = sent[1]!;
    expect(ping).toMatchObject({ op: 'ping', ch: 1 });
    // same id as an admin call, but on channel 1: goes to the peer
    fromGuest.write(JSON.stringify({ id: ping.id, ch: 1, ok: true, pid: 1, sockets: 0 }) + '\n');
    const peer = await peerP;
    const disposed = peer.dispose();
    await new Promise((r) => setImmediate(r));
    const closeAll = sent.find((m) => m.op === 'closeAll')!;
    expect(closeAll).toMatchObject({ of: 1 });
    expect(closeAll.ch).toBeUndefined();
    fromGuest.write(JSON.stringify({ id: closeAll.id, ok: true, closed: 0 }) + '\n');
    await disposed;
  });

  it('a failure answer throws with the errno name; a dead guest fails pending calls', async () => {
    const { ch, fromGuest, sent } = pair();
    const p = ch.read('/nope');
    await new Promise((r) => setImmediate(r));
    fromGuest.write(JSON.stringify({ id: sent[0]!.id, ok: false, code: 'ENOENT', message: 'No such file or directory' }) + '\n');
    await expect(p).rejects.toThrow(/ENOENT|No such file/);
    const q = ch.read('/x');
    ch.fail(new Error('qemu exited'));
    await expect(q).rejects.toThrow('qemu exited');
  });
});

describe('matrix Markdown', () => {
  const m: MatrixResult = {
    schema: 'tcplab.matrix/1',
    startedAt: '2026-01-01T00:00:00Z',
    labs: ['timewait-syn'],
    stacks: [
      { id: 'a', title: 'A', stack: { os: 'linux', release: '6.18', version: [6, 18, 0] } },
      { id: 'b', title: 'B', stack: { os: 'slirp', release: 'libslirp 4.7.0', version: [4, 7, 0] } },
      { id: 'c', title: 'C', unavailable: 'runsc is not installed' },
    ],
    rows: [
      { lab: 'l', case: 'x', caseTitle: 'case x', check: 'answer', checkTitle: 'the answer', errors: {}, cells: {
        a: { observed: 'SYN-ACK', verdict: 'PASS', expected: '"SYN-ACK"', rule: 'linux *', pcap: 'a/l-x.pcap' },
        b: { observed: 'RST', verdict: 'DIFFERS', expected: '"ACK"', rule: 'slirp *' },
      } },
      { lab: 'l', case: 'x', caseTitle: 'case x', check: 'tw', checkTitle: 'a|b', errors: {}, cells: {
        a: { observed: 'TIME-WAIT', verdict: 'PASS', expected: '"TIME-WAIT"', rule: 'linux *' },
      } },
    ],
    reports: {},
  };
  it('has a column per stack, DIFFERS where a stack differs from its expectation, and says why a stack did not run', () => {
    const md = matrixMarkdown(m);
    expect(md).toContain('| case / check | a | b | c |');
    // The case's row carries the links once; the check rows hold the values (titles escaped too).
    expect(md).toContain('| **case x** | [pcap](a/l-x.pcap) |  |  |');
    expect(md).toContain('| the answer | SYN-ACK | **DIFFERS**: RST (expected "ACK") | unavailable |');
    expect(md).toContain('\n| a\\|b | TIME-WAIT | — | unavailable |');
    expect(md).toContain('**unavailable: runsc is not installed**');
    expect(differingRows(m).map((r) => r.check)).toEqual(['answer']);
  });
});

describe('runOnTarget / findStack', () => {
  it('runs on the local kernel for linux-host or no target, and names the stacks for an unknown id', async () => {
    const { runOnTarget } = await import('../../src/cli/matrix.js');
    const { findStack } = await import('../../src/targets/registry.js');
    expect((await runOnTarget(undefined, async ({ stack }) => stack)).os).toBe('linux');
    expect((await runOnTarget('linux-host', async ({ stack }) => stack)).release).toBeTruthy();
    await expect(runOnTarget('vax', async ({ stack }) => stack)).rejects.toThrow(/unknown stack 'vax' \(stacks: linux-host, linux-5\.10-qemu, linux-6\.1-qemu, .*gvisor, slirp, lwip\)/);
    expect(() => findStack('nope')).toThrow(RangeError);
  });
});
