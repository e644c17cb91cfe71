// Linux in QEMU as a target: a Debian kernel (bookworm's 6.1 by default; kernels.ts has the others and
// user-built ones) with a busybox initramfs and guest/peer.c, booted with TCG (KVM is not usable on these
// machines) and networked through a tap device inside a testbed namespace. vnet_hdr=off, so the guest gets no checksum or segmentation offloads and the tap
// shows the real segments. The guest is driven over a virtio serial port (JSON lines, guest/peer.c).
// qemu runs inside the namespace under `setpriv --pdeathsig KILL`: it dies with this process even on
// SIGKILL, and the testbed's clean-up (and `tcplab clean`) kills whatever still runs in the namespace.
// Start-up: the guest is restored from a snapshot of a freshly booted guest in the guest cache (about
// 0.6 s to ready instead of a 4 s cold boot; qemu-snapshot.ts has the details and what restored guests
// share). The first start builds the snapshot; TCPLAB_QEMU_COLD=1 (or `cold: true`) boots Linux instead.
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { track, untrack } from '../testbed/hooks.js';
import type { Match } from '../wire/match.js';
import { packageRoot } from '../wire/native.js';
import { GuestChannel } from './guest-channel.js';
import { cleanTargetLeftovers, targetRunDir } from './leftovers.js';
import { parseProcNetTcp } from './proc-net-tcp.js';
import { consolePath, failedMarker, Qmp, readFailedMarker, removeStale, saveSnapshot, SNAPSHOT_FD, snapshotKey, snapshotPath, writeAtomic } from './qemu-snapshot.js';
import { PartnerAllocator, subjectSide } from './partner.js';
import type { LabTarget, PartnerSession, ProbeSession, TargetHost } from './target.js';
import { runNet } from './ghost-link.js';
import { linkSession } from './session.js';

export interface QemuOptions {
  /** Where guest/build.sh put vmlinux or vmlinuz, initramfs and release. Default $TCPLAB_CACHE/guest or <package>/.cache/guest (6.1). */
  guestDir?: string;
  /** The target id (matrix column, error messages). Default 'linux-6.1-qemu'. */
  id?: string;
  /** guest/build.sh's arguments that build this guest when it is missing. Default none (bookworm's 6.1 into the default guestDir). */
  buildArgs?: readonly string[];
  memoryMb?: number;
  /** Boot to the guest peer's first line (a restore: at most 30 s of it). Default 120 s ($TCPLAB_QEMU_BOOT_MS): TCG on a shared 2-core machine. */
  bootTimeoutMs?: number;
  /** Build the guest (guest/build.sh) when its files are missing. Default true. */
  build?: boolean;
  /** Capture point/host name of the guest. Default 'guest'. */
  name?: string;
  /** Boot Linux instead of restoring the guest cache's snapshot. Default: true when $TCPLAB_QEMU_COLD is 1. */
  cold?: boolean;
}

export function guestDir(): string {
  return join(process.env.TCPLAB_CACHE ?? join(packageRoot(), '.cache'), 'guest');
}

const QEMU = 'qemu-system-x86_64';
const DEFAULT_ID = 'linux-6.1-qemu';

/** Whether guest/build.sh has built a guest in dir (a kernel, the initramfs and its release). */
export function guestBuilt(dir: string): boolean {
  return (existsSync(join(dir, 'vmlinux')) || existsSync(join(dir, 'vmlinuz'))) && ['initramfs', 'release'].every((f) => existsSync(join(dir, f)));
}

function have(cmd: string, args: string[] = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error;
}

