// What a lab is: a story with cases; each case drives real kernels and makes checks.
import type { Expectation, Observed } from './expect.js';
import type { StackInfo } from './kernel.js';
import type { LabTarget } from './stack.js';
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
   * The hosts of the lab's story and which of them is on trial. With --target X the subject runs on X
   * (its kernel is the one the verdicts are about); every other role stays in namespaces of this machine.
   */
  roles: LabRoles;
  /**
   * How the lab reaches a stack that is not this machine's kernel:
   * 'probe': a ghost prober against the stack's server (src/lab/fixtures.ts probeServer()): any target;
   * 'link': kernel sockets on both ends (src/lab/fixtures.ts pair()): targets that offer LabTarget.partner().
   */
  remote: 'probe' | 'link';
  /** Set when the lab can only run on this machine's kernel, saying why (shown by run, list and matrix). */
  localOnly?: string;
  cases: readonly LabCase[];
  /** Removes what a killed run of this lab can leave outside the testbed (temp dirs); for `tcplab clean`. */
  clean?(): Promise<string[]>;
}

export interface LabRoles {
  /** Every host role of the lab, e.g. ['client', 'server']. */
  readonly all: readonly string[];
  /** The role whose kernel the lab tests by default (the one its story is about). */
  readonly subject: string;
  /** Roles a user may pick as the subject with --subject (default: only `subject`). */
  readonly choices?: readonly string[];
}

export interface LabCase {
  id: string;
  title: string;
  /**
   * Why this case cannot run on a target with this subject (the rest of the lab can), or undefined.
   * A string: never on a target.
   */
  localOnly?: string | ((subject: string) => string | undefined);
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
  /** The stack whose behaviour this check observes, when it is not the subject's (e.g. the partner's). */
  stack?: StackInfo;
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
  stack?: StackInfo;
}

export interface CaseContext {
  /** The subject's stack: what the checks are judged against unless a check names another (CheckSpec.stack). */
  readonly stack: StackInfo;
  /** The stack the subject runs on; undefined: this machine's kernel (labs build their own namespaces). */
  readonly target: LabTarget | undefined;
  /** The role on trial (Lab.roles.subject, or the one --subject picked). */
  readonly subject: string;
  readonly labId: string;
  readonly caseId: string;
  /** Aborted on Ctrl-C / SIGTERM; long waits should honour it. */
  readonly signal: AbortSignal;
  /**
   * A numbered step of the story, printed as it happens. Awaited: in classroom mode (run --step, serve)
   * it resolves only when the teacher lets the step run. `why`: the rule behind the step, when the lab
   * knows it better than the --explain texts the classroom matches to the step.
   */
  step(text: string, why?: string): Promise<void>;
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
  /** Frames in capture order with their link type, for the pcap file (dir: the pcapng direction flag). */
  frames(): { data: Uint8Array; tsNs: bigint; dir?: 'in' | 'out' }[];
  link: 'ethernet' | 'sll' | 'raw';
}
