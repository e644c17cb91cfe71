// FreeBSD output parsers against recorded fixtures. The fixtures are written by hand in the formats of
// FreeBSD 14's netstat(1) ("Active Internet connections", addr.port) and sockstat(1) (addr:port), and
// netstat -s -p tcp's indented "N what" lines; no FreeBSD machine was available to record them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freebsdArpDelete, freebsdArpSet, freebsdSysctlKeys, freebsdSysctlRead, freebsdSysctlWrites,
  parseDottedEndpoint, parseFreebsdIfconfig, parseFreebsdNetstat, parseFreebsdSockstat, parseFreebsdTcpStats,
} from '../../src/testbed/freebsd.js';
import { UnsupportedTargetError } from '../../src/targets/target.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');

const NETSTAT = `Active Internet connections (including servers)
Proto Recv-Q Send-Q Local Address          Foreign Address        (state)
tcp4       0      0 198.18.7.2.8080        198.18.7.200.33000     TIME_WAIT
tcp4       0     36 198.18.7.2.22          198.18.7.1.51022       ESTABLISHED
tcp4       0      0 198.18.7.2.8080        *.*                    LISTEN
tcp6       0      0 *.22                   *.*                    LISTEN
tcp46      0      0 *.8081                 *.*                    LISTEN
tcp6       0      0 fe80::1%lo0.25         *.*                    LISTEN
tcp4       0      0 198.18.7.2.8080        198.18.7.201.33000     SYN_RCVD
tcp4       0      0 198.18.7.2.40000       198.18.7.9.80          SYN_SENT
udp4       0      0 *.514                  *.*
tcp4       0      0 garbage`;

const SOCKSTAT = `USER     COMMAND    PID   FD  PROTO  LOCAL ADDRESS         FOREIGN ADDRESS       PATH STATE   CONN STATE
root     node       1234  21  tcp4   198.18.7.2:8080       *:*                   LISTEN
root     node       1234  22  tcp4   198.18.7.2:8080       198.18.7.200:33000    ESTABLISHED
root     sshd       812   4   tcp6   *:22                  *:*                   LISTEN
root     syslogd    600   6   udp4   *:514                 *:*`;

const STATS = `tcp:
	4211 packets sent
		3021 data packets (402112 bytes)
		7 data packets (1024 bytes) retransmitted
		0 data packets unnecessarily retransmitted
	5120 packets received
		2999 acks (for 401111 bytes)
	12 connection requests
	9 connection accepts
	2 bad connection attempts
	21 connections established (including accepts)
	31 connections closed (including 3 drops)
		4 connections updated cached RTT on close
	0 embryonic connections dropped`;

describe('FreeBSD netstat -an -p tcp', () => {
  const s = parseFreebsdNetstat(NETSTAT);
  it('reads every tcp line, states in the testbed names, addr.port endpoints', () => {
    expect(s.map((x) => x.state)).toEqual(['TIME-WAIT', 'ESTABLISHED', 'LISTEN', 'LISTEN', 'LISTEN', 'LISTEN', 'SYN-RECV', 'SYN-SENT']);
    expect(s[0]).toMatchObject({ local: { addr: '198.18.7.2', port: 8080 }, peer: { addr: '198.18.7.200', port: 33000 } });
    expect(s[1]).toMatchObject({ sendQ: 36, recvQ: 0 });
    expect(s[2]!.peer).toEqual({ addr: '*', port: null });
    expect(s[4]).toMatchObject({ local: { addr: '*', port: 8081 }, info: { proto: 'tcp46' } });
    expect(s[5]!.local).toEqual({ addr: 'fe80::1', port: 25, scope: 'lo0' });
  });
  it('endpoints: the last dot separates the port', () => {
    expect(parseDottedEndpoint('::1.8080')).toEqual({ addr: '::1', port: 8080 });
    expect(parseDottedEndpoint('*.*')).toEqual({ addr: '*', port: null });
    expect(parseDottedEndpoint('198.18.7.2.http')).toBeUndefined();
    expect(parseDottedEndpoint('nodot')).toBeUndefined();
  });
  it('never throws on junk', () => {
    expect(parseFreebsdNetstat('')).toEqual([]);
    expect(parseFreebsdNetstat('tcp4 x y z w v')).toEqual([]);
  });
});

