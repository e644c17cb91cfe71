// Another machine over ssh as a target (`--target ssh:freebsd`): a Vagrant VM (Debian or FreeBSD) on a
// host-only link in 198.18.0.0/15 that this machine shares. The VM's own kernel is the stack under test;
// the prober is this machine's interface on that link:
//   - the VM's lab-range address comes from its interfaces (ip -j addr / ifconfig); our interface and
//     address toward it from `ip route get`; both must be in the lab range or nothing starts;
//   - ghosts are addresses at the top of that subnet that nobody answers ARP for; each session gives the
//     VM a permanent neighbour entry for its ghost pointing at our MAC (ip neigh / arp -S), removed after;
//   - our kernel does not own the ghosts, so it never answers the VM; an nft table (netdev tcplab-<run>s)
//     drops frames to the ghosts at our interface's ingress, so it does not forward them either
//     (ip_forward=1 on hosts that run VMs) - the capture (AF_PACKET) sees them first;
//   - sysctls, sockets, counters and peers go through SshHost over one shared ssh connection;
//   - two-host labs (partner()): the VM's kernel is the subject; the partner is a fresh namespace of this
//     machine joined to the same link (a veth into the link's bridge, or a macvlan on a plain interface),
//     with a free address of the VM's /24 per session (partner.ts). Deleting the namespace removes both.
// Ctrl-C/SIGTERM/exit undo through the testbed's process hooks; a run journal (/run/tcplab/<run>.json)
// lets `tcplab clean` remove the nft table after a SIGKILL. On the VM, every sysctl and neighbour entry
// is registered with SshHost's guard before it is made, so even a SIGKILLed run's changes are undone
// there (the guard's ssh dies with this process; the guard sees EOF and runs what is left).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseVersion, type StackInfo } from '../lab/kernel.js';
import { inNetns, must, run, runSync } from '../testbed/exec.js';
import { track, untrack } from '../testbed/hooks.js';
import { isAlive, Journal, readJournals } from '../testbed/journal.js';
import { newRunId, RUN_DIR } from '../testbed/names.js';
import { assertSafe, isSafeV4 } from '../testbed/safety.js';
import { SshHost, type SshSysctl } from '../testbed/ssh-host.js';
import { Testbed } from '../testbed/testbed.js';
import type { Match } from '../wire/match.js';
import { freebsdArpDelete, freebsdArpSet, parseFreebsdIfconfig, type IfAddr } from '../testbed/freebsd.js';
import { PartnerAllocator, subjectSide } from './partner.js';
import { UnsupportedTargetError, type LabTarget, type PartnerSession, type ProbeSession, type TargetFactory } from './target.js';
import { linkSession } from './session.js';

export interface SshTargetOptions {
  /** ssh destination: a Host alias of sshConfig ('freebsd') or user@host. */
  dest: string;
  /** ssh -F file; default: resolveSshConfig(dest). */
  sshConfig?: string;
  /** The project's checkout on a Linux VM (its built Node peer). Default $TCPLAB_SSH_REMOTE_ROOT or /vagrant. */
  remoteRoot?: string;
  /** Remote argv of the peer program (default: SshHost's per-kernel choice). */
  peerCommand?: readonly string[];
  /** Local network namespace that holds the link toward the VM (tests). Default $TCPLAB_SSH_NETNS, else this one. */
  netns?: string;
  /** How many ghost addresses to rotate through (fresh 4-tuples per session). Default 16. */
  ghosts?: number;
}

const SSH_PREFIX = 'ssh:';

/** 'ssh:freebsd' -> 'freebsd'; RangeError naming the field for an empty or unusable name. */
export function parseSshTarget(id: string, field = '--target'): string {
  if (!id.startsWith(SSH_PREFIX)) throw new RangeError(`${field}: '${id}' is not an ssh target (write ssh:NAME, e.g. ssh:freebsd)`);
  const dest = id.slice(SSH_PREFIX.length);
  if (!dest) throw new RangeError(`${field}: 'ssh:' needs a host after it: a Host alias of your ssh config (ssh:freebsd) or user@host`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.@%:+\[\]-]*$/.test(dest)) {
    throw new RangeError(`${field}: '${dest}' is not an ssh host (letters, digits, . _ - @ :, not starting with '-'), e.g. ssh:freebsd or ssh:vagrant@198.18.250.11`);
  }
  return dest;
}

