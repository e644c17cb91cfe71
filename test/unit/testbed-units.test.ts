import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { changed, counter, delta, parseCounters } from '../../src/testbed/counters.js';
import { ruleBodies } from '../../src/testbed/impair.js';
import { assertSafe, isSafeV4, isSafeV6 } from '../../src/testbed/safety.js';
import { checkHostName, checkRunId, netnsName, runIdOf, vethName } from '../../src/testbed/names.js';
import { sysctlPath } from '../../src/testbed/sysctl.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('parseCounters', () => {
  const snap = parseCounters(fixture('testbed-netstat.txt') + fixture('testbed-snmp.txt'));
  it('reads TcpExt, IpExt, Tcp and Ip groups with their names', () => {
    expect(typeof snap.TcpExt.TWRecycled).toBe('number');
    expect(typeof snap.TcpExt.TW).toBe('number');
    expect(typeof snap.Tcp.ActiveOpens).toBe('number');
    expect(snap.Tcp.MaxConn).toBe(-1); // the one negative value in snmp
    expect(Object.keys(snap.IpExt).length).toBeGreaterThan(5);
  });
  it('delta subtracts per counter and changed() lists the moved ones', () => {
    const a = parseCounters('TcpExt: TW TWRecycled\nTcpExt: 5 1\nTcp: ActiveOpens\nTcp: 10\n');
    const b = parseCounters('TcpExt: TW TWRecycled PAWSEstab\nTcpExt: 7 1 2\nTcp: ActiveOpens\nTcp: 13\n');
    const d = delta(a, b);
    expect(d.TcpExt).toEqual({ TW: 2, TWRecycled: 0, PAWSEstab: 2 });
    expect(changed(d)).toEqual({ 'TcpExt.TW': 2, 'TcpExt.PAWSEstab': 2, 'Tcp.ActiveOpens': 3 });
  });
  it('counter() reads one by name and refuses unknown ones', () => {
    expect(counter(snap, 'Tcp.MaxConn')).toBe(-1);
    expect(() => counter(snap, 'TcpExt.NoSuchThing')).toThrow(/TcpExt.NoSuchThing: not reported/);
  });
  it('skips misaligned pairs instead of inventing values', () => {
    const s = parseCounters('TcpExt: A B\nTcpExt: 1\nIp: X\nIp: 4\n');
    expect(s.TcpExt).toEqual({});
    expect(s.Ip).toEqual({ X: 4 });
  });
});

describe('address safety', () => {
  it.each([['198.18.0.1', true], ['198.19.255.254', true], ['198.20.0.1', false], ['10.0.0.1', false], ['8.8.8.8', false]])(
    'v4 %s -> %s', (a, ok) => expect(isSafeV4(a)).toBe(ok));
  it.each([['2001:2::1', true], ['2001:2:0:ff::1', true], ['2001:2:1::1', false], ['fd12::1', true], ['fe80::1', false], ['2001:db8::1', false], ['::1', false]])(
    'v6 %s -> %s', (a, ok) => expect(isSafeV6(a)).toBe(ok));
  it('refuses other ranges unless explicitly allowed, and names the field', () => {
    expect(() => assertSafe('daddr', '10.1.2.3')).toThrow(/daddr: 10\.1\.2\.3 is outside .*allowUnsafeAddresses/);
    expect(() => assertSafe('daddr', '10.1.2.3', true)).not.toThrow();
    expect(() => assertSafe('daddr', 'not-an-ip', true)).toThrow(TypeError);
  });
});

describe('impairment rules', () => {
  it('ack-only enumerates data offsets for both families', () => {
    const r = ruleBodies({ dir: 'out', match: { tcpFlags: 'ack-only', dport: 8080 } }, 'c');
    expect(r).toHaveLength(22);
    expect(r[0]).toBe('ip protocol tcp ip hdrlength 5 ip length 40 tcp doff 5 tcp flags & (fin|syn|rst|psh|ack|urg) == ack tcp dport 8080 counter drop comment "c"');
    expect(r[1]).toMatch(/^ip6 nexthdr tcp ip6 length 20 tcp doff 5 /);
  });
  it('an address restricts to its family', () => {
    const r = ruleBodies({ dir: 'in', match: { tcpFlags: 'ack-only', saddr: '2001:2::1' } }, 'c');
    expect(r).toHaveLength(11);
    expect(r.every((x) => x.includes('ip6 saddr 2001:2::1'))).toBe(true);
    expect(ruleBodies({ dir: 'out', match: { tcpFlags: 'fin', sport: 80 } }, 'c')).toEqual(['meta l4proto tcp tcp flags & fin == fin tcp sport 80 counter drop comment "c"']);
  });
  it('validates every field instead of pasting strings into nft', () => {
    expect(() => ruleBodies({ dir: 'out', match: { saddr: '1.2.3.4; flush ruleset' } }, 'c')).toThrow(/match.saddr/);
    expect(() => ruleBodies({ dir: 'out', match: { sport: 70000 } }, 'c')).toThrow(/match.sport/);
    expect(() => ruleBodies({ dir: 'sideways' as 'in', match: {} }, 'c')).toThrow(/dir/);
    expect(() => ruleBodies({ dir: 'out', match: { tcpFlags: 'xmas' as 'fin' } }, 'c')).toThrow(/match.tcpFlags/);
    expect(() => ruleBodies({ dir: 'out', match: { proto: 'udp' } as never }, 'c')).toThrow(/match.proto: unknown field/);
    expect(() => ruleBodies({ dir: 'out', match: { saddr: '198.18.0.1', daddr: '2001:2::1' } }, 'c')).toThrow(/same address family/);
  });
});

describe('names', () => {
  it('keep the tcplab- prefix and the 15-char interface limit', () => {
    expect(netnsName('abc123', 'client')).toBe('tcplab-abc123-client');
    expect(vethName('abc123', 35, 'b')).toBe('tcplab-abc123zb');
    expect(vethName('abc123', 0, 'a').length).toBeLessThanOrEqual(15);
    expect(runIdOf('tcplab-abc123-client')).toBe('abc123');
    expect(runIdOf('tcplab-xc')).toBeUndefined();
    expect(() => vethName('abc123', 36, 'a')).toThrow(RangeError);
    expect(() => checkRunId('ABC')).toThrow(/runId/);
    expect(() => checkHostName('Bad Name')).toThrow(/hosts/);
  });
  it('sysctl keys map to /proc/sys and refuse paths', () => {
    expect(sysctlPath('net.ipv4.tcp_tw_reuse')).toBe('/proc/sys/net/ipv4/tcp_tw_reuse');
    expect(sysctlPath('net/core/somaxconn')).toBe('/proc/sys/net/core/somaxconn');
    expect(() => sysctlPath('../../etc/passwd')).toThrow(TypeError);
    expect(() => sysctlPath('net.ipv4..x')).toThrow(TypeError);
  });
});
