// SshHost: a host under test reached over ssh (a Vagrant VM, a FreeBSD box). Sysctls (journaled and
// put back), socket states, counters and the peer program all go through `ssh`; Linux and FreeBSD are
// told apart once (uname -s) and read with their own tools (ss or netstat, /proc or netstat -s).
// The peer runs over the ssh session's stdio: on Linux the Node peer of the remote checkout (`sudo node
// <remoteRoot>/dist/src/peer/main.js`); on FreeBSD, where the addon (AF_PACKET, netns) does not build,
// guest/peer.c compiled by the provision script (/usr/local/bin/tcplab-peer), same protocol.
import { spawn } from 'node:child_process';
import { PeerClient } from '../peer/client.js';
import { parseCounters, type Counters } from './counters.js';
import { run, type ExecResult } from './exec.js';
import { filterSockets, type SocketFilter, type SysctlApi } from './host.js';
import { parseSs, type SocketEntry } from './ss.js';
import type { SysctlValue } from './sysctl.js';
import { parseFreebsdNetstat, parseFreebsdTcpStats } from '../targets/freebsd.js';

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
}

const KEY = /^[a-z0-9_][a-z0-9_\-]*(?:\.[a-z0-9_][a-z0-9_\-]*)+$/i;

export class SshHost {
  readonly kind = 'ssh' as const;
  readonly name: string;
  readonly netns = undefined;
  private os: 'linux' | 'freebsd' | undefined;
  private readonly journal: Array<{ key: string; before: string }> = [];
  private readonly peers = new Set<PeerClient>();
  readonly sysctl: SysctlApi;

  constructor(readonly opts: SshHostOptions) {
    if (!opts.dest || /\s/.test(opts.dest)) throw new TypeError("dest: expected an ssh destination like 'vagrant@freebsd' or a Host alias");
    this.name = opts.name ?? opts.dest;
    this.sysctl = {
      get: (k) => this.sysctlGet(k),
      getInt: async (k) => {
        const v = await this.sysctlGet(k);
        if (!/^-?\d+$/.test(v)) throw new TypeError(`sysctl ${k}: '${v}' is not an integer`);
        return Number(v);
      },
      set: (k, v) => this.sysctlSet(k, v),
    };
  }

  /** ssh argv for one remote command (arguments are quoted for the remote shell). */
  sshArgs(remote: readonly string[]): string[] {
    const q = remote.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
    return [...(this.opts.sshConfig ? ['-F', this.opts.sshConfig] : []), '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', this.opts.dest, q];
  }

  exec(cmd: string, args: readonly string[], o: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return run('ssh', this.sshArgs([cmd, ...args]), o);
  }

  private async must(cmd: string, args: readonly string[]): Promise<string> {
    const r = await this.exec(cmd, args);
    if (r.code !== 0) throw new Error(`${this.name}: \`${cmd} ${args.join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async kernel(): Promise<'linux' | 'freebsd'> {
    if (!this.os) {
      const s = (await this.must('uname', ['-s'])).trim();
      if (s !== 'Linux' && s !== 'FreeBSD') throw new Error(`${this.name}: unsupported system '${s}' (Linux or FreeBSD)`);
      this.os = s === 'Linux' ? 'linux' : 'freebsd';
    }
    return this.os;
  }

  private async sysctlGet(key: string): Promise<string> {
    if (!KEY.test(key)) throw new TypeError(`sysctl key: '${key}' is not a sysctl name like net.inet.tcp.msl`);
    return (await this.must('sysctl', ['-n', key])).trim().split(/\s+/).join(' ');
  }

  private async sysctlSet(key: string, value: SysctlValue): Promise<void> {
    const before = await this.sysctlGet(key);
    if (!this.journal.some((j) => j.key === key)) this.journal.push({ key, before });
    const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : value.join(' ');
    // Linux wants -w; FreeBSD takes name=value as is.
    const args = (await this.kernel()) === 'linux' ? ['-w', `${key}=${text}`] : [`${key}=${text}`];
    await this.must('sudo', ['sysctl', ...args]);
  }

  async counters(): Promise<Counters> {
    if ((await this.kernel()) === 'linux') return parseCounters(await this.must('cat', ['/proc/net/netstat', '/proc/net/snmp']));
    return parseFreebsdTcpStats(await this.must('netstat', ['-s', '-p', 'tcp']));
  }

  async sockets(filter?: SocketFilter): Promise<SocketEntry[]> {
    const all = (await this.kernel()) === 'linux' ? parseSs(await this.must('ss', ['-tanoi'])).sockets : parseFreebsdNetstat(await this.must('netstat', ['-an', '-p', 'tcp']));
    return filterSockets(all, filter);
  }

  async peer(): Promise<PeerClient> {
    const root = this.opts.remoteRoot ?? '/vagrant';
    const cmd = this.opts.peerCommand ?? ((await this.kernel()) === 'linux' ? ['sudo', 'node', `${root}/dist/src/peer/main.js`] : ['sudo', '/usr/local/bin/tcplab-peer']);
    const child = spawn('ssh', this.sshArgs(cmd), { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    const p = await PeerClient.attach(child, { slackMs: 15_000 });
    this.peers.add(p);
    return p;
  }

  /** Peers first, then sysctls back in reverse order. */
  async dispose(): Promise<void> {
    await Promise.all([...this.peers].map((p) => p.dispose().catch(() => undefined)));
    this.peers.clear();
    const errors: string[] = [];
    for (const j of this.journal.splice(0).reverse()) {
      const args = (await this.kernel()) === 'linux' ? ['-w', `${j.key}=${j.before}`] : [`${j.key}=${j.before}`];
      const r = await this.exec('sudo', ['sysctl', ...args]);
      if (r.code !== 0) errors.push(`${j.key}: ${r.stderr.trim()}`);
    }
    if (errors.length) throw new Error(`${this.name}: could not restore sysctls: ${errors.join('; ')}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
