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

export interface SessionSpec {
  host: TargetHost;
  addr: string;
  link: GhostLink;
  filter: Match;
  sysctl: SysctlApi & { restore?: () => Promise<void> };
  peer: () => Promise<PeerClient>;
}

export async function linkSession(spec: SessionSpec): Promise<ProbeSession> {
  const ghost = await spec.link.add();
  let wire: Wire;
  try {
    wire = await Wire.open({ netns: spec.link.netns, ifname: spec.link.ifname, filter: spec.filter });
  } catch (e) {
    await ghost.dispose();
    throw e;
  }
  const peers = new Set<PeerClient>();
  let done = false;
  const s: ProbeSession = {
    host: spec.host,
    addr: spec.addr,
    ghost: ghost.addr,
    wire,
    point: `prober:${spec.link.ifname}`,
    sysctl: spec.sysctl,
    peer: async () => {
      const p = await spec.peer();
      peers.add(p);
      return p;
    },
    dispose: async () => {
      if (done) return;
      done = true;
      await Promise.all([...peers].map((p) => p.dispose().catch(() => undefined)));
      wire.close();
      await spec.sysctl.restore?.().catch(() => undefined);
      await ghost.dispose();
    },
    [Symbol.asyncDispose]: () => s.dispose(),
  };
  return s;
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
