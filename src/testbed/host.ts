// A host under test. NetnsHost lives in a network namespace on this machine; an SshHost (a VM or a
// FreeBSD box reached over ssh) can implement the same interface later.
import { PeerClient } from '../peer/client.js';
import { parseCounters, type Counters } from './counters.js';
import { inNetns, must, run, runSync, type ExecOptions, type ExecResult } from './exec.js';
import { ruleBodies, rulesWithComment, tableScript, UnsupportedError, type ImpairSpec } from './impair.js';
import { Journal } from './journal.js';
import { parseSs, type SocketEntry, type TcpState } from './ss.js';
import { Sysctl, type SysctlValue } from './sysctl.js';

export interface HostInterface {
  ifname: string;
  /** IPv4 address on this link (prefix /24). */
  v4: string;
  /** IPv6 address on this link (prefix /64), when the testbed has IPv6. */
  v6?: string;
  mac: string;
  /** The host at the other end of the link. */
  peerHost: string;
  linkIndex: number;
}

export interface SysctlApi {
  get(key: string): Promise<string>;
  getInt(key: string): Promise<number>;
  /** Journaled before it is made, restored when the host is disposed. */
  set(key: string, value: SysctlValue): Promise<void>;
}

export interface SocketFilter {
  state?: TcpState | readonly TcpState[];
  /** Local or peer port. */
  port?: number;
  localPort?: number;
  peerPort?: number;
}

export interface Impairment extends AsyncDisposable {
  readonly spec: ImpairSpec;
  /** Packets dropped so far. */
  dropped(): Promise<number>;
  dispose(): Promise<void>;
}

export interface Host {
  readonly name: string;
  readonly kind: 'netns' | 'ssh';
  /** The namespace name (NetnsHost); undefined for remote hosts. */
  readonly netns: string | undefined;
  readonly interfaces: readonly HostInterface[];
  /** This host's address on the link toward `peerHost` (default: its first link). */
  addr(peerHost?: string, family?: 4 | 6): string;
  /** The interface toward `peerHost` (default: the first). */
  iface(peerHost?: string): HostInterface;
  exec(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  readonly sysctl: SysctlApi;
  counters(): Promise<Counters>;
  sockets(filter?: SocketFilter): Promise<SocketEntry[]>;
  /** Spawns the peer program on this host; disposed with the host. */
  peer(): Promise<PeerClient>;
  /** Drops matching packets until disposed (nftables). Delay needs netem: UnsupportedError without it. */
  impair(spec: ImpairSpec): Promise<Impairment>;
}

export function filterSockets(all: readonly SocketEntry[], f: SocketFilter = {}): SocketEntry[] {
  const states = f.state === undefined ? undefined : typeof f.state === 'string' ? [f.state] : f.state;
  return all.filter((s) =>
    (!states || states.includes(s.state)) &&
    (f.port === undefined || s.local.port === f.port || s.peer.port === f.port) &&
    (f.localPort === undefined || s.local.port === f.localPort) &&
    (f.peerPort === undefined || s.peer.port === f.peerPort));
}

export class NetnsHost implements Host {
  readonly kind = 'netns' as const;
  readonly interfaces: HostInterface[] = [];
  readonly sysctl: Sysctl;
  private readonly peers = new Set<PeerClient>();
  private readonly impairments = new Set<Impairment>();
  private tableReady: Promise<void> | undefined;
  private impairSeq = 0;

  constructor(readonly name: string, readonly netns: string, private readonly nftTable: string, journal: Journal) {
    this.sysctl = new Sysctl(netns, journal);
  }

  iface(peerHost?: string): HostInterface {
    const i = peerHost === undefined ? this.interfaces[0] : this.interfaces.find((x) => x.peerHost === peerHost);
    if (!i) throw new Error(`host ${this.name}: no link${peerHost ? ` to ${peerHost}` : ''}`);
    return i;
  }

  addr(peerHost?: string, family: 4 | 6 = 4): string {
    const i = this.iface(peerHost);
    if (family === 4) return i.v4;
    if (!i.v6) throw new Error(`host ${this.name}: the testbed has no IPv6 (create it with ipv6: true)`);
    return i.v6;
  }

  exec(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    const [c, a] = inNetns(this.netns, cmd, args);
    return run(c, a, opts);
  }

  async counters(): Promise<Counters> {
    const [c, a] = inNetns(this.netns, 'cat', ['/proc/net/netstat', '/proc/net/snmp']);
    return parseCounters(await must(c, a));
  }