/** Why the QEMU target cannot start here, or undefined. */
export async function qemuUnavailable(dir = guestDir()): Promise<string | undefined> {
  if (!have(QEMU)) return `${QEMU} is not installed (apt-get install qemu-system-x86)`;
  if (!have('setpriv')) return 'setpriv (util-linux) is missing';
  if (guestBuilt(dir)) return undefined;
  if (!existsSync('/bin/busybox') && !have('busybox')) return 'busybox-static is not installed (apt-get install busybox-static)';
  if (!have('cc')) return 'no C compiler (apt-get install gcc)';
  if (!have('apt-get', ['--version'])) return 'the guest kernel is not cached and apt-get is not available to fetch it';
  return undefined;
}

/** Runs guest/build.sh (kernel download once, static peer, initramfs); args pick the kernel and the output dir. */
export async function buildGuest(args: readonly string[] = []): Promise<string> {
  const script = join(packageRoot(), 'guest', 'build.sh');
  return must('sh', [script, ...args], { timeoutMs: 600_000 });
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


/** How a QemuTarget's guest came up. */
export interface QemuBoot {
  /** 'restored': from the guest cache's snapshot (built first when missing); 'cold': Linux booted. */
  mode: 'restored' | 'cold';
  /** This start built the snapshot (a cold boot, saved, then restored). */
  built: boolean;
  /** Spawn to ready (peer answers, network configured). */
  ms: number;
  snapshot?: string;
  /** Why a cold boot when a snapshot was wanted, or what went wrong with it. */
  note?: string;
}

/** One QEMU process with its control channel. */
interface Vm {
  proc: ChildProcess;
  ch: GuestChannel;
  /** Rejects when QEMU exits (with its stderr and the console's tail). */
  exited: Promise<never>;
  /** The snapshot it was restored from (-incoming). */
  restoredFrom?: string;
  /** The target id, for errors. */
  id: string;
}

const GUEST_MAC = '52:54:00:7c:0a:01'; // fixed: it is part of a snapshot's state (the tap is per run anyway)
// Per-run argv values, replaced by these in the snapshot key (they are backends, not guest state).
const TAP = '@TAP@';
const CONSOLE = '@CONSOLE@';

/** QEMU's argv for the guest; the snapshot key hashes it with the placeholders above. */
function qemuArgv(kernel: string, initrd: string, memoryMb: number, tap: string, consoleLog: string): string[] {
  const qboot = '/usr/share/qemu/qboot.rom';
  return [
    ...(existsSync(qboot) ? ['-bios', qboot] : []), // qboot skips SeaBIOS's slow POST under TCG
    '-machine', 'pc', '-cpu', 'qemu64', '-accel', 'tcg', '-m', String(memoryMb), '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', kernel, '-initrd', initrd,
    // quiet: every console line costs under TCG; tsc=reliable: no clocksource watchdog, which under a
    // loaded host could demote the TSC to the (slowly emulated) HPET.
    '-append', 'console=ttyS0 quiet panic=-1 mitigations=off no_timer_check tsc=reliable',
    '-chardev', `file,id=con,path=${consoleLog},append=on`, '-serial', 'chardev:con',
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no,vnet_hdr=off`,
    '-device', `virtio-net-pci,netdev=n0,mac=${GUEST_MAC}`,
    '-device', 'virtio-serial-pci', '-chardev', 'stdio,id=ctl,signal=off', '-device', 'virtserialport,chardev=ctl,name=tcplab',
  ];
}

function guestFiles(dir: string, opts: QemuOptions): { kernel: string; initrd: string; memoryMb: number; key: string } {
  // The unpacked kernel when build.sh could make it (PVH boot: no self-decompression under TCG).
  const kernel = existsSync(join(dir, 'vmlinux')) ? join(dir, 'vmlinux') : join(dir, 'vmlinuz');
  const initrd = join(dir, 'initramfs');
  const memoryMb = opts.memoryMb ?? 256;
  const key = snapshotKey(QEMU, qemuArgv(kernel, initrd, memoryMb, TAP, CONSOLE), [kernel, initrd]);
  return { kernel, initrd, memoryMb, key };
}

/** The snapshot QemuTarget.start(opts) restores (or builds), whether or not it exists yet. */
export function qemuSnapshotPath(opts: QemuOptions = {}): string {
  const dir = opts.guestDir ?? guestDir();
  return snapshotPath(dir, guestFiles(dir, opts).key);
}

export class QemuTarget implements LabTarget {
  private ghostSeq = 0;
  private readonly sessions = new Set<ProbeSession | PartnerSession>();
  private readonly partners: PartnerAllocator;
  private disposed: Promise<void> | undefined;

  private constructor(
    readonly id: string,
    readonly stack: StackInfo,
    readonly host: QemuHost,
    readonly tb: Testbed,
    readonly netns: string,
    readonly tap: string,
    readonly tapMac: string,
    readonly net: string,
    readonly boot: QemuBoot,
    private readonly proc: ChildProcess,
    private readonly tmp: string,
  ) {
    // Ctrl-C or a fatal error anywhere in the process disposes the target too (its files outside the testbed).
    track(this);
    this.partners = new PartnerAllocator({ host: tb.host('prober'), ifname: tap, net });
  }

  /**
   * Starts the guest; resolves when its peer answers and its network is configured. The guest is
   * restored from the guest cache's snapshot (qemu-snapshot.ts), which the first start builds; a
   * restore that fails falls back to a cold boot. TCPLAB_QEMU_COLD=1 always boots cold.
   */
  static async start(opts: QemuOptions = {}): Promise<QemuTarget> {
    const dir = opts.guestDir ?? guestDir();
    const id = opts.id ?? DEFAULT_ID;
    const why = await qemuUnavailable(dir);
    if (why) throw new Error(`${id}: ${why}`);
    if (!guestBuilt(dir)) {
      const cmd = ['guest/build.sh', ...(opts.buildArgs ?? [])].join(' ');
      if (opts.build === false) throw new Error(`${id}: no guest in ${dir} (run ${cmd})`);
      try {
        await buildGuest(opts.buildArgs);
      } catch (e) {
        throw new Error(`${id}: ${cmd} failed: ${(e as Error).message}`);
      }
      if (!guestBuilt(dir)) throw new Error(`${id}: ${cmd} left no guest in ${dir}`);
    }
    cleanTargetLeftovers();
    const t0 = Date.now();
    const tb = await Testbed.create({ hosts: ['prober'], links: [] });
    // The console log and QMP socket: /run/tcplab-qemu-<runId>, removed on dispose (or by cleanTargetLeftovers after a kill).
    const tmp = targetRunDir('qemu', tb.runId);
    mkdirSync(tmp, { recursive: true });
    const vms: Vm[] = [];
    try {
      const prober = tb.host('prober');
      const ns = prober.netns;
      const tap = `tcplab-${tb.runId}q`;
      // The testbed's address plan: the prober has no links, so the run's first /24 is free for the tap.
      const net = runNet(tb.runId);
      const [tapAddr, guestAddr] = [`${net}.1`, `${net}.2`];
      assertSafe('qemu guest address', guestAddr);
      await must('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await must('ip', ['-n', ns, '-batch', '-'], { input: `link set ${tap} up\naddr add ${tapAddr}/24 dev ${tap}\n` });
      const tapMac = (JSON.parse(await must('ip', ['-n', ns, '-j', 'link', 'show', tap])) as Array<{ address: string }>)[0]!.address;

      const { kernel, initrd, memoryMb, key } = guestFiles(dir, opts);
      const consoleLog = join(tmp, 'console.log');
      const argv = qemuArgv(kernel, initrd, memoryMb, tap, consoleLog);
      const snap = snapshotPath(dir, key);
      const bootMs = opts.bootTimeoutMs ?? Number(process.env.TCPLAB_QEMU_BOOT_MS ?? 120_000);
      const launch = (extra: string[], fd?: number): Vm => {
        const vm = launchVm(id, ns, [...argv, ...extra], tmp, fd);
        vms.push(vm);
        return vm;
      };

      let vm: Vm | undefined;
      let built = false;
      let note: string | undefined;
      const failed = readFailedMarker(dir, key);
      if (opts.cold ?? process.env.TCPLAB_QEMU_COLD === '1') note = opts.cold ? 'cold: true' : 'TCPLAB_QEMU_COLD=1';
      else if (failed) note = failed;
      else {
        if (!existsSync(snap)) {
          // No snapshot yet: boot cold, save the guest the moment its peer is up, and restore from the file
          // (which proves it works before later runs count on it).
          try {
            await buildSnapshot(launch, tmp, snap, consolePath(dir, key), bootMs);
            removeStale(dir, key);
            built = true;
          } catch (e) {
            // A guest that can never come up would fail its cold boot the same way: say so now.
            if ((e as { hopeless?: boolean }).hopeless) throw e;
            note = `snapshot not built: ${(e as Error).message}`;
          }
          await Promise.all(vms.map(stop));
        }
        if (existsSync(snap)) {
          try {
            vm = await restore(launch, snap, consolePath(dir, key), consoleLog, bootMs);
          } catch (e) {
            note = `restore failed: ${(e as Error).message}`;
            await Promise.all(vms.map(stop));
            // QEMU refused the file (not a timeout of a loaded machine): drop it; the next start rebuilds it,
            // or, when it was just built, boots cold from now on (the marker says why).
            if ((e as { qemuExited?: boolean }).qemuExited) {
              rmSync(snap, { force: true });
              if (built) writeAtomic(failedMarker(dir, key), note);
            }
            built = false;
          }
        }
      }
      if (!vm) {
        vm = launch([]);
        await ready(vm, vm.ch.ready, bootMs, tmp);
      }
      const ch = vm.ch;
      const mode: QemuBoot['mode'] = vm.restoredFrom ? 'restored' : 'cold';
      // One guest command for all of the run's set-up: the first fork+exec after a restore is the slow part
      // (TCG translates the kernel's and busybox's code anew), the commands after it are cheap.
      const setup = [
        // A restored guest's RNG and wall clock are the snapshot's: re-seed it before anything draws the TCP
        // secrets (qemu-snapshot.ts says why) and set the clock (a cold guest read it from the RTC).
        ...(mode === 'restored' ? [`/reseed ${randomBytes(64).toString('hex')}`, `date -u -s @${Math.floor(Date.now() / 1000)} >/dev/null`] : []),
        // The guest's network: one address on the tap's /24, no IPv6 chatter.
        'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
        'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6',
        'ip link set eth0 up',
        `ip addr add ${guestAddr}/24 dev eth0`,
      ];
      await ch.must(['/bin/sh', '-ec', setup.join('\n')]);
      const release = (await ch.read('/proc/sys/kernel/osrelease')).trim();
      const version = await ch.read('/proc/version');
      // Debian's release (6.1.0-56-amd64) hides the upstream version, which /proc/version states.
      const stack: StackInfo = { os: 'linux', release, version: parseVersion(upstreamVersion(version, release)) };
      const name = opts.name ?? 'guest';
      const boot: QemuBoot = { mode, built, ms: Date.now() - t0, ...(mode === 'restored' ? { snapshot: snap } : {}), ...(note ? { note } : {}) };
      return new QemuTarget(id, stack, new QemuHost(name, ch, guestAddr), tb, ns, tap, tapMac, net, boot, vm.proc, tmp);
    } catch (e) {
      await Promise.all(vms.map(stop));
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
    const s = await linkSession({
      host: this.host,
      addr: this.host.addrV4,
      // A permanent ARP entry in the guest: its answers to the ghost go to the tap, where the prober's
      // namespace (which does not own the address and does not forward) stays silent.
      ghost: async () => {
        await ch.must(['arp', '-i', 'eth0', '-s', ghost, this.tapMac]);
        return { addr: ghost, dispose: async () => void (await ch.exec(['arp', '-i', 'eth0', '-d', ghost])) };
      },
      netns: this.netns,
      ifname: this.tap,
      filter,
      sysctl: new GuestSysctl(ch),
      peer: () => ch.peer(),
      onDispose: () => this.sessions.delete(s),
      label: this.id,
    });
    this.sessions.add(s);
    return s;
  }

  /**
   * Two-host labs: the guest kernel is the subject (sysctls, sockets, counters and peers over the control
   * port), the partner this machine's kernel in the tap's namespace (partner.ts).
   */
  async partner(roles: { subject: string; partner: string }, filter: Match = {}): Promise<PartnerSession> {
    const ch = this.host.channel;
    const subject = subjectSide({
      name: roles.subject,
      kind: 'vm',
      addr: this.host.addrV4,
      sysctl: new GuestSysctl(ch),
      counters: () => this.host.counters(),
      sockets: (f) => this.host.sockets(f),
      peer: () => ch.peer(),
    });
    const s = await this.partners.open(roles, subject, this.stack, filter);
    const tracked: PartnerSession = {
      ...s,
      dispose: async () => {
        this.sessions.delete(tracked);
        await s.dispose();
      },
      [Symbol.asyncDispose]: () => tracked.dispose(),
    };
    this.sessions.add(tracked);
    return tracked;
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
    })().finally(() => untrack(this));
    return this.disposed;
  }

  /** What the process exit hook can still do synchronously. */
  disposeSync(): void {
    this.proc.kill('SIGKILL');
    rmSync(this.tmp, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/**
 * The upstream version in /proc/version: Debian's release (6.1.0-56-amd64, 7.3-amd64) hides it, the build
 * string after '#' states it ('#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1', 'Debian 7.3~rc7-1~exp1'); not the
 * compiler's 'Debian 12.2.0-14' before it. Other kernels: their release.
 */
export function upstreamVersion(procVersion: string, release: string): string {
  const build = procVersion.slice(procVersion.lastIndexOf('#'));
  return /Debian (\d+\.\d+(?:\.\d+)?)[-~+]/.exec(build)?.[1] ?? release;
}

/** Spawns QEMU in the namespace under pdeathsig; `fd` (the snapshot to restore) becomes its SNAPSHOT_FD. */
function launchVm(id: string, ns: string, qemuArgs: string[], tmp: string, fd?: number): Vm {
  const args = ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', QEMU, ...qemuArgs];
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])];
  const proc = spawn('ip', args, { stdio });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ch = new GuestChannel(proc.stdout!, proc.stdin!, `${id} guest`);
  proc.stdin!.on('error', () => undefined);
  const exited = new Promise<never>((_, rej) =>
    proc.once('exit', (code, sig) => {
      const err = Object.assign(new Error(`${id}: qemu exited (code ${code}, signal ${sig}) ${stderr.trim()} ${consoleTail(tmp)}`.trim()), { qemuExited: true });
      ch.fail(err);
      rej(err);
    }),
  );
  exited.catch(() => undefined);
  return { proc, ch, exited, id };
}

/**
 * Console lines after which the guest never gets ready: init found no control port (a kernel without the
 * virtio drivers), or the kernel panicked. Waiting out the boot timeout would only hide them.
 */
const HOPELESS = /^tcplab-guest: no virtio control port.*$|^.*Kernel panic - not syncing.*$/m;

/** Waits for `what` (the peer's ready line, or an answer) unless QEMU exits, the guest's console says it never will, or `ms` pass first. */
async function ready<T>(vm: Vm, what: Promise<T>, ms: number, tmp: string, label = 'ready'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  // Only what this QEMU wrote: a restored run's log starts with the (good) boot of its snapshot.
  const skip = consoleText(tmp).length;
  const hopeless = (): Error | undefined => {
    const m = HOPELESS.exec(consoleText(tmp).slice(skip));
    if (!m) return undefined;
    const hint = m[0].includes('virtio') ? ': the kernel lacks virtio_pci, virtio_net or virtio_console (build them in, =y, or pass their modules)' : '';
    return Object.assign(new Error(`${vm.id}: guest not ${label}: ${m[0].trim()}${hint} ${consoleTail(tmp)}`), { hopeless: true });
  };
  try {
    return await Promise.race([
      what,
      vm.exited,
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${vm.id}: guest not ${label} within ${ms} ms ${consoleTail(tmp)}`)), ms))),
      new Promise<never>((_, rej) => {
        poll = setInterval(() => {
          const e = hopeless();
          if (e) rej(e);
        }, 250);
      }),
    ]);
  } catch (e) {
    // init powers the guest off after its "no control port" line: say that, not just "qemu exited".
    throw (e as { hopeless?: boolean }).hopeless ? e : (hopeless() ?? e);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
}