describe('FreeBSD sockstat -46s -P tcp', () => {
  it('reads owner, pid, fd, addr:port endpoints and the state; skips other protocols', () => {
    const s = parseFreebsdSockstat(SOCKSTAT);
    expect(s).toHaveLength(3);
    expect(s[0]).toMatchObject({ user: 'root', command: 'node', pid: 1234, fd: 21, state: 'LISTEN', local: { addr: '198.18.7.2', port: 8080 }, peer: { addr: '*', port: null } });
    expect(s[1]).toMatchObject({ state: 'ESTABLISHED', peer: { addr: '198.18.7.200', port: 33000 } });
    expect(s[2]).toMatchObject({ command: 'sshd', local: { addr: '*', port: 22 } });
  });
});

describe('FreeBSD netstat -s -p tcp', () => {
  it('keeps every counter under FreeBSD.* and maps the SNMP ones to Tcp.*', () => {
    const c = parseFreebsdTcpStats(STATS);
    expect(c.Tcp).toEqual({ OutSegs: 4211, InSegs: 5120, ActiveOpens: 12, PassiveOpens: 9, RetransSegs: 7, AttemptFails: 2 });
    expect(c.FreeBSD!['connections established (including accepts)']).toBe(21);
    expect(c.FreeBSD!['embryonic connections dropped']).toBe(0);
    expect(parseFreebsdTcpStats('garbage').Tcp).toEqual({});
  });
});

// test/fixtures/freebsd-ifconfig.txt: FreeBSD 14's ifconfig(8) layout (em0 NAT, em1 the Vagrant
// host-only network, lo0), written by hand like the fixtures above.
describe('FreeBSD ifconfig', () => {
  it('reads each interface IPv4 address with its prefix length and the interface MAC', () => {
    expect(parseFreebsdIfconfig(fixture('freebsd-ifconfig.txt'))).toEqual([
      { ifname: 'em0', addr: '10.0.2.15', prefixLen: 24, mac: '08:00:27:8d:c0:4d' },
      { ifname: 'em1', addr: '198.18.250.11', prefixLen: 24, mac: '08:00:27:d1:4c:66' },
      { ifname: 'lo0', addr: '127.0.0.1', prefixLen: 8 },
    ]);
  });
  it('also reads -f inet:cidr and dotted netmasks, aliases, and skips junk', () => {
    const text = 'vtnet0: flags=8863<UP> metric 0 mtu 1500\n\tether 52:54:00:AA:bb:01\n\tinet 198.19.0.5/16 broadcast 198.19.255.255\n' +
      '\tinet 198.19.7.7 netmask 255.255.255.255\n\tinet 198.19.9.9 netmask 0xff00ff00\n\tinet bogus netmask 0xffffff00\n' +
      'bridge0: flags=8843<UP> metric 0 mtu 1500\n\tinet 198.18.3.1 netmask 0xfffffffc\n';
    expect(parseFreebsdIfconfig(text)).toEqual([
      { ifname: 'vtnet0', addr: '198.19.0.5', prefixLen: 16, mac: '52:54:00:aa:bb:01' },
      { ifname: 'vtnet0', addr: '198.19.7.7', prefixLen: 32, mac: '52:54:00:aa:bb:01' },
      { ifname: 'bridge0', addr: '198.18.3.1', prefixLen: 30 },
    ]);
    expect(parseFreebsdIfconfig('')).toEqual([]);
    expect(parseFreebsdIfconfig('\tinet 198.18.0.1 netmask 0xffffff00\n')).toEqual([]); // no interface header
  });
});

describe('FreeBSD netstat fixtures (as the ssh target reads them)', () => {
  it('netstat -an -p tcp: the TIME-WAIT toward a ghost, the listener', () => {
    const s = parseFreebsdNetstat(fixture('freebsd-netstat-an.txt'));
    expect(s.map((x) => x.state)).toEqual(['TIME-WAIT', 'ESTABLISHED', 'LISTEN', 'LISTEN', 'LISTEN']);
    expect(s[0]).toMatchObject({ local: { addr: '198.18.250.11', port: 8080 }, peer: { addr: '198.18.250.253', port: 33000 } });
  });
  it('netstat -s -p tcp', () => {
    expect(parseFreebsdTcpStats(fixture('freebsd-netstat-s.txt')).Tcp).toMatchObject({ OutSegs: 4211, InSegs: 5120, PassiveOpens: 9 });
  });
});

