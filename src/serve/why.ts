// What a step is about to do and why: the --explain texts (src/report/explain.ts) matched to the step's
// words, plus a few rules of the plain TCP life cycle (handshake, active close) that every lab goes
// through. A lab that knows better passes its own reason as ctx.step()'s second argument.
import { EXPLAIN, type ExplainId } from '../lab/explain.js';
import type { Lab } from '../lab/types.js';

export interface StepReason {
  title: string;
  text: string;
  rules: readonly string[];
}

/** The life-cycle rules the --explain texts take for granted. */
const BASICS = {
  handshake: {
    title: 'Three-way handshake',
    text: 'connect() sends a SYN from an ephemeral port; the listener answers SYN-ACK and the client\'s ACK ' +
      'completes it: both sides are ESTABLISHED with each other\'s initial sequence number.',
    rules: ['RFC 9293 §3.5', 'tcp_v4_connect()', 'tcp_rcv_state_process()'],
  },
  listen: {
    title: 'Passive open',
    text: 'A listening socket takes SYNs for its address and port; every connection it accepts is a 4-tuple of its own.',
    rules: ['RFC 9293 §3.5', 'inet_csk_listen_start()'],
  },
  'active-close': {
    title: 'The side that closes first holds TIME-WAIT',
    text: 'The first FIN moves its sender through FIN-WAIT-1 and FIN-WAIT-2; once the peer\'s FIN arrives and is ' +
      'acknowledged it waits in TIME-WAIT for 2*MSL (60 s on Linux), keeping the 4-tuple from being reused.',
    rules: ['RFC 9293 §3.6', 'tcp_time_wait()', 'TCP_TIMEWAIT_LEN'],
  },
  abort: {
    title: 'Abortive close',
    text: 'close() with SO_LINGER {1, 0}, or with unread data queued, sends an RST instead of a FIN: the connection ' +
      'is gone at once on both sides, queued data is lost, and nobody holds TIME-WAIT.',
    rules: ['RFC 9293 §3.10.4', 'RFC 2525 §2.17', 'tcp_close()', 'tcp_disconnect()'],
  },
  'tw-syn': {
    title: 'A new SYN meets TIME-WAIT',
    text: `${EXPLAIN['tw-syn-accepted'].text} Otherwise: ${EXPLAIN['tw-syn-rejected-ack'].text}`,
    rules: [...new Set([...EXPLAIN['tw-syn-accepted'].rules, ...EXPLAIN['tw-syn-rejected-ack'].rules])],
  },
} as const satisfies Record<string, StepReason>;

type BasicId = keyof typeof BASICS;

/** [words in the step, what they are about]: the first matches win, at most two reasons per step. */
const MATCHERS: ReadonlyArray<[RegExp, ExplainId | BasicId, (lab: Lab) => boolean]> = [
  [/LAST-ACK|retransmission timer|FIN again/i, 'fin-retransmit-last-ack', () => true],
  [/\bRST\b/, 'rst-in-time-wait', (l) => l.rfcs.some((r) => /1337/.test(r))],
  [/SO_LINGER|unread|not read them/i, 'abort', () => true],
  [/stale|older than|older TSval|without a timestamp option/i, 'paws-reject', (l) => l.rfcs.some((r) => /PAWS/.test(r))],
  [/new SYN|reuses the 4-tuple|new incarnation|same 4-tuple/i, 'tw-syn', (l) => l.rfcs.some((r) => /6191|1122|timewait_state_process/.test(r))],
  [/reuses the 4-tuple|SYN-SENT/i, 'challenge-ack', (l) => l.rfcs.some((r) => /5961/.test(r))],
  [/reconnect|binds the port again|reuses the 4-tuple/i, 'tw-reuse', () => true],
  [/ephemeral|over and over|until connect\(\) fails|\d+ times/i, 'port-exhaustion', (l) => l.rfcs.some((r) => /6056|__inet_hash_connect/.test(r))],
  [/closes? first|closes its side|the server closes|then close\(\)|closed first/i, 'active-close', () => true],
  [/connects?\b|opens a crafted connection|connect once/i, 'handshake', () => true],
  [/listens/i, 'listen', () => true],
];

function reasonOf(id: ExplainId | BasicId): StepReason {
  return id in BASICS ? BASICS[id as BasicId] : EXPLAIN[id as ExplainId];
}

/** Why a step of `lab` happens: the lab's own reason first, then the matching rules (at most two in all). */
export function stepReasons(lab: Lab, text: string, own?: string): StepReason[] {
  const hits: { at: number; r: StepReason }[] = [];
  const seen = new Set<string>();
  for (const [re, id, applies] of MATCHERS) {
    if (hits.length >= (own ? 1 : 2)) break;
    const m = re.exec(text);
    if (!m || seen.has(id) || !applies(lab)) continue;
    seen.add(id);
    hits.push({ at: m.index, r: reasonOf(id) });
  }
  // Told in the order the step does them ("connect(), then close first": the handshake first).
  const out = [...(own ? [{ title: 'why', text: own, rules: [] }] : []), ...hits.sort((a, b) => a.at - b.at).map((h) => h.r)];
  return out.length ? out : [{ title: lab.title, text: lab.summary, rules: lab.rfcs }];
}

/** One line: "title: text [rule; rule]". */
export function reasonLine(r: StepReason): string {
  return `${r.title}: ${r.text}${r.rules.length ? ` [${r.rules.join('; ')}]` : ''}`;
}
