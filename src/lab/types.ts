// What a lab is: a story with cases; each case drives real kernels and makes checks.
import type { Expectation, Observed } from './expect.js';
import type { StackInfo } from './kernel.js';
import type { LadderColumn } from './ladder.js';
import type { PacketRecord } from './packets.js';

export interface Lab {
  id: string;
  title: string;
  /** One paragraph: the question this lab answers. */
  summary: string;
  /** RFC sections and kernel functions the lab tells the story of. */
  rfcs: readonly string[];
  /** Where the claim comes from (articles, books). */
  sources: readonly string[];
  /** Slow labs are left out of `tcplab run all` unless --slow is given. */
  slow?: boolean;
  /**
   * The lab probes one stack with a ghost prober (labs/common.ts probeServer()), so it can run on any
   * target (--target, tcplab matrix). Labs that need two hosts on this machine's kernel leave it unset.
   */
  targets?: boolean;
  cases: readonly LabCase[];
  /** Removes what a killed run of this lab can leave outside the testbed (temp dirs); for `tcplab clean`. */
  clean?(): Promise<string[]>;
}

export interface LabCase {
  id: string;
  title: string;
  run(ctx: CaseContext): Promise<void>;
}

export interface CheckSpec {
  id: string;
  title: string;
  expect: Expectation;
  observed: Observed;
  /** The packets that show what happened. A check with none must give sockets or counters. */
  packets?: readonly PacketRecord[];
  /** Socket-list lines (ss) that show it. */
  sockets?: readonly string[];
  /** Counter deltas that show it, e.g. { 'TcpExt.TWRecycled': 1 }. */
  counters?: Readonly<Record<string, number>>;
  /** One or two sentences on what the observation means. */
  explain?: string;
}

export interface TimingCheckSpec {
  id: string;
  title: string;
  /** The two observed events; the gap between them is what is checked. */
  from: PacketRecord;
  to: PacketRecord;
  expectMs: Expectation;
  tolerance?: { absMs: number; pct: number };
  explain?: string;
}

export interface CaseContext {
  readonly stack: StackInfo;
  readonly labId: string;
  readonly caseId: string;
  /** Aborted on Ctrl-C / SIGTERM; long waits should honour it. */
  readonly signal: AbortSignal;
  /** A numbered step of the story, printed as it happens. */
  step(text: string): void;
  /** A timestamped note in the ladder ("client: connect() -> EADDRNOTAVAIL"). */
  note(who: string | undefined, text: string): void;
  check(spec: CheckSpec): boolean;
  checkTiming(spec: TimingCheckSpec): boolean;
  /** Packets for the ladder, the pcap and the JSON report, from a capture with its raw frames. */
  addCapture(source: CaptureSource): void;
  setColumns(cols: readonly [LadderColumn, LadderColumn]): void;
  /** Record a sysctl value in force for the report. */
  sysctl(host: string, name: string, value: string): void;
  /** Dispose at the end of the case, in reverse order (unless --keep). */
  use<T extends AsyncDisposable>(resource: T): T;
  /** Wait, interruptible by Ctrl-C. */
  sleep(ms: number, why?: string): Promise<void>;
  /** Show a countdown (on a terminal, for waits over 2 s) while `fn` runs for up to `ms`. */
  waiting<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T>;
}

/** A capture the lab registered: its decoded packets plus frames for the pcap. */
export interface CaptureSource {
  point: string;
  records(): PacketRecord[];
  /** Frames in capture order with their link type, for the pcap file. */
  frames(): { data: Uint8Array; tsNs: bigint }[];
  link: 'ethernet' | 'sll' | 'raw';
}