describe('FreeBSD arp and sysctl commands', () => {
  it('a static ARP entry (-S replaces one that is there) and its removal', () => {
    expect(freebsdArpSet('198.18.250.253', '0a:00:27:00:00:01')).toEqual(['arp', '-S', '198.18.250.253', '0a:00:27:00:00:01']);
    expect(freebsdArpDelete('198.18.250.253')).toEqual(['arp', '-d', '198.18.250.253']);
  });
  it('translates the Linux knobs labs set, in FreeBSD units, and reads them back in Linux terms', () => {
    expect(freebsdSysctlWrites('net.ipv4.tcp_timestamps', '1')).toEqual([{ key: 'net.inet.tcp.rfc1323', value: '1' }]);
    // timestamps off, window scaling kept (Linux's tcp_timestamps=0 leaves scaling on)
    expect(freebsdSysctlWrites('net.ipv4.tcp_timestamps', '0')).toEqual([{ key: 'net.inet.tcp.rfc1323', value: '2' }]);
    expect(freebsdSysctlRead('net.ipv4.tcp_timestamps', ['3'])).toBe('1');
    expect(freebsdSysctlRead('net.ipv4.tcp_timestamps', ['2'])).toBe('0');
    expect(freebsdSysctlWrites('net.ipv4.tcp_fin_timeout', '30')).toEqual([{ key: 'net.inet.tcp.finwait2_timeout', value: '30000' }]);
    expect(freebsdSysctlRead('net.ipv4.tcp_fin_timeout', ['60000'])).toBe('60');
    expect(freebsdSysctlWrites('net.ipv4.ip_local_port_range', '40000 40009')).toEqual([
      { key: 'net.inet.ip.portrange.first', value: '40000' }, { key: 'net.inet.ip.portrange.last', value: '40009' },
    ]);
    expect(freebsdSysctlKeys('net.ipv4.ip_local_port_range')).toEqual(['net.inet.ip.portrange.first', 'net.inet.ip.portrange.last']);
    expect(freebsdSysctlRead('net.ipv4.ip_local_port_range', ['40000', '40009'])).toBe('40000 40009');
    // tcp_rfc1337 has no FreeBSD knob (every RST in TIME-WAIT is ignored): nothing to write, read as n/a.
    expect(freebsdSysctlKeys('net.ipv4.tcp_rfc1337')).toEqual([]);
    expect(freebsdSysctlWrites('net.ipv4.tcp_rfc1337', '0')).toEqual([]);
    expect(freebsdSysctlRead('net.ipv4.tcp_rfc1337', [])).toMatch(/^n\/a \(FreeBSD has no such knob/);
  });
  it('FreeBSD names pass through; Linux knobs or values without a counterpart are UnsupportedTargetError naming the key', () => {
    expect(freebsdSysctlWrites('net.inet.tcp.msl', '5000')).toEqual([{ key: 'net.inet.tcp.msl', value: '5000' }]);
    expect(freebsdSysctlKeys('kern.hz')).toEqual(['kern.hz']);
    expect(() => freebsdSysctlKeys('net.ipv4.tcp_tw_reuse')).toThrow(UnsupportedTargetError);
    expect(() => freebsdSysctlKeys('net.ipv4.tcp_tw_reuse')).toThrow(/net\.ipv4\.tcp_tw_reuse: no FreeBSD counterpart/);
    expect(() => freebsdSysctlWrites('net.ipv4.tcp_syncookies', '2')).toThrow(/tcp_syncookies=2: FreeBSD's net\.inet\.tcp\.syncookies has no such setting/);
    expect(() => freebsdSysctlWrites('net.ipv4.ip_local_port_range', '40000')).toThrow(UnsupportedTargetError);
  });
});
