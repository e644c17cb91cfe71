// Probe sessions, one way for every target: linkSession() (a ghost, a Wire on the prober's link, the peers
// and sysctls of the session, all put back on dispose), and ProcessTarget for one-process stacks.
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from '../testbed/testbed.js';
import type { PeerClient } from '../peer/client.js';
import type { SysctlApi } from '../testbed/host.js';
import type { Match } from '../wire/match.js';
import { Wire } from '../wire/wire.js';
import type { GhostLink } from './ghost-link.js';
import type { LabTarget, ProbeSession, TargetHost } from './target.js';
import type { StackInfo } from '../lab/kernel.js';

/** A ghost address the prober speaks from, made for one session and removed by dispose. */
export interface Ghost {
  addr: string;
  dispose(): Promise<void>;
}

export interface SessionSpec {
  host: TargetHost;
  /** The subject's address. */
  addr: string;
  /** Makes the session's ghost: an address on a GhostLink, an ARP entry in a guest, a VM's neighbour entry. */
  ghost: () => Promise<Ghost>;
  /** Where the prober's Wire captures and sends: its namespace (absent: this one) and interface. */
  netns?: string;
  ifname: string;
  filter: Match;
  sysctl: SysctlApi & { restore?: () => Promise<void> };
  peer: () => Promise<PeerClient>;
  /** Called once when the session is disposed (the target forgets it). */
  onDispose?: () => void;
  /** Names the target in a clean-up error. */
  label?: string;
}

/**
 * The one ProbeSession every target hands out: a ghost, a Wire on the prober's link, the peers it started
 * and the sysctls it set, all put back on dispose (in that reverse order; every step is tried, and the
 * failures are reported together).
 */
export async function linkSession(spec: SessionSpec): Promise<ProbeSession> {
  const ghost = await spec.ghost();
  let wire: Wire;
  try {
    wire = await Wire.open({ ...(spec.netns ? { netns: spec.netns } : {}), ifname: spec.ifname, filter: spec.filter });
  } catch (e) {
    await ghost.dispose().catch(() => undefined);
    throw e;
  }
  const peers = new Set<PeerClient>();
  let done: Promise<void> | undefined;
  const s: ProbeSession = {
    host: spec.host,
    addr: spec.addr,
    ghost: ghost.addr,
    wire,
    point: `prober:${spec.ifname}`,
    sysctl: spec.sysctl,
    peer: async () => {
      const p = await spec.peer();
      peers.add(p);
      return p;
    },
    dispose: () => {
      done ??= (async () => {
        spec.onDispose?.();
        const errors: string[] = [];
        const note = (e: unknown) => void errors.push(e instanceof Error ? e.message : String(e));
        await Promise.all([...peers].map((p) => p.dispose().catch(() => undefined)));
        wire.close();
        await spec.sysctl.restore?.().catch(note);
        await ghost.dispose().catch(note);
        if (errors.length) throw new Error(`${spec.label ?? spec.host.name}: session clean-up: ${errors.join('; ')}`);
      })();
      return done;
    },
    [Symbol.asyncDispose]: () => s.dispose(),
  };
  return s;
}

/** A session on a GhostLink (the user-space stacks: slirp, gVisor, lwIP). */
export function ghostLinkSession(spec: Omit<SessionSpec, 'ghost' | 'netns' | 'ifname'> & { link: GhostLink }): Promise<ProbeSession> {
  const { link, ...rest } = spec;
  return linkSession({ ...rest, ghost: () => link.add(), netns: link.netns, ifname: link.ifname });
}

/**
 * A target that is one user-space process on a testbed, probed over a GhostLink (lwIP, slirp): its
 * sessions, and the tear-down (sessions first, then the process, SIGKILL and waiting for its exit, then
 * the testbed). Subclasses say how they start and where a session's peer program runs.
 */
export abstract class ProcessTarget implements LabTarget {
  abstract readonly id: string;
  abstract readonly stack: StackInfo;
  private readonly sessions = new Set<ProbeSession>();
  private disposed: Promise<void> | undefined;

  protected constructor(
    readonly tb: Testbed,
    private readonly proc: ChildProcess,
    readonly link: GhostLink,
    /** The address the prober connects to. */
    readonly serverAddr: string,
    readonly host: TargetHost,
  ) {}

  /** The peer program of a session (the application side of the stack under test). */
  protected abstract sessionPeer(): Promise<PeerClient>;

  async probe(filter: Match = {}): Promise<ProbeSession> {
    const s = await ghostLinkSession({ host: this.host, addr: this.serverAddr, link: this.link, filter, sysctl: this.host.sysctl, peer: () => this.sessionPeer(), onDispose: () => this.sessions.delete(s), label: this.id });
    this.sessions.add(s);
    return s;
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      for (const s of [...this.sessions]) await s.dispose().catch(() => undefined);
      const gone = new Promise<void>((res) => (this.proc.exitCode !== null || this.proc.signalCode !== null ? res() : this.proc.once('exit', () => res())));
      this.proc.kill('SIGKILL');
      await gone;
      await this.tb.dispose();
    })();
    return this.disposed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