export function isSshTarget(id: string): boolean {
  return id.startsWith(SSH_PREFIX);
}

/**
 * The ssh config for a destination: $TCPLAB_SSH_CONFIG, else ./.vagrant/ssh-NAME (the Vagrantfile's
 * `vagrant ssh-config NAME > .vagrant/ssh-NAME`), else undefined (ssh's own default config).
 */
export function resolveSshConfig(dest: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  if (env.TCPLAB_SSH_CONFIG) return resolve(cwd, env.TCPLAB_SSH_CONFIG);
  const vagrant = join(cwd, '.vagrant', `ssh-${dest}`);
  return existsSync(vagrant) ? vagrant : undefined;
}

/** `ip -j addr show` -> the IPv4 addresses (with the interface's MAC). */
export function parseLinuxIpAddr(json: string): IfAddr[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(doc)) return [];
  const out: IfAddr[] = [];
  for (const l of doc as Array<{ ifname?: string; address?: string; link_type?: string; addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }>) {
    for (const a of l.addr_info ?? []) {
      if (a.family !== 'inet' || !l.ifname || !a.local || typeof a.prefixlen !== 'number') continue;
      out.push({ ifname: l.ifname, addr: a.local, prefixLen: a.prefixlen, ...(l.address && l.link_type === 'ether' ? { mac: l.address } : {}) });
    }
  }
  return out;
}

const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toAddr = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export function sameSubnet(a: string, b: string, prefixLen: number): boolean {
  const mask = prefixLen === 0 ? 0 : (~0 << (32 - prefixLen)) >>> 0;
  return ((toInt(a) & mask) >>> 0) === ((toInt(b) & mask) >>> 0);
}

/** Up to `count` addresses from the top of the subnet of `on` (below broadcast), skipping `exclude`. */
export function ghostCandidates(on: IfAddr, exclude: readonly string[], count: number): string[] {
  if (on.prefixLen > 30) return [];
  const mask = (~0 << (32 - on.prefixLen)) >>> 0;
  const net = (toInt(on.addr) & mask) >>> 0;
  const bcast = (net | ~mask) >>> 0;
  const out: string[] = [];
  for (let n = bcast - 1; n > net && out.length < count; n--) {
    const a = toAddr(n);
    if (!exclude.includes(a) && isSafeV4(a)) out.push(a);
  }
  return out;
}

/**
 * The lab-range addresses in the order to try them as the probed link: those on the interface that
 * carries the ssh session itself (`$SSH_CONNECTION`'s server address) last. With vagrant-libvirt the
 * management network (ssh) is in 198.18.0.0/15 too, and this machine shares it: without the order, the
 * crafted traffic went over the management NIC (eth0) instead of the private_network link (eth1).
 */
export function orderProbeLinks(lab: readonly IfAddr[], sshConnection: string): IfAddr[] {
  const server = sshConnection.trim().split(/\s+/)[2];
  const sshIfs = new Set(lab.filter((a) => a.addr === server).map((a) => a.ifname));
  return [...lab.filter((a) => !sshIfs.has(a.ifname)), ...lab.filter((a) => sshIfs.has(a.ifname))];
}

const NEIGH_DEAD = ['INCOMPLETE', 'FAILED'];

/**
 * Which of `addrs` someone on the link answers ARP for: one UDP datagram to each (port 9, discard)
 * makes the kernel resolve them; after a second, resolved entries are taken. The unresolved entries
 * this left are deleted again.
 */
