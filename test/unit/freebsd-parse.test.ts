// FreeBSD output parsers against recorded fixtures. The fixtures are written by hand in the formats of
// FreeBSD 14's netstat(1) ("Active Internet connections", addr.port) and sockstat(1) (addr:port), and
// netstat -s -p tcp's indented "N what" lines; no FreeBSD machine was available to record them.
import { describe, expect, it } from 'vitest';
import { parseDottedEndpoint, parseFreebsdNetstat, parseFreebsdSockstat, parseFreebsdTcpStats } from '../../src/targets/freebsd.js';

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
