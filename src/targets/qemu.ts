// Linux 6.1 in QEMU as a target: Debian bookworm's kernel with a busybox initramfs and guest/peer.c,
// booted with TCG (KVM is not usable on these machines) and networked through a tap device inside a
// testbed namespace. vnet_hdr=off, so the guest gets no checksum or segmentation offloads and the tap
// shows the real segments. The guest is driven over a virtio serial port (JSON lines, guest/peer.c).
// qemu runs inside the namespace under `setpriv --pdeathsig KILL`: it dies with this process even on
// SIGKILL, and the testbed's clean-up (and `tcplab clean`) kills whatever still runs in the namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseVersion, type StackInfo } from '../lab/kernel.js';
import type { PeerClient } from '../peer/client.js';
import { parseCounters, type Counters } from '../testbed/counters.js';
import { must } from '../testbed/exec.js';
import { filterSockets, type SocketFilter, type SysctlApi } from '../testbed/host.js';
import { assertSafe } from '../testbed/safety.js';
import type { SocketEntry } from '../testbed/ss.js';
import { normalize, sysctlPath, type SysctlValue } from '../testbed/sysctl.js';
import { Testbed } from '../testbed/testbed.js';
import type { Match } from '../wire/match.js';
import { packageRoot } from '../wire/native.js';
import { Wire } from '../wire/wire.js';
import { GuestChannel } from './guest-channel.js';
import { cleanTargetLeftovers, targetRunDir } from './leftovers.js';
import { parseProcNetTcp } from './proc-net-tcp.js';
import type { LabTarget, ProbeSession, TargetFactory, TargetHost } from './target.js';

export interface QemuOptions {
  /** Where guest/build.sh put vmlinuz, initramfs and release. Default $TCPLAB_CACHE/guest or <package>/.cache/guest. */
  guestDir?: string;
  memoryMb?: number;
  /** Boot to the guest peer's first line. Default 120 s ($TCPLAB_QEMU_BOOT_MS): TCG on a shared 2-core machine. */
  bootTimeoutMs?: number;
  /** Build the guest (guest/build.sh) when its files are missing. Default true. */
  build?: boolean;
  /** Capture point/host name of the guest. Default 'guest'. */
  name?: string;
}

export function guestDir(): string {
  return join(process.env.TCPLAB_CACHE ?? join(packageRoot(), '.cache'), 'guest');
}

const QEMU = 'qemu-system-x86_64';

function have(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error;
}

/** Why the QEMU target cannot start here, or undefined. */
export async function qemuUnavailable(dir = guestDir()): Promise<string | undefined> {
  if (!have(QEMU)) return `${QEMU} is not installed (apt-get install qemu-system-x86)`;
  if (!have('setpriv')) return 'setpriv (util-linux) is missing';
  const built = ['vmlinuz', 'initramfs', 'release'].every((f) => existsSync(join(dir, f)));
  if (built) return undefined;
  if (!existsSync('/bin/busybox') && !have('busybox')) return 'busybox-static is not installed (apt-get install busybox-static)';
  if (!have('cc')) return 'no C compiler (apt-get install gcc)';
  if (!have('apt-get', ['--version'])) return 'the guest kernel is not cached and apt-get is not available to fetch it';
  return undefined;
}

/** Runs guest/build.sh (kernel download once, static peer, initramfs). */
export async function buildGuest(): Promise<string> {
  const script = join(packageRoot(), 'guest', 'build.sh');
  return must('sh', [script], { timeoutMs: 300_000 });
}

/** A sysctl API over the guest's /proc/sys; changes are journaled here and put back by restore(). */
class GuestSysctl implements SysctlApi {
  private readonly before = new Map<string, string>();
  constructor(private readonly ch: GuestChannel) {}
  async get(key: string): Promise<string> {
    return normalize(await this.ch.read(sysctlPath(key)));
  }
  async getInt(key: string): Promise<number> {
    const v = await this.get(key);
    const n = Number(v);
    if (!Number.isInteger(n)) throw new TypeError(`sysctl ${key}: '${v}' is not an integer`);
    return n;
  }
  async set(key: string, value: SysctlValue): Promise<void> {
    const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : value.join('\t');
    if (!this.before.has(key)) this.before.set(key, await this.get(key));
    await this.ch.writeFile(sysctlPath(key), text);
  }
  async restore(): Promise<void> {
    for (const [k, v] of [...this.before].reverse()) await this.ch.writeFile(sysctlPath(k), v);
    this.before.clear();
  }
}

