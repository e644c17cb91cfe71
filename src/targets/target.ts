// Targets: TCP stacks other than this machine's kernel (a Linux 6.1 guest in QEMU, gVisor, slirp, lwIP,
// a VM over ssh) that labs can probe. A target is started once per lab run and shared by its cases; each
// case opens a ProbeSession: a fresh ghost address (so 4-tuples never collide with an earlier case's
// TIME-WAIT), a Wire on the link toward the stack, and peers and sysctls that are undone with the session.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { StackInfo } from '../lab/kernel.js';
import type { PeerClient } from '../peer/client.js';
import type { Counters } from '../testbed/counters.js';
import type { SocketFilter, SysctlApi } from '../testbed/host.js';
import type { SocketEntry } from '../testbed/ss.js';
import type { Match } from '../wire/match.js';
import type { Wire } from '../wire/wire.js';

/** What a lab needs of the stack under test. Missing facilities throw UnsupportedTargetError. */
export interface TargetHost {
  readonly name: string;
  /** 'netns' | 'ssh' like Host, plus 'vm' (QEMU guest) and 'sandbox' (gVisor, slirp, lwIP). */
  readonly kind: string;
  readonly sysctl: SysctlApi;
  /** Kernel counters; absent when the stack has none (slirp, lwIP). */
  counters?(): Promise<Counters>;
  /** The socket table; absent when the stack has none to show (slirp, lwIP). */
  sockets?(filter?: SocketFilter): Promise<SocketEntry[]>;
}

/** A sysctl API for stacks that have none: get() says so, set() changes nothing (the lab records 'n/a'). */
export function noSysctls(stack: string): SysctlApi {
  return {
    get: async () => `n/a (${stack} has no sysctls)`,
    getInt: async (key: string) => {
      throw new UnsupportedTargetError(`sysctl ${key}: ${stack} has no sysctls`);
    },
    set: async () => undefined,
  };
}

export function emptyCounters(): Counters {
  return { TcpExt: {}, IpExt: {}, Tcp: {}, Ip: {} };
}

export class UnsupportedTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedTargetError';
  }
}

export interface ProbeSession extends AsyncDisposable {
  readonly host: TargetHost;
  /** The stack's address on the link. */
  readonly addr: string;
  /** An address no kernel owns: crafted segments come from it, the stack's answers reach `wire`. */
  readonly ghost: string;
  /** Capture and crafted sends on the link toward the stack (opened for this session). */
  readonly wire: Wire;
  /** Capture point label for ladders and pcaps, e.g. 'prober:tcplab-ab12cdq'. */
  readonly point: string;
  /** Sysctls set through this are restored when the session ends. */
  readonly sysctl: SysctlApi;
  /** A peer on the stack, disposed (its sockets closed) when the session ends. */
  peer(): Promise<PeerClient>;
  dispose(): Promise<void>;
}

export interface LabTarget extends AsyncDisposable {
  /** Matrix column id, e.g. 'linux-6.1-qemu'. */
  readonly id: string;
  readonly stack: StackInfo;
  probe(filter?: Match): Promise<ProbeSession>;
  dispose(): Promise<void>;
}

export interface TargetFactory {
  readonly id: string;
  readonly title: string;
  /** undefined when it can start here, else why not (a missing package, no kernel image...). */
  unavailable(): Promise<string | undefined>;
  start(): Promise<LabTarget>;
}

const scope = new AsyncLocalStorage<LabTarget>();

/** Runs fn (e.g. runLab) with `target` as the stack labs probe instead of a local namespace pair. */
export function withTarget<T>(target: LabTarget, fn: () => Promise<T>): Promise<T> {
  return scope.run(target, fn);
}

/** The target of the enclosing withTarget(), if any. */
export function currentTarget(): LabTarget | undefined {
  return scope.getStore();
}
