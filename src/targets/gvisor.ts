// gVisor's netstack as a target: Debian's runsc runs a sandbox whose network namespace is a testbed
// host; with --network=sandbox runsc takes over the namespace's veth (its addresses move into netstack,
// frames go through a packet socket), so the prober on the other end of the veth talks to netstack.
// --gso=false --software-gso=false: the prober sees real segments. Peers are the Node peer program run
// inside the sandbox (`runsc exec`); counters are gVisor's own /proc/net files.
// Trap on this kernel: runsc 2022 thinks it is in the root network namespace (see guest/hide-proc-sys.sh).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseVersion, type StackInfo } from '../lab/kernel.js';
import { PeerClient, peerScript } from '../peer/client.js';
import { parseCounters } from '../testbed/counters.js';
import { run } from '../testbed/exec.js';
import { Testbed } from '../testbed/testbed.js';
import { track, untrack } from '../testbed/hooks.js';
import type { Match } from '../wire/match.js';
import { packageRoot } from '../wire/native.js';
import { GhostLink } from './ghost-link.js';
import { cleanTargetLeftovers, targetRunDir } from './leftovers.js';
import { ghostLinkSession } from './session.js';
import { noSysctls, type LabTarget, type ProbeSession, type TargetFactory, type TargetHost } from './target.js';

export async function gvisorUnavailable(): Promise<string | undefined> {
  if (spawnSync('runsc', ['--version']).error) return 'runsc is not installed (apt-get install runsc)';
  if (spawnSync('unshare', ['--version']).error) return 'unshare (util-linux) is missing';
  return undefined;
}

