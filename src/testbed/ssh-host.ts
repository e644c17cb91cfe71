// SshHost: a host under test reached over ssh (a Vagrant VM, a FreeBSD box). Sysctls (journaled and
// put back), socket states, counters and the peer program all go through `ssh`; Linux and FreeBSD are
// told apart once (uname -s) and read with their own tools (ss or netstat, /proc or netstat -s).
// The peer runs over the ssh session's stdio: on Linux the Node peer of the remote checkout (`node
// <remoteRoot>/dist/src/peer/main.js`); on FreeBSD, where the addon (AF_PACKET, netns) does not build,
// guest/peer.c compiled by the provision script (/usr/local/bin/tcplab-peer), same protocol.
// Privileged commands get `sudo -n` unless the login is root (-n: a password prompt fails, never hangs).
// With a controlPath, startMaster() opens one shared connection: every later command rides on it
// (past the remote sshd's MaxSessions, ssh falls back to a connection of its own).
// Changes on the remote side (sysctls, a target's neighbour entries) are also registered with a guard:
// a root shell on the remote end of its own ssh session that holds their undo commands and runs them
// when its stdin closes, so a SIGKILLed run (whose ssh dies with it: pdeathsig) is still put back.
import { spawn, type ChildProcess } from 'node:child_process';
import { PeerClient } from '../peer/client.js';
import { parseCounters, type Counters } from './counters.js';
import { inNetns, run, runSync, type ExecResult } from './exec.js';
import { filterSockets, type SocketFilter, type SysctlApi } from './host.js';
import { parseSs, type SocketEntry } from './ss.js';
import type { SysctlValue } from './sysctl.js';
import { freebsdSysctlKeys, freebsdSysctlRead, freebsdSysctlWrites, parseFreebsdNetstat, parseFreebsdTcpStats } from './freebsd.js';

const SYSCTL_WITH_SBIN = 'PATH="$PATH:/sbin:/usr/sbin" exec sysctl "$@"';

export interface SshHostOptions {
  /** ssh destination: 'user@host', or a Host alias of sshConfig (`vagrant ssh-config > F`). */
  dest: string;
  /** ssh -F FILE (e.g. the output of `vagrant ssh-config`). */
  sshConfig?: string;
  /** Where the project is checked out and built on the remote side (Vagrant: /vagrant). */
  remoteRoot?: string;
  /** Name in reports; default dest. */
  name?: string;
  /** Remote argv of the peer program; default per kernel (see above). */
  peerCommand?: readonly string[];
  /** Run ssh inside this local network namespace (where the link toward the host is; tests). */
  localNetns?: string;
  /** ssh connection sharing (-S): the socket of the master that startMaster() opens. */
  controlPath?: string;
}

/** What one ssh round trip learns about the remote system. */
export interface RemoteFacts {
  os: 'linux' | 'freebsd';
  /** uname -r, e.g. '6.1.0-18-amd64' or '14.0-RELEASE'. */
  release: string;
  uid: number;
  /** /proc/version on Linux (Debian states the upstream version there); '' elsewhere. */
  procVersion: string;
}

const KEY = /^[a-z0-9_][a-z0-9_\-]*(?:\.[a-z0-9_][a-z0-9_\-]*)+$/i;
// An ssh destination or Host alias; never starting with '-' (ssh would read it as an option).
const DEST = /^[A-Za-z0-9_][A-Za-z0-9_.@%:+\[\]-]*$/;

/** argv -> one line for a POSIX shell (the remote login shell, the guard's sh). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// The guard: "+ ID CMD" registers an undo command, "- ID" drops it; on EOF the ones left run, newest first.
// One line: the remote login shell may be csh-like, where a quoted newline does not parse.
const GUARD = [
  'd=$(mktemp -d /tmp/tcplab-undo.XXXXXX) || exit 1',
  'echo ready',
  'while IFS= read -r l; do case "$l" in "+ "*) r=${l#+ }; printf "%s\\n" "${r#* }" > "$d/${r%% *}";; "- "*) rm -f "$d/${l#- }";; esac; done',
  'for f in $(ls -r "$d"); do sh "$d/$f" >/dev/null 2>&1; done',
  'rm -rf "$d"',
].join('; ');

/** Undo commands held on the remote side (see the header); ids sort in registration order. */
export class RemoteGuard {
  private seq = 0;
  constructor(private readonly child: ChildProcess) {}

  private write(line: string): Promise<void> {
    return new Promise((res, rej) => this.child.stdin!.write(line + '\n', (e) => (e ? rej(e) : res())));
  }

  /** Registers `argv` (run as root, no sudo) to be run if this process dies before remove(id). */
  async add(argv: readonly string[]): Promise<string> {
    const id = String(++this.seq).padStart(8, '0');
    const line = shellQuote(argv);
    if (/[\n\r]/.test(line)) throw new TypeError(`guard: a command must be one line, got ${JSON.stringify(line)}`);
    await this.write(`+ ${id} ${line}`);
    return id;
  }