export async function arpAnswered(netns: string | undefined, ifname: string, addrs: readonly string[], waitMs = 1000): Promise<Set<string>> {
  for (const a of addrs) assertSafe('ghost', a);
  const script = addrs.map((a) => `{ printf x > /dev/udp/${a}/9; } 2>/dev/null`).join('\n') + '\ntrue\n';
  const [c, args] = inNetns(netns, 'bash', ['-c', script]);
  await must(c, args);
  await new Promise((r) => setTimeout(r, waitMs));
  const neigh = JSON.parse(await must('ip', [...(netns ? ['-n', netns] : []), '-j', '-4', 'neigh', 'show', 'dev', ifname])) as Array<{ dst: string; lladdr?: string; state?: string[] }>;
  const taken = new Set<string>();
  for (const n of neigh) {
    if (!addrs.includes(n.dst)) continue;
    if (n.lladdr && !(n.state ?? []).some((s) => NEIGH_DEAD.includes(s))) taken.add(n.dst);
    else await run('ip', [...(netns ? ['-n', netns] : []), 'neigh', 'del', n.dst, 'dev', ifname]);
  }
  return taken;
}

/**
 * Removes connection-sharing sockets (/run/tcplab/<run>.ssh) of runs that are gone: a SIGKILLed run
 * cannot remove its own. Called on every start; `tcplab clean` can call it too.
 */
export function cleanSshLeftovers(): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(RUN_DIR);
  } catch {
    return removed;
  }
  const live = new Set(readJournals().filter((j) => isAlive(j.pid)).map((j) => j.runId));
  for (const n of names) {
    const m = /^([0-9a-f]{6})\.ssh$/.exec(n);
    if (!m || live.has(m[1]!)) continue;
    rmSync(join(RUN_DIR, n), { force: true });
    removed.push(join(RUN_DIR, n));
  }
  return removed;
}

interface LocalSide {
  ifname: string;
  addr: string;
  mac: string;
}

interface SessionState {
  ghost: string;
  sysctl: SshSysctl;
  neighSet: boolean;
  /** The remote guard's id for the neighbour entry's removal. */
  guard?: string;
  dispose(): Promise<void>;
}

export class SshTarget implements LabTarget {
  readonly id: string;
  private seq = 0;
  private readonly sessions = new Set<SessionState>();
  private disposed: Promise<void> | undefined;
  private tableUp = false;
  private partnerLink: Promise<{ tb: Testbed; alloc: PartnerAllocator }> | undefined;

  private constructor(
    readonly host: SshHost,
    readonly runId: string,
    private readonly journal: Journal,
    readonly netns: string | undefined,
  ) {
    this.id = `ssh:${host.opts.dest}`;
  }

  // Filled by start(); readonly for users.
  stack!: StackInfo;
  /** The VM's interface and address in the lab range. */
  remote!: IfAddr;
  /** Our interface toward it. */
  local!: LocalSide;
  /** Ghost addresses that no one answered ARP for, used in turn. */
  ghosts: string[] = [];

  get table(): string {
    return `tcplab-${this.runId}s`;
  }

  static async start(opts: SshTargetOptions): Promise<SshTarget> {
    const dest = opts.dest;
    const sshConfig = opts.sshConfig ?? resolveSshConfig(dest);
    if (sshConfig && !existsSync(sshConfig)) throw new Error(`ssh:${dest}: ssh config ${sshConfig} does not exist (TCPLAB_SSH_CONFIG, or \`vagrant ssh-config ${dest} > .vagrant/ssh-${dest}\`)`);
    const netns = opts.netns ?? (process.env.TCPLAB_SSH_NETNS || undefined);
    const runId = newRunId();
    cleanSshLeftovers();
    const journal = new Journal(runId);
    const host = new SshHost({
      dest,
      ...(sshConfig ? { sshConfig } : {}),
      remoteRoot: opts.remoteRoot ?? process.env.TCPLAB_SSH_REMOTE_ROOT ?? '/vagrant',
      ...(opts.peerCommand ? { peerCommand: opts.peerCommand } : {}),
      ...(netns ? { localNetns: netns } : {}),
      controlPath: join(RUN_DIR, `${runId}.ssh`),
      name: dest,
    });
    host.useGuard = true;
    const t = new SshTarget(host, runId, journal, netns);
    track(t);
    try {
      await t.init(opts.ghosts ?? 16);
      return t;
    } catch (e) {
      await t.dispose().catch(() => undefined);
      throw e;
    }
  }

