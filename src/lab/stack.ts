// What a lab can ask of the stack under test when it is not this machine's kernel: the contract that
// targets (src/targets) implement and labs consume through their CaseContext. It lives in the lab layer
// so labs never import a target, and targets import only this (and lower layers).
//
// Two ways in:
// - probe(): a ghost prober on the target's link (crafted segments from an address no kernel owns) and
//   peers on the stack. Labs that only need the stack as a server use this; every target has it.
// - partner(): the stack is one kernel-socket host of a two-host lab (the subject) and the other role runs
//   in a namespace of this machine (the partner), joined to it by the target's link. Targets that cannot
//   offer it say why (TargetFactory.linkUnsupported).
import { UnsupportedError as UnsupportedTargetError } from '../testbed/unsupported.js';
import type { PeerClient } from '../peer/client.js';
import type { Counters } from '../testbed/counters.js';
import type { Impairment, SocketFilter, SysctlApi } from '../testbed/host.js';
import type { ImpairSpec } from '../testbed/impair.js';
import type { SocketEntry } from '../testbed/ss.js';
import type { Match } from '../wire/match.js';
import type { Wire } from '../wire/wire.js';
import type { StackInfo } from './kernel.js';

/** What a lab needs of a host on any stack. Missing facilities are absent (or throw UnsupportedTargetError). */
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

/** A host a two-host lab drives with kernel sockets: a namespace of this machine, or a target's kernel. */
export interface LabHost extends TargetHost {
  // Two-host labs run on Linux kernels, which always have both.
  counters(): Promise<Counters>;
  sockets(filter?: SocketFilter): Promise<SocketEntry[]>;
  peer(): Promise<PeerClient>;
  /** nftables drops on this host; only local namespaces have it (see Pair.impair in src/lab/fixtures.ts). */
  impair?(spec: ImpairSpec): Promise<Impairment>;
  /** The namespace, for hosts of this machine (captures on other interfaces, programs such as nginx). */
  readonly netns?: string;
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

/** A target (or its host) cannot do what a lab asks: the testbed's UnsupportedError, under the name targets use. */
export { UnsupportedTargetError };

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

/**
 * The subject of a two-host lab on a target and its partner on this machine, for one case. Sysctls set
 * on either through their `sysctl` are put back when the session ends; both get addresses no earlier
 * case used, so no 4-tuple meets an earlier case's TIME-WAIT.
 */
export interface PartnerSession extends AsyncDisposable {
  /** The target's kernel (named after the lab's subject role). */
  readonly subject: LabHost;
  readonly subjectAddr: string;
  readonly subjectStack: StackInfo;
  /** This machine's kernel in a namespace on the target's link (named after the other role); it has impair(). */
  readonly partner: LabHost & Required<Pick<LabHost, 'impair' | 'netns'>> & {
    /** Another address of the partner on the link (removed when the session ends). */
    addAddress(addr: string): Promise<void>;
  };
  readonly partnerAddr: string;
  readonly partnerStack: StackInfo;
  /** Capture on this machine's end of the link: both directions of every subject<->partner segment. */
  readonly wire: Wire;
  readonly point: string;
  dispose(): Promise<void>;
}

export interface LabTarget extends AsyncDisposable {
  /** Matrix column id, e.g. 'linux-6.1-qemu'. */
  readonly id: string;
  readonly stack: StackInfo;
  probe(filter?: Match): Promise<ProbeSession>;
  /** Two-host labs: `subject` and `partner` name the roles (host names in ladders and reports). */
  partner?(roles: { subject: string; partner: string }, filter?: Match): Promise<PartnerSession>;
  dispose(): Promise<void>;
}

export interface TargetFactory {
  readonly id: string;
  readonly title: string;
  /** undefined when it can start here, else why not (a missing package, no kernel image...). */
  unavailable(): Promise<string | undefined>;
  /**
   * Why two-host labs (kernel sockets on both ends) cannot run on this stack, or undefined when its
   * targets offer partner(). Known before anything starts, so `run` can refuse at once.
   */
  readonly linkUnsupported?: string;
  start(): Promise<LabTarget>;
}