  async sockets(filter?: SocketFilter): Promise<SocketEntry[]> {
    const [c, a] = inNetns(this.netns, 'ss', ['-tanoi']);
    return filterSockets(parseSs(await must(c, a)).sockets, filter);
  }

  async peer(): Promise<PeerClient> {
    const p = await PeerClient.spawn({ netns: this.netns });
    this.peers.add(p);
    return p;
  }

  async impair(spec: ImpairSpec): Promise<Impairment> {
    if (spec.delayMs !== undefined) return this.delay(spec);
    const comment = `${this.nftTable}-imp-${++this.impairSeq}`;
    const bodies = ruleBodies(spec, comment);
    await this.ensureTable();
    const chain = spec.dir;
    const script = bodies.map((b) => `add rule inet ${this.nftTable} ${chain} ${b}`).join('\n') + '\n';
    const [c, a] = inNetns(this.netns, 'nft', ['-f', '-']);
    await must(c, a, { input: script });
    const list = async () => {
      const [lc, la] = inNetns(this.netns, 'nft', ['-j', 'list', 'table', 'inet', this.nftTable]);
      return rulesWithComment(await must(lc, la), comment);
    };
    let disposed = false;
    const imp: Impairment = {
      spec,
      dropped: async () => (await list()).packets,
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        this.impairments.delete(imp);
        const { handles } = await list();
        if (handles.length === 0) return;
        const del = handles.map((h) => `delete rule inet ${this.nftTable} ${h.chain} handle ${h.handle}`).join('\n') + '\n';
        const [dc, da] = inNetns(this.netns, 'nft', ['-f', '-']);
        await must(dc, da, { input: del });
      },
      [Symbol.asyncDispose]: () => imp.dispose(),
    };
    this.impairments.add(imp);
    return imp;
  }

  /** Delay needs the netem qdisc; on kernels without it this is a clear UnsupportedError. */
  private async delay(spec: ImpairSpec): Promise<Impairment> {
    const ms = spec.delayMs!;
    if (!Number.isInteger(ms) || ms < 0 || ms > 60_000) throw new RangeError('delayMs: expected an integer 0-60000');
    if (spec.dir !== 'out') throw new UnsupportedError('delay: only dir "out" is supported (a qdisc delays what a host sends)');
    if (Object.keys(spec.match ?? {}).length > 0) throw new UnsupportedError('delay: per-packet matches are not supported, only a whole-link delay');
    const ifname = this.iface().ifname;
    const r = await this.exec('tc', ['qdisc', 'replace', 'dev', ifname, 'root', 'netem', 'delay', `${ms}ms`]);
    if (r.code !== 0) {
      throw new UnsupportedError(`delay is not available on this kernel: the netem qdisc (sch_netem) is missing (${r.stderr.trim()}). Drop impairments work; delays need a kernel with CONFIG_NET_SCH_NETEM.`);
    }
    const imp: Impairment = {
      spec,
      dropped: async () => 0,
      dispose: async () => {
        this.impairments.delete(imp);
        await this.exec('tc', ['qdisc', 'replace', 'dev', ifname, 'root', 'pfifo']);
      },
      [Symbol.asyncDispose]: () => imp.dispose(),
    };
    this.impairments.add(imp);
    return imp;
  }

  private ensureTable(): Promise<void> {
    this.tableReady ??= (async () => {
      const [c, a] = inNetns(this.netns, 'nft', ['-f', '-']);
      await must(c, a, { input: tableScript(this.nftTable) });
    })();
    return this.tableReady;
  }

  /** Undo in reverse order of risk: peers, impairments (and the nft table), sysctls. */
  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all([...this.peers].map((p) => p.dispose().catch((e) => errors.push(e))));
    this.peers.clear();
    for (const imp of [...this.impairments].reverse()) await imp.dispose().catch((e) => errors.push(e));
    if (this.tableReady) {
      await this.exec('nft', ['delete', 'table', 'inet', this.nftTable]);
      this.tableReady = undefined;
    }
    await this.sysctl.restore().catch((e) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `host ${this.name}: clean-up had ${errors.length} error(s)`);
  }

  /** Last resort from the `exit` hook: no event loop, so kill peers and restore synchronously. */
  disposeSync(): void {
    for (const p of this.peers) p.kill();
    this.peers.clear();
    runSync('ip', ['netns', 'exec', this.netns, 'nft', 'delete', 'table', 'inet', this.nftTable]);
    this.sysctl.restoreSync();
  }
}
