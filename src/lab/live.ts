// Classroom mode's view into a running case: the runner calls these as the case goes (steps before they
// run, packets as the captures fill, checks and sysctls as they are made), so a terminal or a web page
// can show the story live and hold each step until the teacher lets it run.
import type { LadderColumn } from './ladder.js';
import type { NoteRecord, PacketRecord } from './packets.js';
import type { CaseResult, CheckResult } from './result.js';
import type { Lab, LabCase } from './types.js';

export interface LiveCase {
  lab: Lab;
  lc: LabCase;
  /** The case's time origin (ns): packet times in reports are relative to it. */
  t0: bigint;
}

export interface LiveStep extends LiveCase {
  /** 1-based number of the step in its case. */
  n: number;
  text: string;
  /** The lab's own reason for the step (ctx.step's second argument), if it gave one. */
  why?: string;
}

export interface LiveSnapshot extends LiveCase {
  /** Every packet captured so far in the case, in time order. */
  packets: readonly PacketRecord[];
  notes: readonly NoteRecord[];
  columns?: readonly [LadderColumn, LadderColumn];
}

export interface LiveObserver {
  caseStart?(c: LiveCase): void;
  /** Before step n runs: it runs when the promise resolves (rejecting aborts the case). */
  beforeStep?(s: LiveStep, signal: AbortSignal): Promise<void>;
  /** Called when packets or notes were added since the last call (polled while the case runs). */
  packets?(s: LiveSnapshot): void;
  check?(c: LiveCase, check: CheckResult): void;
  sysctl?(c: LiveCase, key: string, value: string): void;
  caseEnd?(c: LiveCase, result: CaseResult): void;
}
