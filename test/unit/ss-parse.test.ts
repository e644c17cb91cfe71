import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEndpoint, parseSs, parseSsDuration } from '../../src/testbed/ss.js';
import { filterSockets } from '../../src/testbed/host.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('parseSsDuration (ss print_ms_timer formats)', () => {
  it.each([
    ['59sec', 59_000],
    ['200ms', 200],
    ['1.234ms', 1_234],
    ['1min5sec', 65_000],
    ['119min', 7_140_000],
    ['', 0],
  ])('%j -> %d ms', (text, ms) => {
    expect(parseSsDuration(text)).toBe(ms);
  });
  it.each(['abc', '5 sec', 'min', '1.2.3ms'])('rejects %j', (text) => {
    expect(parseSsDuration(text)).toBeUndefined();
  });
});

describe('parseEndpoint', () => {
  it('reads v4, bracketed v6, scoped and wildcard endpoints', () => {
    expect(parseEndpoint('198.18.0.1:80')).toEqual({ addr: '198.18.0.1', port: 80 });
    expect(parseEndpoint('[2001:2::1]:443')).toEqual({ addr: '2001:2::1', port: 443 });
    expect(parseEndpoint('[fe80::1%eth0]:22')).toEqual({ addr: 'fe80::1', port: 22, scope: 'eth0' });
    expect(parseEndpoint('0.0.0.0:*')).toEqual({ addr: '0.0.0.0', port: null });
    expect(parseEndpoint('*:*')).toEqual({ addr: '*', port: null });
    expect(parseEndpoint('nonsense')).toBeUndefined();
    expect(parseEndpoint('1.2.3.4:http')).toBeUndefined();
  });
});

describe('parseSs on real output (server side of a lab run)', () => {
  const { sockets, unparsed } = parseSs(fixture('testbed-ss-server.txt'));
  it('reads every socket and nothing is left over', () => {
    expect(unparsed).toEqual([]);
    expect(sockets.map((s) => s.state)).toEqual([
      'LISTEN', 'LISTEN', 'ESTABLISHED', 'LAST-ACK', 'CLOSE-WAIT', 'TIME-WAIT', 'SYN-RECV', 'LISTEN', 'ESTABLISHED',
    ]);
  });
  it('reads TIME-WAIT with its timer and 4-tuple', () => {
    const tw = sockets.find((s) => s.state === 'TIME-WAIT')!;
    expect(tw.timer).toEqual({ kind: 'timewait', remainingMs: 59_000, count: 0 });
    expect(tw.local).toEqual({ addr: '198.19.21.2', port: 8080 });
    expect(tw.peer).toEqual({ addr: '198.19.21.1', port: 56794 });
  });
  it('reads LAST-ACK with an expired retransmit timer and its tcp_info', () => {
    const la = sockets.find((s) => s.state === 'LAST-ACK')!;
    expect(la.timer).toEqual({ kind: 'on', remainingMs: 0, count: 1 });
    expect(la.sendQ).toBe(1);
    expect(la.info.rto).toBe('400');
    expect(la.info.retrans).toBe('1/2');
    expect(la.infoWords).toContain('sack');
  });
  it('reads queues and IPv6 endpoints', () => {
    const est = sockets.filter((s) => s.state === 'ESTABLISHED');
    expect(est[0]!.recvQ).toBe(5);
    expect(est[1]!.local).toEqual({ addr: '2001:2:0:115::2', port: 8086 });
    expect(sockets[7]!.local).toEqual({ addr: '::', port: 8086 });
  });
  it('filters by state and port', () => {
    expect(filterSockets(sockets, { state: 'LISTEN' })).toHaveLength(3);
    expect(filterSockets(sockets, { state: ['TIME-WAIT', 'LAST-ACK'], port: 8080 })).toHaveLength(2);
    expect(filterSockets(sockets, { peerPort: 56794 }).map((s) => s.state)).toEqual(['TIME-WAIT']);
    expect(filterSockets(sockets, { localPort: 9999 }).map((s) => s.state)).toEqual(['LISTEN', 'SYN-RECV']);
  });
});

describe('parseSs on the client side', () => {
  it('reads an orphaned FIN-WAIT-2 (timewait timer) and TIME-WAIT', () => {
    const { sockets, unparsed } = parseSs(fixture('testbed-ss-client.txt'));
    expect(unparsed).toEqual([]);
    expect(sockets.map((s) => s.state)).toEqual(['ESTABLISHED', 'FIN-WAIT-2', 'TIME-WAIT', 'ESTABLISHED']);
    expect(sockets[1]!.timer?.kind).toBe('timewait');
  });
});

describe('parseSs edge cases (hand-written)', () => {
  const { sockets, unparsed } = parseSs(fixture('testbed-ss-edge.txt'));
  it('reads every timer format', () => {
    expect(sockets[0]!.timer).toEqual({ kind: 'on', remainingMs: 1234, count: 2 });
    expect(sockets[1]!.timer).toEqual({ kind: 'on', remainingMs: 200, count: 0 });
    expect(sockets[2]!.timer).toEqual({ kind: 'persist', remainingMs: 65_000, count: 3 });
    expect(sockets[3]!.timer).toEqual({ kind: 'keepalive', remainingMs: 7_140_000, count: 0 });
  });
  it('reads scoped, v4-mapped and wildcard endpoints and UNCONN as CLOSE', () => {
    expect(sockets[3]!.local).toEqual({ addr: 'fe80::1', port: 22, scope: 'tcplab-abc1230a' });
    expect(sockets[3]!.info).toMatchObject({ rto: '204', cwnd: '10', wscale: '7,7' });
    expect(sockets[4]!.peer).toEqual({ addr: '::ffff:198.18.0.9', port: 41000 });
    expect(sockets[5]).toMatchObject({ state: 'CLOSE', local: { addr: '*', port: 1234 }, peer: { addr: '*', port: null } });
  });
  it('returns unreadable lines instead of throwing, and does not attach orphan info lines', () => {
    expect(sockets).toHaveLength(6);
    expect(unparsed).toEqual(['this line is not a socket', '\t orphan continuation after garbage']);
    expect(sockets[5]!.info).toEqual({});
  });
  it('never throws on junk', () => {
    for (const junk of ['', '\n\n', 'State Recv-Q', 'ESTAB x y z w', '\t\t', 'LISTEN 0 0 a b']) {
      expect(() => parseSs(junk)).not.toThrow();
    }
    expect(parseSs('ESTAB x y z w').unparsed).toHaveLength(1);
  });
});