function consoleText(tmp: string): string {
  try {
    return readFileSync(join(tmp, 'console.log'), 'utf8');
  } catch {
    return '';
  }
}


/** SIGKILLs a QEMU (if it still runs) and waits until it is gone. */
async function stop(vm: Vm): Promise<void> {
  const p = vm.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((res) => p.once('exit', () => res()));
  p.kill('SIGKILL');
  await gone;
}

/**
 * Boots the guest cold with a QMP socket and migrates it into the snapshot file the moment its peer is
 * ready: before the host has configured anything in it.
 */
async function buildSnapshot(launch: (extra: string[], fd?: number) => Vm, tmp: string, snap: string, savedConsole: string, bootMs: number): Promise<void> {
  const qmpPath = join(tmp, 'qmp.sock');
  const vm = launch(['-qmp', `unix:${qmpPath},server=on,wait=off`]);
  try {
    await ready(vm, vm.ch.ready, bootMs, tmp);
    const qmp = await ready(vm, Qmp.connect(qmpPath), 10_000, tmp, 'reachable over QMP');
    try {
      await ready(vm, saveSnapshot(qmp, join(tmp, 'migrate.sock'), snap), 60_000, tmp, 'saved');
    } finally {
      qmp.close();
    }
    writeAtomic(savedConsole, readFileSync(join(tmp, 'console.log'), 'utf8'));
  } finally {
    await stop(vm);
  }
}