  private async init(ghostCount: number): Promise<void> {
    const dest = this.host.opts.dest;
    const fix = `check \`ssh${this.host.opts.sshConfig ? ` -F ${this.host.opts.sshConfig}` : ''} ${dest} true\`; for a Vagrant VM: vagrant up ${dest} && vagrant ssh-config ${dest} > .vagrant/ssh-${dest}`;
    await this.host.startMaster().catch((e: unknown) => {
      throw new Error(`ssh:${dest}: cannot connect (${e instanceof Error ? e.message : String(e)}); ${fix}`);
    });
    const f = await this.host.remoteFacts();
    // Debian's release (6.1.0-18-amd64) hides the upstream version; /proc/version states it.
    const upstream = [...f.procVersion.matchAll(/Debian (\d+\.\d+\.\d+)-/g)].pop()?.[1] ?? f.release;
    this.stack = { os: f.os, release: f.release, version: parseVersion(f.os === 'linux' ? upstream : f.release) };

    const addrs = f.os === 'linux' ? parseLinuxIpAddr(await this.host.must('ip', ['-j', 'addr', 'show'])) : parseFreebsdIfconfig(await this.host.must('ifconfig', []));
    const lab = addrs.filter((a) => isSafeV4(a.addr));
    if (!lab.length) {
      throw new Error(`ssh:${dest}: the remote host has no IPv4 address in 198.18.0.0/15 (it has ${addrs.map((a) => `${a.ifname} ${a.addr}/${a.prefixLen}`).join(', ') || 'none'}); ` +
        'crafted traffic must stay in the lab range: give it one on a link this machine shares (Vagrantfile: private_network ip 198.18.250.11)');
    }
    const why: string[] = [];
    const sshConn = await this.host.must('sh', ['-c', 'echo "$SSH_CONNECTION"']).catch(() => '');
    for (const r of orderProbeLinks(lab, sshConn)) {
      const local = await this.localToward(r).catch((e: unknown) => (why.push(`${r.addr}: ${e instanceof Error ? e.message : String(e)}`), undefined));
      if (!local) continue;
      this.remote = r;
      this.local = local;
      break;
    }
    if (!this.local) {
      throw new Error(`ssh:${dest}: no local interface shares a 198.18.0.0/15 link with it (${why.join('; ')}); ` +
        `the prober needs an address in the VM's subnet on that link (Vagrant host-only network, e.g. 198.18.250.1/24)`);
    }
    const cands = ghostCandidates(this.remote, [this.remote.addr, this.local.addr], Math.max(1, Math.min(ghostCount, 64)));
    const taken = cands.length ? await arpAnswered(this.netns, this.local.ifname, cands) : new Set<string>();
    this.ghosts = cands.filter((a) => !taken.has(a));
    if (!this.ghosts.length) {
      throw new Error(`ssh:${dest}: no free ghost address in ${this.remote.addr}/${this.remote.prefixLen} (every candidate at the top of the subnet answered ARP, or the subnet is too small): use a /24 or larger host-only network`);
    }
    // Our kernel must neither answer nor forward what the VM sends to the ghosts.
    const set = this.ghosts.join(', ');
    // At the interface's ingress hook, which runs after the packet taps (the capture sees the frame) and
    // before the bridge and IP layers. An ip-family prerouting rule is too early on a bridge when
    // br_netfilter is on (bridge-nf-call-iptables=1, as where libvirt runs): it runs PRE_ROUTING for the
    // bridge's ports, before the frame is passed up to the bridge device our capture listens on, so the
    // VM's SYN-ACKs were dropped unseen (the first real VM run).
    const nft = `table netdev ${this.table} {\n  chain in {\n    type filter hook ingress device "${this.local.ifname}" priority -500; policy accept;\n    ip daddr { ${set} } drop\n  }\n}\n`;
    this.tableUp = true;
    const [c, a] = inNetns(this.netns, 'nft', ['-f', '-']);
    await must(c, a, { input: nft });
  }

