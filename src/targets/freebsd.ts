// FreeBSD's views of TCP, parsed into the testbed's shapes: `netstat -an -p tcp` and `sockstat -46s
// -P tcp` socket lists, `netstat -s -p tcp` counters, and the sysctl names labs use. Formats from the
// FreeBSD 14 netstat(1) and sockstat(1) manual pages and inet.c's printing code: addresses are
// "addr.port" in netstat ("*.*" for any), "addr:port" in sockstat. Parsers never throw.
import type { Counters } from '../testbed/counters.js';
import type { Endpoint, SocketEntry, TcpState } from '../testbed/ss.js';

const STATES: Readonly<Record<string, TcpState>> = {
  CLOSED: 'CLOSE', LISTEN: 'LISTEN', SYN_SENT: 'SYN-SENT', SYN_RCVD: 'SYN-RECV', ESTABLISHED: 'ESTABLISHED',
  CLOSE_WAIT: 'CLOSE-WAIT', FIN_WAIT_1: 'FIN-WAIT-1', CLOSING: 'CLOSING', LAST_ACK: 'LAST-ACK',
  FIN_WAIT_2: 'FIN-WAIT-2', TIME_WAIT: 'TIME-WAIT',
};

/** Linux sysctl -> the FreeBSD knob with the same role (units differ: see the comments). */
export const FREEBSD_SYSCTLS: Readonly<Record<string, string>> = {
  'net.ipv4.tcp_timestamps': 'net.inet.tcp.rfc1323', // 1: window scaling + timestamps
  'net.ipv4.tcp_fin_timeout': 'net.inet.tcp.finwait2_timeout', // ms on FreeBSD, s on Linux
  'net.ipv4.tcp_syncookies': 'net.inet.tcp.syncookies',
  'net.ipv4.ip_local_port_range': 'net.inet.ip.portrange.first', // and .last
  'net.ipv4.tcp_rfc1337': 'net.inet.tcp.rfc1337',
};
/** TIME-WAIT lasts 2*MSL; FreeBSD's MSL is a sysctl (ms), Linux's is a compile-time 60 s. */
export const FREEBSD_MSL = 'net.inet.tcp.msl';

/** "198.18.1.2.8080", "*.22", "*.*", "fe80::1%lo0.25", "::1.8080" -> Endpoint. */
export function parseDottedEndpoint(s: string): Endpoint | undefined {
  const i = s.lastIndexOf('.');
  if (i <= 0) return undefined;
  let addr = s.slice(0, i);
  const p = s.slice(i + 1);
  const port = p === '*' ? null : /^\d+$/.test(p) ? Number(p) : undefined;
  if (port === undefined) return undefined;
  let scope: string | undefined;
  const pct = addr.indexOf('%');
  if (pct >= 0) {
    scope = addr.slice(pct + 1);
    addr = addr.slice(0, pct);
  }
  return scope === undefined ? { addr, port } : { addr, port, scope };
}

/** `netstat -an -p tcp` (also with -W for wide addresses). */
export function parseFreebsdNetstat(text: string): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 6 || !/^tcp[46]{0,2}$/.test(t[0]!)) continue;
    const state = STATES[t[5]!];
    const local = parseDottedEndpoint(t[3]!);
    const peer = parseDottedEndpoint(t[4]!);
    const recvQ = Number(t[1]);
    const sendQ = Number(t[2]);
    if (!state || !local || !peer || !Number.isInteger(recvQ) || !Number.isInteger(sendQ)) continue;
    out.push({ state, recvQ, sendQ, local, peer, info: { proto: t[0]! }, infoWords: [], raw: line });
  }
  return out;
}

function colonEndpoint(s: string): Endpoint | undefined {
  const i = s.lastIndexOf(':');
  if (i <= 0) return undefined;
  const p = s.slice(i + 1);
  const port = p === '*' ? null : /^\d+$/.test(p) ? Number(p) : undefined;
  if (port === undefined) return undefined;
  return { addr: s.slice(0, i), port };
}

export interface SockstatEntry extends SocketEntry {
  user: string;
  command: string;
  pid: number;
  fd: number;
}

/** `sockstat -46s -P tcp`: USER COMMAND PID FD PROTO LOCAL FOREIGN [STATE]; sockets with an owner only (no TIME-WAIT). */
export function parseFreebsdSockstat(text: string): SockstatEntry[] {
  const out: SockstatEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 7 || t[0] === 'USER' || !/^tcp[46]{0,2}$/.test(t[4]!)) continue;
    const local = colonEndpoint(t[5]!);
    const peer = colonEndpoint(t[6]!);
    const pid = Number(t[2]);
    const fd = Number(t[3]);
    if (!local || !peer || !Number.isInteger(pid) || !Number.isInteger(fd)) continue;
    const state = t[7] ? (STATES[t[7]] ?? 'UNKNOWN') : 'UNKNOWN';
    out.push({ user: t[0]!, command: t[1]!, pid, fd, state, recvQ: 0, sendQ: 0, local, peer, info: { proto: t[4]! }, infoWords: [], raw: line });
  }
  return out;
}

// netstat -s -p tcp lines that have a Linux SNMP counterpart (RFC 4022 names, as in /proc/net/snmp).
const TCP_MIB: ReadonlyArray<[RegExp, string]> = [
  [/^packets sent$/, 'OutSegs'],
  [/^packets received$/, 'InSegs'],
  [/^connection requests$/, 'ActiveOpens'],
  [/^connection accepts$/, 'PassiveOpens'],
  [/^data packets \(\d+ bytes\) retransmitted$/, 'RetransSegs'],
  [/^bad connection attempts$/, 'AttemptFails'],
];

/**
 * `netstat -s -p tcp`: every "N description" line under "tcp:" as FreeBSD.<description>, plus the
 * few with a Linux SNMP name under Tcp (so labs' Tcp.* evidence reads the same on both).
 */
export function parseFreebsdTcpStats(text: string): Counters {
  const freebsd: Record<string, number> = {};
  const tcp: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s+(\d+) (.+?)\s*$/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    const what = m[2]!;
    freebsd[what] = (freebsd[what] ?? 0) + n;
    for (const [re, name] of TCP_MIB) if (re.test(what)) tcp[name] = n;
  }
  return { TcpExt: {}, IpExt: {}, Tcp: tcp, Ip: {}, FreeBSD: freebsd };
}