/** The guest as a host under test: sysctls, counters, the socket table and peers, all over the control port. */
export class QemuHost implements TargetHost {
  readonly kind = 'vm' as const;
  readonly sysctl: GuestSysctl;
  private readonly peers = new Set<PeerClient>();
  constructor(readonly name: string, readonly channel: GuestChannel, readonly addrV4: string) {
    this.sysctl = new GuestSysctl(channel);
  }
  async counters(): Promise<Counters> {
    return parseCounters((await this.channel.read('/proc/net/netstat')) + '\n' + (await this.channel.read('/proc/net/snmp')));
  }
  async sockets(filter?: SocketFilter): Promise<SocketEntry[]> {
    let text = await this.channel.read('/proc/net/tcp');
    text += await this.channel.read('/proc/net/tcp6').catch(() => '');
    return filterSockets(parseProcNetTcp(text), filter);
  }
  async peer(): Promise<PeerClient> {
    const p = await this.channel.peer();
    this.peers.add(p);
    return p;
  }
  exec(cmd: string, args: readonly string[]) {
    return this.channel.exec([cmd, ...args]);
  }
  async dispose(): Promise<void> {
    await Promise.all([...this.peers].map((p) => p.dispose().catch(() => undefined)));
    this.peers.clear();
    await this.sysctl.restore().catch(() => undefined);
  }
}

function nth24(runId: string): string {
  // The same 198.18.0.0/15 plan as the testbed: the run id picks one of 512 /24s.
  const n = (198 << 24 >>> 0) + (18 << 16) + (parseInt(runId, 16) % 512) * 256;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255].join('.');
}

export class QemuTarget implements LabTarget {
  readonly id = 'linux-6.1-qemu';
  private ghostSeq = 0;
  private readonly sessions = new Set<ProbeSession>();
  private disposed: Promise<void> | undefined;

  private constructor(
    readonly stack: StackInfo,
    readonly host: QemuHost,
    readonly tb: Testbed,
    readonly netns: string,
    readonly tap: string,
    readonly tapMac: string,
    readonly net: string,
    private readonly proc: ChildProcess,
    private readonly tmp: string,
  ) {}

