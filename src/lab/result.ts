// What a lab run produced, as the runner hands it to the reporters (src/report): verdicts, checks with
// their evidence, packets and notes. Plain data; the stable JSON form is src/report/json.ts.
import type { LadderColumn } from './ladder.js';
import type { StackInfo } from './kernel.js';
import type { NoteRecord, PacketJson, PacketRecord } from './packets.js';
import type { PeerCallRecord } from '../peer/record.js';

export type Verdict = 'PASS' | 'DIFFERS' | 'ERROR';

export interface CheckResult {
  id: string;
  title: string;
  verdict: Verdict;
  expected: string;
  /** Which rule gave the expectation, e.g. 'linux >=4.12'. */
  rule: string;
  because?: string;
  observed: string | number | boolean | null;
  explain?: string;
  evidence: {
    packets: PacketJson[];
    sockets: string[];
    counters: Record<string, number>;
  };
  /** Kept for the terminal ladder of a DIFFERS check. */
  packetRecords: PacketRecord[];
}

export interface CaseResult {
  id: string;
  title: string;
  verdict: Verdict;
  error?: string;
  durationMs: number;
  steps: string[];
  sysctls: Record<string, string>;
  checks: CheckResult[];
  packets: PacketRecord[];
  notes: NoteRecord[];
  columns?: readonly [LadderColumn, LadderColumn];
  pcap?: string;
  t0: bigint;
  /** The socket calls the case's peers made, in order, with RunOptions.recordPeerCalls (for exporters such as packetdrill; not in the JSON). */
  peerCalls?: PeerCallRecord[];
}

export interface LabResult {
  lab: { id: string; title: string; summary: string; rfcs: readonly string[]; sources: readonly string[] };
  /** The subject's stack: the kernel (or user-space stack) the verdicts are about. */
  stack: StackInfo;
  /** The target the subject ran on (absent: this machine's kernel). */
  target?: string;
  /** The role on trial (Lab.roles). */
  subject?: string;
  startedAt: string;
  durationMs: number;
  verdict: Verdict;
  cases: CaseResult[];
  /** Cases that cannot run on this stack, with why. */
  skipped?: { id: string; title: string; why: string }[];
}

export function worst(vs: readonly Verdict[]): Verdict {
  if (vs.includes('ERROR')) return 'ERROR';
  if (vs.includes('DIFFERS')) return 'DIFFERS';
  return 'PASS';
}