  async remove(id: string): Promise<void> {
    await this.write(`- ${id}`).catch(() => undefined);
  }

  /** Ends the guard; what is still registered runs on the remote side now. */
  async close(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((res) => c.once('exit', () => res()));
    c.stdin!.end();
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  killSync(): void {
    this.child.kill('SIGKILL');
  }
}

function text(value: SysctlValue): string {
  return typeof value === 'number' ? String(value) : typeof value === 'string' ? value : value.join(' ');
}

/** Sysctls of an ssh host, each change journaled here (the value before) and put back by restore(). */
export class SshSysctl implements SysctlApi {
  private readonly journal: Array<{ key: string; before: string; guard?: string }> = [];
  constructor(private readonly host: SshHost) {}

  async get(key: string): Promise<string> {
    if (!KEY.test(key)) throw new TypeError(`sysctl key: '${key}' is not a sysctl name like net.inet.tcp.msl`);
    if ((await this.host.kernel()) === 'linux') return (await this.host.sysctlRead([key]))[0]!;
    return freebsdSysctlRead(key, await this.host.sysctlRead(freebsdSysctlKeys(key)));
  }

  async getInt(key: string): Promise<number> {
    const v = await this.get(key);
    if (!/^-?\d+$/.test(v)) throw new TypeError(`sysctl ${key}: '${v}' is not an integer`);
    return Number(v);
  }

  /** Linux names are translated on FreeBSD (freebsd.ts); FreeBSD's own names pass through. */
  async set(key: string, value: SysctlValue): Promise<void> {
    if (!KEY.test(key)) throw new TypeError(`sysctl key: '${key}' is not a sysctl name like net.inet.tcp.msl`);
    const writes = (await this.host.kernel()) === 'linux' ? [{ key, value: text(value) }] : freebsdSysctlWrites(key, text(value));
    for (const w of writes) {
      if (!this.journal.some((j) => j.key === w.key)) {
        const before = (await this.host.sysctlRead([w.key]))[0]!;
        const guard = await this.host.guardAdd(this.host.sysctlWriteArgv(w.key, before, false));
        this.journal.push({ key: w.key, before, ...(guard ? { guard } : {}) });
      }
      await this.host.sysctlWrite(w.key, w.value);
    }
  }

  /** Puts every changed sysctl back, newest first; throws listing the ones that failed. */
  async restore(): Promise<void> {
    const errors: string[] = [];
    for (const j of this.journal.splice(0).reverse()) {
      await this.host.sysctlWrite(j.key, j.before).then(
        () => this.host.guardRemove(j.guard),
        (e: unknown) => errors.push(`${j.key}: ${e instanceof Error ? e.message : String(e)}`),
      );
    }
    if (errors.length) throw new Error(`${this.host.name}: could not restore sysctls: ${errors.join('; ')}`);
  }

  /** restore() for the process's last moments (the `exit` hook): blocking ssh calls. */
  restoreSync(): void {
    for (const j of this.journal.splice(0).reverse()) this.host.execSync(this.host.sysctlWriteArgv(j.key, j.before));
  }
}

export class SshHost {
  readonly kind = 'ssh' as const;
  readonly name: string;
  readonly netns = undefined;
  private factsP: Promise<RemoteFacts> | undefined;
  private facts: RemoteFacts | undefined;
  private readonly peers = new Set<PeerClient>();
  private master: ChildProcess | undefined;
  private guardP: Promise<RemoteGuard> | undefined;
  /** Register remote changes with the guard (SshTarget turns it on; off: nothing survives a SIGKILL). */
  useGuard = false;
  /** The host's own sysctl journal (sessions make their own with newSysctl()). */
  readonly sysctl: SshSysctl;

  constructor(readonly opts: SshHostOptions) {
    if (!opts.dest || !DEST.test(opts.dest)) {
      throw new TypeError(`dest: '${opts.dest ?? ''}' is not an ssh destination; expected a Host alias like 'freebsd' or 'vagrant@198.18.250.11'`);
    }
    this.name = opts.name ?? opts.dest;
    this.sysctl = new SshSysctl(this);
  }

  /** ssh argv for one remote command (arguments are quoted for the remote shell). */
  sshArgs(remote: readonly string[]): string[] {
    const q = shellQuote(remote);
    return [...this.baseArgs(), ...(this.opts.controlPath ? ['-S', this.opts.controlPath, '-o', 'ControlMaster=no'] : []), this.opts.dest, q];
  }