  /** Our interface and address toward a remote lab address: on-link, in the lab range, same subnet. */
  private async localToward(r: IfAddr): Promise<LocalSide> {
    const ns = this.netns ? ['-n', this.netns] : [];
    const route = (JSON.parse(await must('ip', [...ns, '-j', 'route', 'get', r.addr])) as Array<{ type?: string; dev?: string; prefsrc?: string; gateway?: string }>)[0];
    if (!route?.dev || !route.prefsrc) throw new Error('no route');
    if (route.type === 'local') throw new Error('it is an address of this machine');
    if (route.gateway) throw new Error(`reached through gateway ${route.gateway} on ${route.dev}, not directly`);
    if (!isSafeV4(route.prefsrc)) throw new Error(`our address toward it, ${route.prefsrc} on ${route.dev}, is outside 198.18.0.0/15`);
    if (!sameSubnet(route.prefsrc, r.addr, r.prefixLen)) throw new Error(`our address ${route.prefsrc} on ${route.dev} is not in its subnet /${r.prefixLen}`);
    const link = (JSON.parse(await must('ip', [...ns, '-j', 'link', 'show', 'dev', route.dev])) as Array<{ address?: string; link_type?: string }>)[0];
    if (!link?.address || link.link_type !== 'ether') throw new Error(`${route.dev} is not an Ethernet interface`);
    assertSafe('ssh target address', r.addr);
    return { ifname: route.dev, addr: route.prefsrc, mac: link.address };
  }

  private neighSetArgv(ghost: string): string[] {
    return this.host.priv(this.stack.os === 'freebsd'
      ? freebsdArpSet(ghost, this.local.mac)
      : ['ip', 'neigh', 'replace', ghost, 'lladdr', this.local.mac, 'dev', this.remote.ifname, 'nud', 'permanent']);
  }

  private neighDelArgv(ghost: string, priv = true): string[] {
    const argv = this.stack.os === 'freebsd' ? freebsdArpDelete(ghost) : ['ip', 'neigh', 'del', ghost, 'dev', this.remote.ifname];
    return priv ? this.host.priv(argv) : argv;
  }

  async probe(filter: Match = {}): Promise<ProbeSession> {
    if (this.disposed) throw new Error(`${this.id}: disposed`);
    const ghost = this.ghosts[this.seq++ % this.ghosts.length]!;
    assertSafe('ghost', ghost);
    const sysctl = this.host.newSysctl();
    let session: ProbeSession | undefined;
    const removeNeigh = async () => {
      if (!st.neighSet) return;
      const [c, ...a] = this.neighDelArgv(ghost);
      await this.host.must(c!, a);
      st.neighSet = false;
      await this.host.guardRemove(st.guard);
    };
    // Tracked before anything is made: the exit hook (disposeSync) and dispose() still find what a
    // half-made session set up (sysctls, the neighbour entry; the remote guard covers a kill).
    const st: SessionState = {
      ghost,
      sysctl,
      neighSet: false,
      dispose: async () => {
        if (!this.sessions.delete(st)) return;
        if (session) await session.dispose();
        else await Promise.all([sysctl.restore(), removeNeigh()]);
      },
    };
    this.sessions.add(st);
    try {
      session = await linkSession({
        host: this.host,
        addr: this.remote.addr,
        ghost: async () => {
          const guard = await this.host.guardAdd(this.neighDelArgv(ghost, false));
          if (guard) st.guard = guard;
          st.neighSet = true;
          const [c, ...a] = this.neighSetArgv(ghost);
          await this.host.must(c!, a);
          return { addr: ghost, dispose: removeNeigh };
        },
        ...(this.netns ? { netns: this.netns } : {}),
        ifname: this.local.ifname,
        filter,
        sysctl,
        peer: () => this.host.peer(),
        label: this.id,
      });
    } catch (e) {
      await st.dispose().catch(() => undefined);
      throw e;
    }
    const s = session;
    return { ...s, dispose: () => st.dispose(), [Symbol.asyncDispose]: () => st.dispose() };
  }