/** Restores the snapshot into a new QEMU; resolves when the guest's peer answers. */
async function restore(launch: (extra: string[], fd?: number) => Vm, snap: string, savedConsole: string, consoleLog: string, bootMs: number): Promise<Vm> {
  // The run's console starts with the boot the snapshot was taken from.
  let boot = '';
  try {
    boot = readFileSync(savedConsole, 'utf8');
  } catch {
    // an older snapshot without its console
  }
  writeFileSync(consoleLog, `${boot}\ntcplab: restored from ${snap} at ${new Date().toISOString()}\n`);
  const fd = openSync(snap, 'r');
  let vm: Vm;
  try {
    // announce-rounds=0: no RARP "I moved" frames on the tap (nothing moved, and labs capture there).
    vm = launch(['-incoming', `fd:${SNAPSHOT_FD}`, '-global', 'migration.announce-rounds=0'], fd);
  } finally {
    closeSync(fd);
  }
  vm.restoredFrom = snap;
  // The peer said "ready" before the snapshot; a restored one is ready when it answers. Restoring takes
  // well under a second; a restore that hangs is not waited for as long as a boot.
  await ready(vm, vm.ch.read('/proc/uptime'), Math.min(bootMs, 30_000), join(consoleLog, '..'), 'answering after restore');
  return vm;
}

function consoleTail(tmp: string): string {
  const t = consoleText(tmp).trim().split('\n').slice(-8).join('\n');
  return t ? `\nguest console:\n${t}` : '';
}