function gvisorStack(): StackInfo {
  const out = spawnSync('runsc', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const v = /runsc version (\S+)/.exec(out)?.[1] ?? '?';
  // Debian's version is a snapshot date: 0.0~20221219.0
  const date = /(\d{8})/.exec(v)?.[1] ?? '0';
  return { os: 'gvisor', release: `runsc ${v}`, version: parseVersion(date) };
}

export class GvisorTarget implements LabTarget {
  readonly id = 'gvisor';
  readonly stack = gvisorStack();
  private readonly sessions = new Set<ProbeSession>();
  private disposed: Promise<void> | undefined;

  private constructor(
    readonly tb: Testbed,
    private readonly proc: ChildProcess,
    private readonly root: string,
    private readonly bundle: string,
    readonly cid: string,
    readonly link: GhostLink,
    readonly serverAddr: string,
    readonly host: TargetHost,
  ) {
    // Ctrl-C or a fatal error anywhere in the process disposes the target too (its files outside the testbed).
    track(this);
  }

  private static runsc(root: string): string[] {
    return ['runsc', '--root', root];
  }

  static async start(): Promise<GvisorTarget> {
    const why = await gvisorUnavailable();
    if (why) throw new Error(`gvisor: ${why}`);
    cleanTargetLeftovers();
    const tb = await Testbed.create({ hosts: ['prober', 'server'] });
    const cid = `tcplab-${tb.runId}`;
    const root = targetRunDir('runsc', tb.runId);
    const bundle = targetRunDir('runsc', tb.runId, '-bundle');
    let proc: ChildProcess | undefined;
    try {
      const server = tb.host('server');
      const prober = tb.host('prober');
      const serverAddr = server.addr('prober');
      mkdirSync(bundle, { recursive: true });
      // The host's root file system, read-only: node and the built peer run inside the sandbox as they are.
      writeFileSync(join(bundle, 'config.json'), JSON.stringify({
        ociVersion: '1.0.0',
        process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/sleep', '100000000'], env: ['PATH=/usr/local/bin:/usr/bin:/bin'], cwd: '/' },
        root: { path: '/', readonly: true },
        hostname: 'gvisor',
        // The package is bound in after the /tmp tmpfs: a checkout under /tmp (CI clones) must stay visible.
        mounts: [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/tmp', type: 'tmpfs', source: 'tmpfs' },
          { destination: packageRoot(), type: 'bind', source: packageRoot(), options: ['rbind', 'ro'] },
        ],
        linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: `/run/netns/${server.netns}` }] },
      }));
      const hide = join(packageRoot(), 'guest', 'hide-proc-sys.sh');
      proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '-m', '--propagation', 'private', 'sh', hide,
        ...GvisorTarget.runsc(root), '--network=sandbox', '--gso=false', '--software-gso=false', 'run', '--bundle', bundle, cid],
      { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      proc.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      const exited = new Promise<never>((_, rej) => proc!.once('exit', (c) => rej(new Error(`runsc exited (${c}): ${log.trim()}`))));
      exited.catch(() => undefined);
      // Running once `runsc state` says so.
      const t0 = Date.now();
      for (;;) {
        const st = await run('runsc', ['--root', root, 'state', cid]);
        if (st.code === 0 && /"status":\s*"running"/.test(st.stdout)) break;
        if (Date.now() - t0 > 30_000) throw new Error(`runsc: container not running within 30 s: ${log.trim()}`);
        await Promise.race([new Promise((r) => setTimeout(r, 100)), exited]);
      }
      const link = new GhostLink(prober.netns, prober.iface('server').ifname, serverAddr.replace(/\.\d+$/, ''), `tcplab-${tb.runId}g`);
      const exec = async (args: string[]) => {
        const r = await run('runsc', ['--root', root, 'exec', cid, ...args], { timeoutMs: 30_000 });
        if (r.code !== 0) throw new Error(`runsc exec ${args.join(' ')}: ${r.stderr.trim()}`);
        return r.stdout;
      };
      const host: TargetHost = {
        name: 'gvisor',
        kind: 'sandbox',
        sysctl: noSysctls('gvisor'),
        counters: async () => parseCounters(await exec(['/bin/sh', '-c', 'cat /proc/net/netstat 2>/dev/null; cat /proc/net/snmp'])),
        // No `sockets`: gVisor's /proc/net/tcp lists only sockets that still have a file descriptor
        // (a LISTEN shows, a closed endpoint in TIME-WAIT never does), so "gone" would be a lie.
      };
      return new GvisorTarget(tb, proc, root, bundle, cid, link, serverAddr, host);
    } catch (e) {
      proc?.kill('SIGKILL');
      await run('runsc', ['--root', root, 'delete', '-force', cid]).catch(() => undefined);
      await tb.dispose().catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
      rmSync(bundle, { recursive: true, force: true });
      throw e;
    }
  }

  /** The Node peer program inside the sandbox. */
  private async peer(): Promise<PeerClient> {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...GvisorTarget.runsc(this.root), 'exec', this.cid, process.execPath, peerScript()], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    return PeerClient.attach(child, { slackMs: 15_000 });
  }

  async probe(filter: Match = {}): Promise<ProbeSession> {
    const s = await ghostLinkSession({ host: this.host, addr: this.serverAddr, link: this.link, filter, sysctl: noSysctls('gvisor'), peer: () => this.peer() });
    this.sessions.add(s);
    return s;
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      for (const s of this.sessions) await s.dispose().catch(() => undefined);
      await run('runsc', ['--root', this.root, 'kill', this.cid, 'KILL']).catch(() => undefined);
      await run('runsc', ['--root', this.root, 'delete', '-force', this.cid]).catch(() => undefined);
      const gone = new Promise<void>((res) => (this.proc.exitCode !== null || this.proc.signalCode !== null ? res() : this.proc.once('exit', () => res())));
      this.proc.kill('SIGKILL');
      await gone;
      await this.tb.dispose();
      rmSync(this.root, { recursive: true, force: true });
      rmSync(this.bundle, { recursive: true, force: true });
    })().finally(() => untrack(this));
    return this.disposed;
  }

  /** What the process exit hook can still do synchronously. */
  disposeSync(): void {
    this.proc.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.bundle, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

export const gvisorFactory: TargetFactory = {
  id: 'gvisor',
  title: "gVisor's netstack (Debian runsc 2022, --network=sandbox)",
  unavailable: gvisorUnavailable,
  // The sandbox's peer could be a subject, but the expectations of the two-host labs are Linux's and the
  // sandbox link has no partner namespace yet: only the probe labs run here.
  linkUnsupported: "two-host labs need a partner namespace on the sandbox's link, which the gVisor target does not build yet; their expectations are Linux's (probe labs run)",
  start: () => GvisorTarget.start(),
};
