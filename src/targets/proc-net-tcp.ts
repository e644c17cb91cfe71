// Parser for Linux /proc/net/tcp and /proc/net/tcp6: the socket table of a guest that has no `ss`.
// Never throws: lines it cannot read are skipped. Formats: net/ipv4/tcp_ipv4.c get_tcp4_sock() and
// get_timewait4_sock(), net/ipv6/tcp_ipv6.c get_tcp6_sock().
import type { SocketEntry, TcpState, TimerKind } from '../testbed/ss.js';

const STATES: Readonly<Record<number, TcpState>> = {
  1: 'ESTABLISHED', 2: 'SYN-SENT', 3: 'SYN-RECV', 4: 'FIN-WAIT-1', 5: 'FIN-WAIT-2', 6: 'TIME-WAIT', 7: 'CLOSE',
  8: 'CLOSE-WAIT', 9: 'LAST-ACK', 10: 'LISTEN', 11: 'CLOSING', 12: 'SYN-RECV', // 12: NEW_SYN_RECV (a request sock)
};
// tr column: 0 none, 1 retransmit (or probe0 as 4), 2 keepalive (sk_timer), 3 TIME-WAIT, 4 zero-window probe.
const TIMERS: Readonly<Record<number, TimerKind>> = { 1: 'on', 2: 'keepalive', 3: 'timewait', 4: 'persist' };

/** USER_HZ: /proc/net/tcp prints timer deltas in clock ticks of 1/100 s. */
const USER_HZ = 100;

function v4(hex: string): string {
  // One 32-bit word in host (little-endian) order.
  const n = parseInt(hex, 16) >>> 0;
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

/** Shortest IPv6 text of 8 16-bit words (RFC 5952), with IPv4-mapped addresses as ::ffff:a.b.c.d. */
export function formatV6(words: readonly number[]): string {
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${words[6]! >>> 8}.${words[6]! & 255}.${words[7]! >>> 8}.${words[7]! & 255}`;
  }
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function v6(hex: string): string {
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0;
    // each 32-bit word is printed in host order: bytes b0..b3 = w & 255, ...
    const b = [w & 255, (w >>> 8) & 255, (w >>> 16) & 255, w >>> 24];
    words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
  }
  return formatV6(words);
}

function endpoint(s: string): { addr: string; port: number } | undefined {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(s);
  if (!m) return undefined;
  return { addr: m[1]!.length === 8 ? v4(m[1]!) : v6(m[1]!), port: parseInt(m[2]!, 16) };
}

/** Parses one or more concatenated /proc/net/tcp{,6} files. */
export function parseProcNetTcp(text: string): SocketEntry[] {
  const out: SocketEntry[] = [];
  for (const raw of text.split('\n')) {
    const f = raw.trim().split(/\s+/);
    if (f.length < 8 || !/^\d+:$/.test(f[0]!)) continue;
    const local = endpoint(f[1]!);
    const peer = endpoint(f[2]!);
    const st = parseInt(f[3]!, 16);
    const q = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8})$/.exec(f[4]!);
    const t = /^([0-9A-Fa-f]{2}):([0-9A-Fa-f]{8})$/.exec(f[5]!);
    if (!local || !peer || !q || !t || !Number.isFinite(st)) continue;
    const state = STATES[st] ?? 'UNKNOWN';
    const tr = parseInt(t[1]!, 16);
    // A delta printed as %08lX of a negative long shows as a large number: an expired timer.
    let ticks = parseInt(t[2]!, 16);
    if (ticks > 0x7fffffff) ticks = 0;
    const kind = TIMERS[tr];
    const e: SocketEntry = {
      state,
      // tx_queue:rx_queue; for LISTEN rx is the accept backlog, as ss's Recv-Q shows
      sendQ: parseInt(q[1]!, 16),
      recvQ: parseInt(q[2]!, 16),
      local,
      // an unconnected peer (0.0.0.0:0) as ss shows it: address, no port
      peer: peer.port === 0 ? { addr: peer.addr, port: null } : peer,
      info: {},
      infoWords: [],
      raw,
    };
    if (kind) e.timer = { kind, remainingMs: Math.round((ticks * 1000) / USER_HZ), count: parseInt(f[6]!, 16) || 0 };
    out.push(e);
  }
  return out;
}