  /**
   * The partner's namespace on the VM's link, made on the first partner(): a veth whose outer end joins the
   * link's bridge (libvirt, VirtualBox host-only) or, on a plain interface, a macvlan in bridge mode. Its
   * addresses are ones of the VM's /24 nobody answered ARP for, away from the VMs (.10, .11) and the ghosts.
   */
  private linkPartner(): Promise<{ tb: Testbed; alloc: PartnerAllocator }> {
    this.partnerLink ??= (async () => {
      if (this.stack.os !== 'linux') {
        throw new UnsupportedTargetError(`${this.id}: two-host labs drive Linux sysctls and the Node peer on the subject; ${this.stack.os} over ssh runs the probe labs only`);
      }
      if (this.remote.prefixLen > 24) throw new UnsupportedTargetError(`${this.id}: the VM's link ${this.remote.addr}/${this.remote.prefixLen} is smaller than a /24: the partner needs addresses of its own on it`);
      const net = this.remote.addr.split('.').slice(0, 3).join('.');
      const taken = new Set([this.remote.addr, this.local.addr, ...this.ghosts]);
      const cands = Array.from({ length: 80 }, (_, i) => `${net}.${20 + i}`).filter((a) => !taken.has(a) && isSafeV4(a) && sameSubnet(a, this.remote.addr, this.remote.prefixLen));
      const answered = await arpAnswered(this.netns, this.local.ifname, cands);
      const free = cands.filter((a) => !answered.has(a)).map((a) => Number(a.split('.')[3]));
      if (!free.length) throw new Error(`${this.id}: no free address for the partner in ${net}.20-99 (all answered ARP)`);
      const tb = await Testbed.create({ hosts: ['partner'], links: [] });
      try {
        const ns = tb.host('partner').netns;
        const inner = `tcplab-${tb.runId}l`;
        const ip = (args: string[]) => {
          const [c, a] = inNetns(this.netns, 'ip', args);
          return must(c, a);
        };
        const info = (JSON.parse(await ip(['-j', '-d', 'link', 'show', 'dev', this.local.ifname])) as Array<{ linkinfo?: { info_kind?: string } }>)[0];
        if (info?.linkinfo?.info_kind === 'bridge') {
          // Created here with its peer in the namespace: deleting the namespace deletes the pair.
          const outer = `tcplab-${tb.runId}o`;
          await ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', ns]);
          await ip(['link', 'set', outer, 'master', this.local.ifname, 'up']);
        } else {
          await ip(['link', 'add', 'link', this.local.ifname, 'name', inner, 'netns', ns, 'type', 'macvlan', 'mode', 'bridge']);
        }
        await must('ip', ['-n', ns, 'link', 'set', inner, 'up']);
        // A random start: the VM outlives our runs, and the last run's addresses may still be in its tables.
        const start = Math.floor(Math.random() * free.length);
        return { tb, alloc: new PartnerAllocator({ host: tb.host('partner'), ifname: inner, net, hosts: free, homeSrc: null, start }) };
      } catch (e) {
        await tb.dispose().catch(() => undefined);
        throw e;
      }
    })();
    return this.partnerLink;
  }

  /** Two-host labs: the VM's kernel is the subject (over ssh), the partner a namespace of this machine on its link. */
  async partner(roles: { subject: string; partner: string }, filter: Match = {}): Promise<PartnerSession> {
    if (this.disposed) throw new Error(`${this.id}: disposed`);
    const { alloc } = await this.linkPartner();
    const sysctl = this.host.newSysctl();
    const subject = subjectSide({
      name: roles.subject,
      kind: 'ssh',
      addr: this.remote.addr,
      sysctl,
      counters: () => this.host.counters(),
      sockets: (f) => this.host.sockets(f),
      peer: () => this.host.peer(),
      // The VM may still map the address to an earlier run's namespace (its MAC is gone): forget it.
      forget: async (a: string) => {
        const [c, ...args] = this.host.priv(['ip', 'neigh', 'del', a, 'dev', this.remote.ifname]);
        await this.host.exec(c!, args); // no entry is fine
      },
    });
    let session: PartnerSession | undefined;
    // Tracked like a probe session, so the exit hook still puts the VM's sysctls back.
    const st: SessionState = {
      ghost: '',
      sysctl,
      neighSet: false,
      dispose: async () => {
        if (!this.sessions.delete(st)) return;
        await session?.dispose();
      },
    };
    this.sessions.add(st);
    try {
      session = await alloc.open(roles, subject, this.stack, filter);
    } catch (e) {
      this.sessions.delete(st);
      await subject.restore().catch(() => undefined);
      throw e;
    }
    const s = session;
    return { ...s, dispose: () => st.dispose(), [Symbol.asyncDispose]: () => st.dispose() };
  }

