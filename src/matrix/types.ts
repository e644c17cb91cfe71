// The shape of `tcplab matrix`'s result, schema tcplab.matrix/1 (matrix.json): what the runner
// produces and every renderer reads. Changing a field here changes the JSON people parse: keep it stable.
import type { StackInfo } from '../lab/kernel.js';
import type { Observed } from '../lab/expect.js';
import type { Verdict } from '../lab/result.js';
import type { ReportJson } from '../report/json.js';

export interface StackColumn {
  id: string;
  title: string;
  /** Set when the stack ran. */
  stack?: StackInfo;
  /** Why the stack did not run (not installed, failed to start...). */
  unavailable?: string;
  startMs?: number;
  /** Labs that cannot run on this stack, with why (lab/placement.ts). */
  unsupported?: Record<string, string>;
}

export interface MatrixCell {
  observed: Observed;
  verdict: Verdict;
  expected: string;
  rule: string;
  /** pcap and text report (with the ladder) of the case, relative to the output folder. */
  pcap?: string;
  report?: string;
}

export interface MatrixRow {
  lab: string;
  case: string;
  caseTitle: string;
  check: string;
  checkTitle: string;
  /** By stack id; absent: the stack made no such check (e.g. no socket table), or it did not run. */
  cells: Record<string, MatrixCell>;
  /** A case that failed with an error on a stack, by stack id. */
  errors: Record<string, string>;
  /** A case that cannot run on a stack, with why, by stack id. */
  notRun?: Record<string, string>;
}

export interface MatrixResult {
  schema: 'tcplab.matrix/1';
  startedAt: string;
  stacks: StackColumn[];
  /** The labs asked for, in order. */
  labs: string[];
  rows: MatrixRow[];
  /** Full lab reports per stack (tcplab.report/1 shape). */
  reports: Record<string, ReportJson>;
}
