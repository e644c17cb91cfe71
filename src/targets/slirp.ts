// libslirp (through slirp4netns) as a target: slirp's own TCP stack, derived from 4.4BSD, faces the
// prober's namespace over a tap. slirp terminates TCP itself and relays each connection to a real
// socket in the namespace it runs in ('outside'): a listener there on the server address makes slirp
// the server side. So "the server closes first" is the outside peer closing its accepted socket: slirp
// reads EOF and sends its FIN, and its own TCB goes through FIN-WAIT to TIME-WAIT (2*MSL of slirp's clock).
// slirp has no socket table, counters or sysctls to read: those checks are left out for this stack.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseVersion, type StackInfo } from '../lab/kernel.js';
import { PeerClient } from '../peer/client.js';
import { must } from '../testbed/exec.js';
import { Testbed } from '../testbed/testbed.js';
import { GhostLink, runNet } from './ghost-link.js';
import { ProcessTarget } from './session.js';
import { noSysctls, type TargetFactory, type TargetHost } from './target.js';

export async function slirpUnavailable(): Promise<string | undefined> {
  const r = spawnSync('slirp4netns', ['--version'], { encoding: 'utf8' });
  if (r.error) return 'slirp4netns is not installed (apt-get install slirp4netns)';
  if (spawnSync('setpriv', ['--version']).error) return 'setpriv (util-linux) is missing';
  return undefined;
}

function slirpStack(): StackInfo {
  const out = spawnSync('slirp4netns', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const lib = /libslirp: (\S+)/.exec(out)?.[1] ?? '0';
  const tool = /slirp4netns version (\S+)/.exec(out)?.[1] ?? '?';
  return { os: 'slirp', release: `libslirp ${lib} (slirp4netns ${tool})`, version: parseVersion(lib) };
}

export class SlirpTarget extends ProcessTarget {
  readonly id = 'slirp';
  readonly stack = slirpStack();

  private constructor(tb: Testbed, proc: ChildProcess, link: GhostLink, serverAddr: string, host: TargetHost) {
    super(tb, proc, link, serverAddr, host);
  }

  /** The "server" program runs outside, where slirp relays connections to (serverAddr is outside's). */
  protected sessionPeer(): Promise<PeerClient> {
    return PeerClient.spawn({ netns: this.tb.host('outside').netns });
  }

  static async start(): Promise<SlirpTarget> {
    const why = await slirpUnavailable();
    if (why) throw new Error(`slirp: ${why}`);
    const tb = await Testbed.create({ hosts: ['outside', 'prober'], links: [] });
    let proc: ChildProcess | undefined;
    try {
      const outside = tb.host('outside').netns;
      const prober = tb.host('prober').netns;
      const net = runNet(tb.runId);
      const serverAddr = `${runNet(tb.runId, 1)}.1`;
      await must('ip', ['-n', outside, 'addr', 'add', `${serverAddr}/32`, 'dev', 'lo']);
      const tap = `tcplab-${tb.runId}s`;
      proc = spawn('ip', [
        'netns', 'exec', outside, 'setpriv', '--pdeathsig', 'KILL', '--',
        'slirp4netns', '--configure', '--mtu=1500', `--cidr=${net}.0/24`, '--disable-dns', '--disable-host-loopback',
        '--ready-fd=3', '--netns-type=path', `/run/netns/${prober}`, tap,
      ], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
      let log = '';
      proc.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      const p = proc;
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`slirp4netns: not ready within 10 s: ${log.trim()}`)), 10_000);
        (p.stdio[3] as NodeJS.ReadableStream).once('data', () => (clearTimeout(t), res()));
        p.once('exit', (code) => (clearTimeout(t), rej(new Error(`slirp4netns exited (${code}): ${log.trim()}`))));
      });
      // Real segments on the tap: no offloads on the namespace side either.
      await must('ip', ['netns', 'exec', prober, 'ethtool', '-K', tap, 'tx', 'off']).catch(() => undefined);
      const link = new GhostLink(prober, tap, net, `tcplab-${tb.runId}g`);
      const host: TargetHost = {
        name: 'slirp',
        kind: 'sandbox',
        sysctl: noSysctls('slirp'),
      };
      return new SlirpTarget(tb, proc, link, serverAddr, host);
    } catch (e) {
      proc?.kill('SIGKILL');
      await tb.dispose().catch(() => undefined);
      throw e;
    }
  }
}

export const slirpFactory: TargetFactory = {
  id: 'slirp',
  title: "libslirp's TCP (4.4BSD-derived), through slirp4netns",
  unavailable: slirpUnavailable,
  linkUnsupported: "slirp has no sockets of its own to put on trial: applications behind it use the host kernel's sockets, and its TCP only faces the guest side of its NAT (probe labs run)",
  start: () => SlirpTarget.start(),
};