  /** Boots the guest; resolves when its peer answers and its network is configured. */
  static async start(opts: QemuOptions = {}): Promise<QemuTarget> {
    const dir = opts.guestDir ?? guestDir();
    const why = await qemuUnavailable(dir);
    if (why) throw new Error(`linux-6.1-qemu: ${why}`);
    if (!['vmlinuz', 'initramfs', 'release'].every((f) => existsSync(join(dir, f)))) {
      if (opts.build === false) throw new Error(`linux-6.1-qemu: no guest in ${dir} (run guest/build.sh)`);
      await buildGuest();
    }
    cleanTargetLeftovers();
    const tb = await Testbed.create({ hosts: ['prober'], links: [] });
    // The console log: /run/tcplab-qemu-<runId>, removed on dispose (or by cleanTargetLeftovers after a kill).
    const tmp = targetRunDir('qemu', tb.runId);
    mkdirSync(tmp, { recursive: true });
    let proc: ChildProcess | undefined;
    try {
      const prober = tb.host('prober');
      const ns = prober.netns;
      const tap = `tcplab-${tb.runId}q`;
      const net = nth24(tb.runId);
      const [tapAddr, guestAddr] = [`${net}.1`, `${net}.2`];
      assertSafe('qemu guest address', guestAddr);
      await must('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await must('ip', ['-n', ns, '-batch', '-'], { input: `link set ${tap} up\naddr add ${tapAddr}/24 dev ${tap}\n` });
      const tapMac = (JSON.parse(await must('ip', ['-n', ns, '-j', 'link', 'show', tap])) as Array<{ address: string }>)[0]!.address;
      const guestMac = `52:54:00:${tb.runId.slice(0, 2)}:${tb.runId.slice(2, 4)}:${tb.runId.slice(4, 6)}`;

      const qboot = '/usr/share/qemu/qboot.rom';
      const args = [
        'netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', QEMU,
        ...(existsSync(qboot) ? ['-bios', qboot] : []), // qboot skips SeaBIOS's slow POST under TCG
        '-machine', 'pc', '-cpu', 'qemu64', '-accel', 'tcg', '-m', String(opts.memoryMb ?? 256), '-smp', '1',
        '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
        '-kernel', join(dir, 'vmlinuz'), '-initrd', join(dir, 'initramfs'),
        '-append', 'console=ttyS0 quiet panic=-1 mitigations=off',
        '-serial', `file:${join(tmp, 'console.log')}`,
        '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no,vnet_hdr=off`,
        '-device', `virtio-net-pci,netdev=n0,mac=${guestMac}`,
        '-device', 'virtio-serial-pci', '-chardev', 'stdio,id=ctl,signal=off', '-device', 'virtserialport,chardev=ctl,name=tcplab',
      ];
      proc = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const ch = new GuestChannel(proc.stdout!, proc.stdin!, 'qemu guest');
      proc.stdin!.on('error', () => undefined);
      const exited = new Promise<never>((_, rej) =>
        proc!.once('exit', (code, sig) => {
          const err = new Error(`qemu exited (code ${code}, signal ${sig}) ${stderr.trim()} ${consoleTail(tmp)}`.trim());
          ch.fail(err);
          rej(err);
        }),
      );
      exited.catch(() => undefined);
      const bootMs = opts.bootTimeoutMs ?? Number(process.env.TCPLAB_QEMU_BOOT_MS ?? 120_000);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        ch.ready,
        exited,
        new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`qemu guest: not ready within ${bootMs} ms ${consoleTail(tmp)}`)), bootMs))),
      ]).finally(() => clearTimeout(timer));

      // The guest's network: one address on the tap's /24, no IPv6 chatter.
      await ch.writeFile('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1');
      await ch.writeFile('/proc/sys/net/ipv6/conf/default/disable_ipv6', '1');
      await ch.must(['ip', 'link', 'set', 'eth0', 'up']);
      await ch.must(['ip', 'addr', 'add', `${guestAddr}/24`, 'dev', 'eth0']);
      const release = (await ch.read('/proc/sys/kernel/osrelease')).trim();
      const version = await ch.read('/proc/version');
      // Debian's release (6.1.0-56-amd64) hides the upstream version, which /proc/version states.
      const upstream = [...version.matchAll(/Debian (\d+\.\d+\.\d+)-/g)].pop()?.[1] ?? release; // not gcc's 'Debian 12.2.0-14'
      const stack: StackInfo = { os: 'linux', release, version: parseVersion(upstream) };
      const name = opts.name ?? 'guest';
      return new QemuTarget(stack, new QemuHost(name, ch, guestAddr), tb, ns, tap, tapMac, net, proc, tmp);
    } catch (e) {
      proc?.kill('SIGKILL');
      await tb.dispose().catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** The guest kernel's console (boot messages, insmod errors). */
  console(): string {
    try {
      return readFileSync(join(this.tmp, 'console.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async probe(filter: Match = {}): Promise<ProbeSession> {
    const ghost = `${this.net}.${200 + (this.ghostSeq++ % 50)}`;
    assertSafe('ghost', ghost);
    const ch = this.host.channel;
    // A permanent ARP entry in the guest: its answers to the ghost go to the tap, where the prober's
    // namespace (which does not own the address and does not forward) stays silent.
    await ch.must(['arp', '-i', 'eth0', '-s', ghost, this.tapMac]);
    const wire = await Wire.open({ netns: this.netns, ifname: this.tap, filter });
    const sysctl = new GuestSysctl(ch);
    const peers = new Set<PeerClient>();
    let done = false;
    const s: ProbeSession = {
      host: this.host,
      addr: this.host.addrV4,
      ghost,
      wire,
      point: `prober:${this.tap}`,
      sysctl,
      peer: async () => {
        const p = await ch.peer();
        peers.add(p);
        return p;
      },
      dispose: async () => {
        if (done) return;
        done = true;
        this.sessions.delete(s);
        await Promise.all([...peers].map((p) => p.dispose().catch(() => undefined)));
        await wire.close();
        await sysctl.restore().catch(() => undefined);
        await ch.exec(['arp', '-i', 'eth0', '-d', ghost]).catch(() => undefined);
      },
      [Symbol.asyncDispose]: () => s.dispose(),
    };
    this.sessions.add(s);
    return s;
  }

  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      for (const s of [...this.sessions]) await s.dispose().catch(() => undefined);
      await this.host.dispose().catch(() => undefined);
      const gone = new Promise<void>((res) => (this.proc.exitCode !== null || this.proc.signalCode !== null ? res() : this.proc.once('exit', () => res())));
      this.proc.kill('SIGKILL');
      await gone;
      await this.tb.dispose();
      rmSync(this.tmp, { recursive: true, force: true });
    })();
    return this.disposed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

function consoleTail(tmp: string): string {
  try {
    const t = readFileSync(join(tmp, 'console.log'), 'utf8').trim().split('\n').slice(-8).join('\n');
    return t ? `\nguest console:\n${t}` : '';
  } catch {
    return '';
  }
}

export const qemuFactory: TargetFactory = {
  id: 'linux-6.1-qemu',
  title: "Linux 6.1 (Debian bookworm's kernel) in QEMU/TCG",
  unavailable: () => qemuUnavailable(),
  start: () => QemuTarget.start(),
};