  private baseArgs(): string[] {
    // BatchMode: never a password prompt; ConnectTimeout and ServerAlive*: an unreachable or vanished
    // host is an error within seconds, never a hang.
    return [...(this.opts.sshConfig ? ['-F', this.opts.sshConfig] : []), '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10',
      '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3'];
  }

  /** The local command line for one remote command (inside localNetns when set). */
  command(remote: readonly string[]): [string, string[]] {
    return inNetns(this.opts.localNetns, 'ssh', this.sshArgs(remote));
  }

  exec(cmd: string, args: readonly string[], o: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    const [c, a] = this.command([cmd, ...args]);
    // pdeathsig: an ssh in flight when this process is SIGKILLed dies with it instead of lingering.
    return run('setpriv', ['--pdeathsig', 'KILL', '--', c, ...a], o);
  }

  /** Blocking exec for exit hooks; errors are the caller's to ignore. */
  execSync(argv: readonly string[]): ExecResult {
    const [c, a] = this.command(argv);
    return runSync(c, a);
  }

  async must(cmd: string, args: readonly string[]): Promise<string> {
    const r = await this.exec(cmd, args);
    if (r.code !== 0) throw new Error(`${this.name}: \`${cmd} ${args.join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** argv with `sudo -n` in front unless the login is root (call after remoteFacts()). */
  priv(argv: readonly string[]): string[] {
    return this.facts?.uid === 0 ? [...argv] : ['sudo', '-n', ...argv];
  }

  /** Runs a privileged remote command (sudo -n unless root). */
  async mustPriv(argv: readonly string[]): Promise<string> {
    await this.remoteFacts();
    const [c, ...a] = this.priv(argv);
    return this.must(c!, a);
  }

  /** System, release, uid and /proc/version in one round trip; cached. */
  remoteFacts(): Promise<RemoteFacts> {
    this.factsP ??= (async () => {
      const out = await this.must('sh', ['-c', 'uname -s; uname -r; id -u; cat /proc/version 2>/dev/null; true']);
      const [sys, release, uid, ...rest] = out.split('\n');
      const s = (sys ?? '').trim();
      if (s !== 'Linux' && s !== 'FreeBSD') throw new Error(`${this.name}: unsupported system '${s}' (Linux or FreeBSD)`);
      const f: RemoteFacts = { os: s === 'Linux' ? 'linux' : 'freebsd', release: (release ?? '').trim(), uid: Number((uid ?? '').trim()), procVersion: rest.join('\n').trim() };
      this.facts = f;
      return f;
    })();
    this.factsP.catch(() => (this.factsP = undefined));
    return this.factsP;
  }

  async kernel(): Promise<'linux' | 'freebsd'> {
    return (await this.remoteFacts()).os;
  }

  /** `sysctl -n` of several keys, one value each (whitespace-normalized). */
  async sysctlRead(keys: readonly string[]): Promise<string[]> {
    for (const k of keys) if (!KEY.test(k)) throw new TypeError(`sysctl key: '${k}' is not a sysctl name like net.inet.tcp.msl`);
    if (keys.length === 0) return []; // a Linux knob with no FreeBSD counterpart (freebsd.ts)
    // A non-root login's PATH has no sbin on Debian (the vagrant user: 'sysctl: command not found'): sbin is
    // appended, so a sysctl the login's PATH does have (FreeBSD's, or a stand-in's) still comes first.
    const lines = (await this.must('sh', ['-c', SYSCTL_WITH_SBIN, 'sysctl', '-n', ...keys])).trim().split('\n');
    if (lines.length !== keys.length) throw new Error(`${this.name}: sysctl -n ${keys.join(' ')}: expected ${keys.length} line(s), got ${lines.length}`);
    return lines.map((l) => l.trim().split(/\s+/).join(' '));
  }

  /** Linux wants -w; FreeBSD takes name=value as is. priv: with sudo -n unless root. */
  sysctlWriteArgv(key: string, value: string, priv = true): string[] {
    const argv = ['sysctl', ...(this.facts?.os === 'freebsd' ? [] : ['-w']), `${key}=${value}`];
    return priv ? this.priv(argv) : argv;
  }

  async sysctlWrite(key: string, value: string): Promise<void> {
    await this.remoteFacts();
    const [c, ...a] = this.sysctlWriteArgv(key, value);
    await this.must(c!, a);
  }

  /** The guard (started once, as root on the remote side); dies with this process. */
  guard(): Promise<RemoteGuard> {
    this.guardP ??= (async () => {
      await this.remoteFacts();
      const [c, a] = this.command(this.priv(['sh', '-c', GUARD]));
      const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', c, ...a], { stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdin!.on('error', () => undefined);
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${this.name}: undo guard not ready within 15 s: ${err.trim()}`)), 15_000);
        child.stdout!.once('data', () => (clearTimeout(t), res()));
        child.once('exit', (code) => (clearTimeout(t), rej(new Error(`${this.name}: undo guard exited (${code}): ${err.trim()}`))));
        child.once('error', (e) => (clearTimeout(t), rej(e)));
      });
      return new RemoteGuard(child);
    })();
    this.guardP.catch(() => (this.guardP = undefined));
    return this.guardP;
  }

  /** guard().add when the guard is on; the id to remove it with. */
  async guardAdd(argv: readonly string[]): Promise<string | undefined> {
    return this.useGuard ? (await this.guard()).add(argv) : undefined;
  }

  async guardRemove(id: string | undefined): Promise<void> {
    if (id !== undefined && this.guardP) await (await this.guardP).remove(id);
  }

  /** A fresh sysctl journal on this host (a lab session's, restored when the session ends). */
  newSysctl(): SshSysctl {
    return new SshSysctl(this);
  }

  async counters(): Promise<Counters> {
    if ((await this.kernel()) === 'linux') return parseCounters(await this.must('cat', ['/proc/net/netstat', '/proc/net/snmp']));
    return parseFreebsdTcpStats(await this.must('netstat', ['-s', '-p', 'tcp']));
  }

  async sockets(filter?: SocketFilter): Promise<SocketEntry[]> {
    const all = (await this.kernel()) === 'linux' ? parseSs(await this.must('ss', ['-tanoi'])).sockets : parseFreebsdNetstat(await this.must('netstat', ['-an', '-p', 'tcp']));
    return filterSockets(all, filter);
  }

  /** The peer program over an ssh session's stdio; the local ssh dies with this process (pdeathsig). */
  async peer(): Promise<PeerClient> {
    const root = this.opts.remoteRoot ?? '/vagrant';
    const os = await this.kernel();
    const cmd = this.opts.peerCommand ?? this.priv(os === 'linux' ? ['node', `${root}/dist/src/peer/main.js`] : ['/usr/local/bin/tcplab-peer']);
    const [c, a] = this.command(cmd);
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', c, ...a], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    const p = await PeerClient.attach(child, { slackMs: 15_000 });
    this.peers.add(p);
    return p;
  }

  /**
   * Opens the shared connection (ssh -M on controlPath) and waits until it answers. The master dies
   * with this process (pdeathsig) and is closed by dispose().
   */
  async startMaster(timeoutMs = 20_000): Promise<void> {
    const path = this.opts.controlPath;
    if (!path) throw new TypeError('controlPath: startMaster() needs SshHostOptions.controlPath');
    if (this.master) return;
    const [c, a] = inNetns(this.opts.localNetns, 'ssh', [...this.baseArgs(), '-M', '-N', '-S', path, '-o', 'ControlPersist=no', this.opts.dest]);
    const m = spawn('setpriv', ['--pdeathsig', 'KILL', '--', c, ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.master = m;
    let err = '';
    m.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const exited = new Promise<never>((_, rej) => m.once('exit', (code) => rej(new Error(`${this.name}: ssh failed (exit ${code}): ${err.trim() || 'no message'}`))));
    exited.catch(() => undefined);
    const t0 = Date.now();
    const [cc, ca] = inNetns(this.opts.localNetns, 'ssh', [...this.baseArgs(), '-S', path, '-O', 'check', this.opts.dest]);
    try {
      for (;;) {
        const r = await Promise.race([run(cc, ca, { timeoutMs: 5000 }), exited]);
        if (r.code === 0) return;
        if (Date.now() - t0 > timeoutMs) throw new Error(`${this.name}: ssh connection not up within ${timeoutMs} ms: ${err.trim()}`);
        await Promise.race([new Promise((res) => setTimeout(res, 100)), exited]);
      }
    } catch (e) {
      await this.stopMaster();
      throw e;
    }
  }

  /** Closes the shared connection (SIGTERM: ssh removes its socket), waiting for the process to go. */
  async stopMaster(): Promise<void> {
    const m = this.master;
    this.master = undefined;
    if (!m || m.exitCode !== null || m.signalCode !== null) return;
    const gone = new Promise<void>((res) => m.once('exit', () => res()));
    m.kill('SIGTERM');
    const t = setTimeout(() => m.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }

  /** Exit hook: the master and the guard go (the guard's EOF runs what is still registered). */
  stopMasterSync(): void {
    this.master?.kill('SIGKILL');
    this.master = undefined;
    void this.guardP?.then((g) => g.killSync()).catch(() => undefined);
  }

  /** Peers first, then sysctls back in reverse order, then the guard and the shared connection. */
  async dispose(): Promise<void> {
    await Promise.all([...this.peers].map((p) => p.dispose().catch(() => undefined)));
    this.peers.clear();
    try {
      await this.sysctl.restore();
    } finally {
      const g = this.guardP;
      this.guardP = undefined;
      await g?.then((x) => x.close()).catch(() => undefined);
      await this.stopMaster();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
