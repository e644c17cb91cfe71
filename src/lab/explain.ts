// --explain data: for each TIME_WAIT-related event, what happened and the rule that makes it happen.
// Used by `tcplab inspect` findings, ladder notes and the HTML report.

export type ExplainId =
  | 'tw-syn-accepted'
  | 'tw-syn-rejected-ack'
  | 'tw-syn-rejected-rst'
  | 'tw-reuse'
  | 'challenge-ack'
  | 'rst-in-time-wait'
  | 'fin-retransmit-last-ack'
  | 'paws-reject'
  | 'port-exhaustion';

export interface Explanation {
  id: ExplainId;
  title: string;
  /** One or two sentences: what happened and why. */
  text: string;
  /** RFC sections and kernel functions that state the rule. */
  rules: readonly string[];
}

export const EXPLAIN: Readonly<Record<ExplainId, Explanation>> = {
  'tw-syn-accepted': {
    id: 'tw-syn-accepted',
    title: 'SYN on a 4-tuple in TIME-WAIT, accepted',
    text: 'A new SYN may reopen a connection still in TIME-WAIT when its sequence number is above the old ' +
      'connection\'s RCV.NXT or its TSval is newer than TS.Recent; Linux then kills the TIME-WAIT socket and ' +
      'hands the SYN to the listener, which answers SYN-ACK.',
    rules: ['RFC 1122 §4.2.2.13', 'RFC 6191', 'tcp_timewait_state_process() -> TCP_TW_SYN'],
  },
  'tw-syn-rejected-ack': {
    id: 'tw-syn-rejected-ack',
    title: 'SYN on a 4-tuple in TIME-WAIT, answered by an ACK',
    text: 'The SYN was not newer than the old connection (sequence number not above RCV.NXT and no newer TSval), ' +
      'so the TIME-WAIT socket re-sends the ACK of the old connection; the client, in SYN-SENT, answers it with ' +
      'a RST and retries the SYN after its retransmission timeout.',
    rules: ['RFC 793 p.69 (TIME-WAIT)', 'RFC 1122 §4.2.2.13', 'tcp_timewait_state_process() -> TCP_TW_ACK'],
  },
  'tw-syn-rejected-rst': {
    id: 'tw-syn-rejected-rst',
    title: 'SYN on a 4-tuple in TIME-WAIT, answered by a RST',
    text: 'The side holding the 4-tuple refused the new connection with a reset: either no listener took the SYN ' +
      'after TIME-WAIT ended, or the stack (e.g. FreeBSD without a newer ISN) rejects SYNs in TIME-WAIT outright.',
    rules: ['RFC 793 p.65 (reset generation)', 'RFC 1122 §4.2.2.13'],
  },
  'tw-reuse': {
    id: 'tw-reuse',
    title: 'Client reused its own TIME-WAIT 4-tuple',
    text: 'The side that was in TIME-WAIT opened a new connection on the same 4-tuple before TIME-WAIT ended: ' +
      'Linux allows it in tcp_twsk_unique(): for a port connect() picks itself with net.ipv4.tcp_tw_reuse when the ' +
      'TIME-WAIT socket\'s last timestamp is from an earlier second, for a port bound explicitly (SO_REUSEADDR) ' +
      'whenever the TIME-WAIT saw timestamps, relying on timestamps (PAWS) to keep old duplicates out.',
    rules: ['tcp_twsk_unique()', 'net.ipv4.tcp_tw_reuse', 'RFC 7323 §5 (PAWS)', 'RFC 6191'],
  },
  'challenge-ack': {
    id: 'challenge-ack',
    title: 'Challenge ACK',
    text: 'A SYN arrived for a synchronized connection; instead of resetting it (RFC 793) the receiver answers ' +
      'with an ACK of its current state, so only a peer that really lost the connection resets it, with an ' +
      'exact sequence number.',
    rules: ['RFC 5961 §4', 'tcp_send_challenge_ack()', 'net.ipv4.tcp_challenge_ack_limit'],
  },
  'rst-in-time-wait': {
    id: 'rst-in-time-wait',
    title: 'RST hit a side in TIME-WAIT',
    text: 'A reset reached a connection in TIME-WAIT. RFC 793 lets it close the connection early ("TIME-WAIT ' +
      'assassination", RFC 1337 hazard H1); Linux does so unless net.ipv4.tcp_rfc1337=1, in which case the ' +
      'reset is ignored and TIME-WAIT runs its full course.',
    rules: ['RFC 1337', 'RFC 793 p.70', 'tcp_timewait_state_process()', 'net.ipv4.tcp_rfc1337'],
  },
  'fin-retransmit-last-ack': {
    id: 'fin-retransmit-last-ack',
    title: 'FIN retransmitted from LAST-ACK',
    text: 'The side that closed second did not get the ACK of its FIN, so it stays in LAST-ACK and retransmits ' +
      'the FIN with backoff; the peer in TIME-WAIT re-ACKs it, which is why TIME-WAIT exists (RFC 793).',
    rules: ['RFC 793 p.22 (TIME-WAIT)', 'RFC 1122 §4.2.2.13', 'tcp_retransmit_timer()'],
  },
  'paws-reject': {
    id: 'paws-reject',
    title: 'TSval went backwards (PAWS)',
    text: 'A segment carried a TSval older than one already seen in the same direction; a receiver with TS.Recent ' +
      'drops such a segment (Protection Against Wrapped Sequences) and answers with a duplicate ACK.',
    rules: ['RFC 7323 §5', 'tcp_paws_discard()', 'TcpExt.PAWSEstab'],
  },
  'port-exhaustion': {
    id: 'port-exhaustion',
    title: 'Ephemeral port exhaustion risk',
    text: 'Each connection the client closes first holds its local port in TIME-WAIT for about 60 s (unless the ' +
      'port is reused while its TIME-WAIT lives); when every port of the range is in TIME-WAIT towards one ' +
      '(server, server port), __inet_hash_connect() finds none and connect() fails with EADDRNOTAVAIL.',
    rules: ['RFC 6056', 'net.ipv4.ip_local_port_range', 'TCP_TIMEWAIT_LEN (60 s)', '__inet_hash_connect()', '__inet_check_established()', 'tcp_twsk_unique()'],
  },
};

export function explain(id: ExplainId): Explanation {
  return EXPLAIN[id];
}

/** "text (rule; rule)" in one line, for terminals and ladder notes. */
export function explainLine(id: ExplainId): string {
  const e = EXPLAIN[id];
  return `${e.text} [${e.rules.join('; ')}]`;
}
