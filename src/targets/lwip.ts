// lwIP as a target: guest/peer.c built against Debian's liblwip (-DPEER_LWIP), whose unix port drives a
// tap. The tap lives in the prober's testbed namespace; the peer process is lwIP's whole stack (one
// process, one stack), driven over stdin/stdout with the guest peer protocol, channels for PeerClients.
// lwIP has no socket table, counters or sysctls to read: those checks are left out for this stack.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseVersion, type StackInfo } from '../lab/kernel.js';
import { must } from '../testbed/exec.js';
import { Testbed } from '../testbed/testbed.js';
import { packageRoot } from '../wire/native.js';
import { GhostLink, runNet } from './ghost-link.js';
import { GuestChannel } from './guest-channel.js';
import type { PeerClient } from '../peer/client.js';
import { guestDir } from './qemu.js';
import { ProcessTarget } from './session.js';
import { noSysctls, type TargetFactory, type TargetHost } from './target.js';

export async function lwipUnavailable(): Promise<string | undefined> {
  if (!existsSync('/usr/include/lwip/netif/tapif.h')) return 'liblwip-dev is not installed (apt-get install liblwip-dev)';
  if (spawnSync('cc', ['--version']).error) return 'no C compiler (apt-get install gcc)';
  return undefined;
}

function lwipStack(): StackInfo {
  let v = '0';
  try {
    const h = readFileSync('/usr/include/lwip/lwip/init.h', 'utf8');
    const n = (k: string) => /(\d+)/.exec(new RegExp(`#define ${k}\\s+(\\d+)`).exec(h)?.[1] ?? '0')?.[1] ?? '0';
    v = `${n('LWIP_VERSION_MAJOR')}.${n('LWIP_VERSION_MINOR')}.${n('LWIP_VERSION_REVISION')}`;
  } catch {
    // unknown version
  }
  return { os: 'lwip', release: `lwIP ${v} (Debian liblwip, unix port tapif)`, version: parseVersion(v) };
}

/** Builds .cache/guest/lwip-peer when missing or older than guest/peer.c. */
export async function buildLwipPeer(): Promise<string> {
  const bin = join(guestDir(), 'lwip-peer');
  const src = join(packageRoot(), 'guest', 'peer.c');
  if (!existsSync(bin) || statSync(src).mtimeMs > statSync(bin).mtimeMs) await must('sh', [join(packageRoot(), 'guest', 'build-lwip.sh')], { timeoutMs: 120_000 });
  return bin;
}

export class LwipTarget extends ProcessTarget {
  readonly id = 'lwip';
  readonly stack = lwipStack();

  private constructor(tb: Testbed, proc: ChildProcess, readonly channel: GuestChannel, link: GhostLink, serverAddr: string, host: TargetHost) {
    super(tb, proc, link, serverAddr, host);
  }

  protected sessionPeer(): Promise<PeerClient> {
    return this.channel.peer();
  }

  static async start(): Promise<LwipTarget> {
    const why = await lwipUnavailable();
    if (why) throw new Error(`lwip: ${why}`);
    const bin = await buildLwipPeer();
    const tb = await Testbed.create({ hosts: ['prober'], links: [] });
    let proc: ChildProcess | undefined;
    try {
      const ns = tb.host('prober').netns;
      const tap = `tcplab-${tb.runId}l`;
      const net = runNet(tb.runId);
      const serverAddr = `${net}.2`;
      await must('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await must('ip', ['-n', ns, '-batch', '-'], { input: `link set ${tap} up\naddr add ${net}.1/24 dev ${tap}\n` });
      await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', tap, 'tx', 'off']).catch(() => undefined);
      proc = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', 'env', `PRECONFIGURED_TAPIF=${tap}`, bin, serverAddr, '255.255.255.0', `${net}.1`], { stdio: ['pipe', 'pipe', 'pipe'] });
      let log = '';
      proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
      proc.stdin!.on('error', () => undefined);
      const channel = new GuestChannel(proc.stdout!, proc.stdin!, 'lwip peer');
      const p = proc;
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`lwip-peer: not ready within 10 s: ${log.trim()}`)), 10_000);
        channel.ready.then(() => (clearTimeout(t), res()));
        p.once('exit', (code) => {
          clearTimeout(t);
          const err = new Error(`lwip-peer exited (${code}): ${log.trim()}`);
          channel.fail(err);
          rej(err);
        });
      });
      const link = new GhostLink(ns, tap, net, `tcplab-${tb.runId}g`);
      const host: TargetHost = { name: 'lwip', kind: 'sandbox', sysctl: noSysctls('lwip') };
      return new LwipTarget(tb, proc, channel, link, serverAddr, host);
    } catch (e) {
      proc?.kill('SIGKILL');
      await tb.dispose().catch(() => undefined);
      throw e;
    }
  }
}

export const lwipFactory: TargetFactory = {
  id: 'lwip',
  title: 'lwIP (Debian liblwip 2.1, unix port tap driver) with guest/peer.c',
  unavailable: lwipUnavailable,
  linkUnsupported: 'two-host labs set sysctls (tcp_tw_reuse, timestamps, port ranges) and read socket tables and counters, none of which lwIP has (probe labs run)',
  start: () => LwipTarget.start(),
};
