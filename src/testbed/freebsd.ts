// FreeBSD's views of TCP, parsed into the testbed's shapes: `netstat -an -p tcp` and `sockstat -46s
// -P tcp` socket lists, `netstat -s -p tcp` counters, and the sysctl names labs use. Formats from the
// FreeBSD 14 netstat(1) and sockstat(1) manual pages and inet.c's printing code: addresses are
// "addr.port" in netstat ("*.*" for any), "addr:port" in sockstat. Parsers never throw.
import type { Counters } from './counters.js';
import type { SocketEndpoint, SocketEntry, TcpState } from './ss.js';
import { UnsupportedError } from './unsupported.js';

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
};
/** TIME-WAIT lasts 2*MSL; FreeBSD's MSL is a sysctl (ms), Linux's is a compile-time 60 s. */
export const FREEBSD_MSL = 'net.inet.tcp.msl';

/** "198.18.1.2.8080", "*.22", "*.*", "fe80::1%lo0.25", "::1.8080" -> SocketEndpoint. */
export function parseDottedEndpoint(s: string): SocketEndpoint | undefined {
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

function colonEndpoint(s: string): SocketEndpoint | undefined {
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

/** An IPv4 address of an interface, as `ifconfig` (FreeBSD) or `ip -j addr` (Linux) shows it. */
export interface IfAddr {
  ifname: string;
  addr: string;
  prefixLen: number;
  /** The interface's link-layer address, when it has one. */
  mac?: string;
}

/** "0xffffff00" or "255.255.255.0" -> 24; undefined for junk or a non-contiguous mask. */
function maskBits(m: string): number | undefined {
  let n: number;
  if (/^0x[0-9a-f]{8}$/i.test(m)) n = parseInt(m.slice(2), 16);
  else if (/^\d+\.\d+\.\d+\.\d+$/.test(m)) n = m.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  else return undefined;
  const bits = n.toString(2).padStart(32, '0');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') === -1 ? 32 : bits.indexOf('0') : undefined;
}

/**
 * FreeBSD `ifconfig` (all interfaces): "em1: flags=..." headers, then tab-indented "ether MAC" and
 * "inet A netmask 0xffffff00 broadcast B" lines (or "inet A/24" with -f inet:cidr). IPv4 only.
 */
export function parseFreebsdIfconfig(text: string): IfAddr[] {
  const out: IfAddr[] = [];
  let ifname: string | undefined;
  let mac: string | undefined;
  let mine: IfAddr[] = [];
  const flush = () => {
    for (const a of mine) out.push(mac ? { ...a, mac } : a);
    mine = [];
    mac = undefined;
  };
  for (const line of text.split('\n')) {
    const head = /^([A-Za-z0-9_.]+): flags=/.exec(line);
    if (head) {
      flush();
      ifname = head[1]!;
      continue;
    }
    if (!ifname || !/^\s/.test(line)) continue;
    const t = line.trim().split(/\s+/);
    if (t[0] === 'ether' && t[1] && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(t[1])) mac = t[1].toLowerCase();
    if (t[0] !== 'inet' || !t[1]) continue;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(t[1]);
    const i = t.indexOf('netmask');
    const bits = cidr ? Number(cidr[2]) : i > 0 && t[i + 1] ? maskBits(t[i + 1]!) : undefined;
    const addr = cidr ? cidr[1]! : t[1];
    if (bits === undefined || bits > 32 || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) continue;
    mine.push({ ifname, addr, prefixLen: bits });
  }
  flush();
  return out;
}

/**
 * argv (after sudo) that gives FreeBSD a static ARP entry: its answers to `ghost` go to `mac`. -S
 * replaces an entry that is already there; FreeBSD picks the interface from the route to the ghost.
 */
export function freebsdArpSet(ghost: string, mac: string): string[] {
  return ['arp', '-S', ghost, mac];
}

export function freebsdArpDelete(ghost: string): string[] {
  return ['arp', '-d', ghost];
}

/** One FreeBSD sysctl write: a Linux knob can need several (ip_local_port_range: first and last). */
export interface SysctlWrite {
  key: string;
  value: string;
}

interface Translation {
  keys: readonly string[];
  /** Linux value -> FreeBSD values (one per key); undefined: no FreeBSD equivalent for this value. */
  write(v: string): string[] | undefined;
  /** FreeBSD values -> the Linux reading. */
  read(v: readonly string[]): string;
}

const int = (v: string): number | undefined => (/^-?\d+$/.test(v.trim()) ? Number(v.trim()) : undefined);

/**
 * The Linux sysctls labs set, in FreeBSD terms (labs are written with Linux names). Only value
 * mappings that mean the same thing: rfc1323 is 0 off, 1 scaling + timestamps, 2 scaling only, 3
 * timestamps only (tcp(4)), so tcp_timestamps=0 keeps window scaling as Linux does.
 */
const TRANSLATIONS: Readonly<Record<string, Translation>> = {
  'net.ipv4.tcp_timestamps': {
    keys: ['net.inet.tcp.rfc1323'],
    write: (v) => (int(v) === 0 ? ['2'] : int(v) === 1 || int(v) === 2 ? ['1'] : undefined),
    read: ([v]) => (int(v ?? '') === 1 || int(v ?? '') === 3 ? '1' : '0'),
  },
  'net.ipv4.tcp_fin_timeout': {
    keys: ['net.inet.tcp.finwait2_timeout'], // ms on FreeBSD, s on Linux
    write: (v) => (int(v) !== undefined && int(v)! >= 0 ? [String(int(v)! * 1000)] : undefined),
    read: ([v]) => String(Math.round((int(v ?? '') ?? 0) / 1000)),
  },
  'net.ipv4.tcp_syncookies': {
    keys: ['net.inet.tcp.syncookies'],
    write: (v) => (int(v) === 0 || int(v) === 1 ? [String(int(v))] : undefined),
    read: ([v]) => (v ?? '').trim(),
  },
  'net.ipv4.ip_local_port_range': {
    keys: ['net.inet.ip.portrange.first', 'net.inet.ip.portrange.last'],
    write: (v) => {
      const p = v.trim().split(/\s+/).map(int);
      return p.length === 2 && p.every((x) => x !== undefined) ? p.map(String) : undefined;
    },
    read: (v) => v.map((x) => x.trim()).join(' '),
  },
  // No FreeBSD counterpart: tcp_twcheck() drops every RST in TIME-WAIT, so there is nothing to set and
  // the lab's rfc1337=0 and =1 cases both meet FreeBSD's one behaviour (reported as n/a, like gVisor's).
  'net.ipv4.tcp_rfc1337': {
    keys: [],
    write: (v) => (int(v) === 0 || int(v) === 1 ? [] : undefined),
    read: () => 'n/a (FreeBSD has no such knob: tcp_twcheck() ignores every RST in TIME-WAIT)',
  },
};

/** Linux names with a FreeBSD translation; FreeBSD's own names (net.inet.*) pass through as they are. */
export function freebsdSysctlKeys(key: string): readonly string[] {
  if (!key.startsWith('net.ipv4.') && !key.startsWith('net.ipv6.') && !key.startsWith('net.core.')) return [key];
  const t = TRANSLATIONS[key];
  if (!t) throw new UnsupportedError(`sysctl ${key}: no FreeBSD counterpart (translated: ${Object.keys(TRANSLATIONS).join(', ')}; or set a FreeBSD name such as ${FREEBSD_MSL})`);
  return t.keys;
}

/** The writes that set Linux `key` to `value` on FreeBSD (FreeBSD names pass through). */
export function freebsdSysctlWrites(key: string, value: string): SysctlWrite[] {
  const keys = freebsdSysctlKeys(key);
  const t = TRANSLATIONS[key];
  if (!t) return [{ key, value }];
  const vals = t.write(value);
  if (!vals) throw new UnsupportedError(`sysctl ${key}=${value}: FreeBSD's ${keys.join('/')} has no such setting`);
  return keys.map((k, i) => ({ key: k, value: vals[i]! }));
}

/** The Linux reading of `key` from the FreeBSD values of freebsdSysctlKeys(key), in that order. */
export function freebsdSysctlRead(key: string, values: readonly string[]): string {
  const t = TRANSLATIONS[key];
  return t ? t.read(values) : (values[0] ?? '').trim();
}
