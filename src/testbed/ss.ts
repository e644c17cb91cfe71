// Parser for `ss -tanoi` (iproute2): one line per socket, optionally followed by an indented tcp_info
// line. Never throws: lines it cannot read are returned in `unparsed`.

export type TcpState =
  | 'ESTABLISHED' | 'SYN-SENT' | 'SYN-RECV' | 'FIN-WAIT-1' | 'FIN-WAIT-2' | 'TIME-WAIT'
  | 'CLOSE' | 'CLOSE-WAIT' | 'LAST-ACK' | 'LISTEN' | 'CLOSING' | 'UNKNOWN';

const STATES: Readonly<Record<string, TcpState>> = {
  ESTAB: 'ESTABLISHED', 'SYN-SENT': 'SYN-SENT', 'SYN-RECV': 'SYN-RECV', 'FIN-WAIT-1': 'FIN-WAIT-1',
  'FIN-WAIT-2': 'FIN-WAIT-2', 'TIME-WAIT': 'TIME-WAIT', UNCONN: 'CLOSE', CLOSE: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE-WAIT', 'LAST-ACK': 'LAST-ACK', LISTEN: 'LISTEN', CLOSING: 'CLOSING', UNKNOWN: 'UNKNOWN',
};

export interface SocketEndpoint {
  /** '198.18.0.1', '2001:2::1', '*' (any) */
  addr: string;
  /** null for '*' */
  port: number | null;
  /** Interface scope ('%eth0'), if ss printed one. */
  scope?: string;
}

/** ss's timer names: on (retransmit/probe), keepalive, timewait, persist, off, unknown. */
export type TimerKind = 'on' | 'keepalive' | 'timewait' | 'persist' | 'off' | 'unknown';

export interface SocketTimer {
  kind: TimerKind;
  /** Remaining time in ms as ss printed it (second resolution above 10 s). */
  remainingMs: number;
  /** Retransmits (for 'on') or probes (keepalive/persist). */
  count: number;
}

export interface SocketEntry {
  state: TcpState;
  recvQ: number;
  sendQ: number;
  local: SocketEndpoint;
  peer: SocketEndpoint;
  timer?: SocketTimer;
  /** key:value pairs of the tcp_info line (rto, rtt, cwnd, retrans, ...), as text. */
  info: Record<string, string>;
  /** Bare words of the tcp_info line (cubic, ts, sack, ecn...). */
  infoWords: string[];
  raw: string;
}

export interface SsParse {
  sockets: SocketEntry[];
  unparsed: string[];
}

/** "59sec", "200ms", "1.234ms" (= 1 s 234 ms), "1min5sec", "12min", "" (0). undefined if unreadable. */
export function parseSsDuration(s: string): number | undefined {
  if (s === '') return 0;
  const m = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$/.exec(s);
  if (!m || (!m[1] && !m[2] && !m[4])) return undefined;
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[4] ?? 0);
}

export function parseEndpoint(s: string): SocketEndpoint | undefined {
  const i = s.lastIndexOf(':');
  if (i <= 0) return undefined;
  let host = s.slice(0, i);
  const portText = s.slice(i + 1);
  let port: number | null;
  if (portText === '*') port = null;
  else if (/^\d+$/.test(portText)) port = Number(portText);
  else return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  let scope: string | undefined;
  const pct = host.indexOf('%');
  if (pct >= 0) {
    scope = host.slice(pct + 1);
    host = host.slice(0, pct);
  }
  // ss prints v4-mapped addresses as ::ffff:1.2.3.4; keep them as printed.
  return scope === undefined ? { addr: host, port } : { addr: host, port, scope };
}

const TIMER = /^timer:\((\w+),([^,]*),(\d+)\)$/;

function parseSocketLine(line: string): SocketEntry | undefined {
  const t = line.trim().split(/\s+/);
  if (t.length < 5) return undefined;
  const state = STATES[t[0]!];
  if (!state) return undefined;
  const recvQ = Number(t[1]);
  const sendQ = Number(t[2]);
  const local = parseEndpoint(t[3]!);
  const peer = parseEndpoint(t[4]!);
  if (!Number.isInteger(recvQ) || !Number.isInteger(sendQ) || !local || !peer) return undefined;
  const e: SocketEntry = { state, recvQ, sendQ, local, peer, info: {}, infoWords: [], raw: line };
  for (const tok of t.slice(5)) {
    const m = TIMER.exec(tok);
    if (!m) continue;
    const ms = parseSsDuration(m[2]!);
    if (ms !== undefined) e.timer = { kind: m[1] as TimerKind, remainingMs: ms, count: Number(m[3]) };
  }
  return e;
}

function parseInfoLine(line: string, into: SocketEntry): void {
  for (const tok of line.trim().split(/\s+/)) {
    if (tok === '') continue;
    const i = tok.indexOf(':');
    if (i > 0) into.info[tok.slice(0, i)] = tok.slice(i + 1);
    else into.infoWords.push(tok);
  }
}

export function parseSs(text: string): SsParse {
  const sockets: SocketEntry[] = [];
  const unparsed: string[] = [];
  let last: SocketEntry | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line)) {
      // tcp_info continuation of the socket above
      if (last) parseInfoLine(line, last);
      else unparsed.push(line);
      continue;
    }
    if (/^State\s+Recv-Q/.test(line) || /^Netid\s/.test(line)) continue; // header
    const e = parseSocketLine(line);
    if (e) {
      sockets.push(e);
      last = e;
    } else {
      unparsed.push(line);
      last = undefined;
    }
  }
  return { sockets, unparsed };
}