  /** Sessions (peers, sysctls, neighbour entries), the host, the nft table, the journal. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      const errors: string[] = [];
      const note = (e: unknown) => errors.push(e instanceof Error ? e.message : String(e));
      for (const s of [...this.sessions]) await s.dispose().catch(note);
      const link = await this.partnerLink?.catch(() => undefined);
      await link?.tb.dispose().catch(note);
      await this.host.dispose().catch(note);
      if (this.tableUp) {
        const [c, a] = inNetns(this.netns, 'nft', ['delete', 'table', 'netdev', this.table]);
        const r = await run(c, a);
        if (r.code !== 0 && !/No such file/.test(r.stderr)) note(`nft table ${this.table}: ${r.stderr.trim()}`);
        this.tableUp = false;
      }
      this.journal.remove();
      untrack(this);
      if (errors.length) throw new Error(`${this.id}: clean-up: ${errors.join('; ')}`);
    })();
    return this.disposed;
  }

  /** The process's last moments (exit hook): blocking ssh calls for the VM, then the local table. */
  disposeSync(): void {
    for (const s of [...this.sessions]) {
      this.sessions.delete(s);
      try {
        s.sysctl.restoreSync();
      } catch {
        // keep going
      }
      if (s.neighSet) this.host.execSync(this.neighDelArgv(s.ghost));
    }
    this.host.stopMasterSync();
    if (this.tableUp) {
      const [c, a] = inNetns(this.netns, 'nft', ['delete', 'table', 'netdev', this.table]);
      runSync(c, a);
      this.tableUp = false;
    }
    this.journal.remove();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Why an ssh target cannot start here (no ssh client, a missing config, not reachable), or undefined. */
export async function sshUnavailable(dest: string, sshConfig: string | undefined, netns?: string): Promise<string | undefined> {
  if (spawnSync('ssh', ['-V']).error) return 'ssh is not installed (apt-get install openssh-client)';
  if (spawnSync('bash', ['--version']).error) return 'bash is missing (the ghost ARP check uses it)';
  if (sshConfig && !existsSync(sshConfig)) return `ssh config ${sshConfig} does not exist (set TCPLAB_SSH_CONFIG, or run \`vagrant ssh-config ${dest} > .vagrant/ssh-${dest}\`)`;
  const h = new SshHost({ dest, ...(sshConfig ? { sshConfig } : {}), ...(netns ? { localNetns: netns } : {}) });
  const r = await h.exec('true', [], { timeoutMs: 20_000 });
  if (r.code !== 0) {
    const msg = r.stderr.trim().split('\n').filter((l) => !/^Warning: Permanently added/.test(l)).join(' ') || `exit ${r.code}`;
    return `cannot reach ${dest} over ssh (${msg}); for a Vagrant VM: vagrant up ${dest} && vagrant ssh-config ${dest} > .vagrant/ssh-${dest}`;
  }
  return undefined;
}

/** The factory for `--target ssh:NAME` / `--stacks ssh:NAME` (spec: 'ssh:NAME' or NAME). */
export function sshFactory(spec: string, opts: Omit<SshTargetOptions, 'dest'> = {}, field = '--target'): TargetFactory {
  const dest = isSshTarget(spec) ? parseSshTarget(spec, field) : parseSshTarget(`${SSH_PREFIX}${spec}`, field);
  const sshConfig = opts.sshConfig ?? resolveSshConfig(dest);
  const netns = opts.netns ?? (process.env.TCPLAB_SSH_NETNS || undefined);
  return {
    id: `${SSH_PREFIX}${dest}`,
    title: `${dest} over ssh (${sshConfig ? `ssh -F ${sshConfig}` : 'default ssh config'})`,
    unavailable: () => sshUnavailable(dest, sshConfig, netns),
    start: () => SshTarget.start({ ...opts, dest, ...(sshConfig ? { sshConfig } : {}), ...(netns ? { netns } : {}) }),
  };
}
