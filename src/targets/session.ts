// A ProbeSession over a link in the prober's namespace: a fresh ghost, a Wire on the link, peers and
// sysctls that go with the session.
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from '../testbed/testbed.js';
import type { PeerClient } from '../peer/client.js';
import type { SysctlApi } from '../testbed/host.js';
import type { Match } from '../wire/match.js';
import { Wire } from '../wire/wire.js';
import type { GhostLink } from './ghost-link.js';
import type { ProbeSession, TargetHost } from './target.js';

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
 * Tear-down shared by targets that are one user-space process on a testbed (lwIP, slirp): sessions
 * first, then the process (SIGKILL, waiting for its exit), then the testbed.
 */
export async function disposeProcessTarget(sessions: Iterable<ProbeSession>, proc: ChildProcess, tb: Testbed): Promise<void> {
  for (const s of sessions) await s.dispose().catch(() => undefined);
  const gone = new Promise<void>((res) => (proc.exitCode !== null || proc.signalCode !== null ? res() : proc.once('exit', () => res())));
  proc.kill('SIGKILL');
  await gone;
  await tb.dispose();
}
