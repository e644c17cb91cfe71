// Testbed: network namespaces joined by veth links, addressed from 198.18.0.0/15 (and 2001:2::/48),
// with every side effect undone in reverse order on dispose, Ctrl-C, SIGTERM or a crash.
import { isIPv4 } from 'node:net';
import { inNetns, must, run, runSync } from './exec.js';
import { NetnsHost } from './host.js';
import { track, untrack } from './hooks.js';
import { Journal } from './journal.js';
import { checkHostName, checkRunId, netnsName, newRunId, nftTable, runSubnet, subnetIndex, vethName } from './names.js';
import { assertSafe } from './safety.js';

export interface TestbedOptions {
  /** Host names (1-16 of [a-z0-9]). Default ['client', 'server']. */
  hosts?: readonly string[];
  /** Pairs of host names joined by a veth. Default: the first two hosts. */
  links?: ReadonlyArray<readonly [string, string]>;
  /** Add IPv6 addresses (2001:2:0:N::/64) too; without it IPv6 is disabled in the namespaces (no RS/MLD noise). */
  ipv6?: boolean;
  /** 6 hex digits; random by default. */
  runId?: string;
  /**
   * The /24 network of each link, e.g. ['198.18.7.0']; default derived from the run id inside
   * 198.18.0.0/15. Other ranges are refused unless allowUnsafeAddresses is true.
   */
  v4Subnets?: readonly string[];
  allowUnsafeAddresses?: boolean;
  /** Install the process-wide SIGINT/SIGTERM/crash hooks. Default true. */
  processHooks?: boolean;
}

export interface Link {
  index: number;
  a: string;
  b: string;
  /** Network address of the /24, e.g. '198.18.7.0'. */
  v4Net: string;
  /** The /64 prefix, e.g. '2001:2:0:7::' (when ipv6). */
  v6Net?: string;
}

export interface Ghost extends AsyncDisposable {
  /** The address no kernel owns; crafted segments use it as their source. */
  addr: string;
  family: 4 | 6;
  /** Where to open the prober's Wire: Wire.open({ netns: prober.netns, ifname: prober.ifname }). */
  prober: { host: string; netns: string; ifname: string; mac: string };
  /** The host that will talk to the ghost, and its address on the link. */
  target: { host: string; netns: string; addr: string; ifname: string };
  dispose(): Promise<void>;
}

// phase 0 (hosts: peers, impairments, sysctls) is undone before phase 1 (links, namespaces, journal).
type Undo = { label: string; phase: 0 | 1; run: () => Promise<unknown>; sync: () => void };

class Aborted extends Error {
  constructor() {
    super('testbed: disposed while being created');
  }
}

function hostAddr(net: string, h: number): string {
  return net.replace(/\.0$/, `.${h}`);
}

export class Testbed implements AsyncDisposable {
  readonly hosts = new Map<string, NetnsHost>();
  readonly links: Link[] = [];
  private readonly undo: Undo[] = [];
  private aborted = false;
  private inflight: Promise<unknown> = Promise.resolve();
  private disposing: Promise<void> | undefined;
  private ghostSeq = 0;
  readonly journal: Journal;

  private constructor(readonly runId: string, readonly ipv6: boolean, hooks: boolean) {
    // Hooks before the first side effect: a signal from here on finds everything in the undo list.
    track(this, hooks);
    this.journal = new Journal(runId);
    this.undo.push({ label: 'journal', phase: 1, run: async () => this.journal.remove(), sync: () => this.journal.remove() });
  }

  static async create(opts: TestbedOptions = {}): Promise<Testbed> {
    const names = (opts.hosts ?? ['client', 'server']).map(checkHostName);
    if (new Set(names).size !== names.length) throw new TypeError('hosts: names must be unique');
    if (names.length === 0) throw new TypeError('hosts: at least one host');
    const links = opts.links ?? (names.length >= 2 ? [[names[0]!, names[1]!] as const] : []);
    for (const [a, b] of links) {
      if (!names.includes(a) || !names.includes(b) || a === b) throw new TypeError(`links: [${a}, ${b}] must join two different hosts from hosts`);
    }
    const runId = opts.runId === undefined ? newRunId() : checkRunId(opts.runId);
    // One /24 per link; the run id picks where in 198.18.0.0/15 (512 /24s), so runs are easy to tell apart.
    const subnets = links.map((_, i) => opts.v4Subnets?.[i] ?? runSubnet(runId, i));
    for (const [i, net] of subnets.entries()) {
      if (!isIPv4(net) || !net.endsWith('.0')) throw new TypeError(`v4Subnets[${i}]: expected a /24 network address like 198.18.7.0`);
      assertSafe(`v4Subnets[${i}]`, net, opts.allowUnsafeAddresses);
    }

    const tb = new Testbed(runId, opts.ipv6 ?? false, opts.processHooks ?? true);
    try {
      for (const name of names) await tb.step(() => tb.addHost(name));
      for (const [i, [a, b]] of links.entries()) {
        const sub = subnetIndex(runId, i);
        const v6Net = tb.ipv6 ? `2001:2:0:${sub.toString(16)}::` : undefined;
        await tb.step(() => tb.addLink(i, a, b, subnets[i]!, v6Net));
      }
    } catch (e) {
      await tb.dispose().catch(() => undefined);
      throw e;
    }
    return tb;
  }

  host(name: string): NetnsHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`testbed: no host '${name}' (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** Runs one creation step, unless a dispose has started; dispose waits for the step in flight. */
  private async step<T>(fn: () => Promise<T>): Promise<T> {
    if (this.aborted) throw new Aborted();
    const p = fn();
    this.inflight = p.catch(() => undefined);
    return p;
  }

  private async addHost(name: string): Promise<void> {
    const ns = netnsName(this.runId, name);
    // Journal and undo first: a kill during `ip netns add` still leaves a trace clean can follow.
    this.journal.addNamespace(ns);
    this.undo.push({
      label: `netns ${ns}`,
      phase: 1,
      run: async () => {
        await killAll(ns);
        await run('ip', ['netns', 'del', ns]);
      },
      sync: () => {
        killAllSync(ns);
        runSync('ip', ['netns', 'del', ns]);
      },
    });
    await must('ip', ['netns', 'add', ns]);
    // Fresh-namespace settings (they die with it, so no journal): IPv6 off unless asked for, else no DAD.
    const v6 = this.ipv6
      ? ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.default.router_solicitations=0']
      : ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
    const [c, a] = inNetns(ns, 'sysctl', ['-q', '-w', ...v6]);
    await must(c, a);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const host = new NetnsHost(name, ns, nftTable(this.runId), this.journal);
    this.hosts.set(name, host);
    this.undo.push({ label: `host ${name}`, phase: 0, run: () => host.dispose(), sync: () => host.disposeSync() });
  }

  private async addLink(index: number, a: string, b: string, v4Net: string, v6Net: string | undefined): Promise<void> {
    const ha = this.host(a);
    const hb = this.host(b);
    const ia = vethName(this.runId, index, 'a');
    const ib = vethName(this.runId, index, 'b');
    this.undo.push({
      label: `veth ${ia}`,
      phase: 1,
      run: () => run('ip', ['-n', ha.netns, 'link', 'del', ia]),
      sync: () => runSync('ip', ['-n', ha.netns, 'link', 'del', ia]),
    });
    // Created directly inside the namespaces: the pair never exists in the root namespace.
    await must('ip', ['link', 'add', ia, 'netns', ha.netns, 'type', 'veth', 'peer', 'name', ib, 'netns', hb.netns]);
    const link: Link = v6Net ? { index, a, b, v4Net, v6Net } : { index, a, b, v4Net };
    for (const [host, ifname, n] of [[ha, ia, 1], [hb, ib, 2]] as const) {
      const v4 = hostAddr(v4Net, n);
      const v6 = v6Net ? `${v6Net}${n}` : undefined;
      const batch = [`link set ${ifname} up`, `addr add ${v4}/24 dev ${ifname}`];
      if (v6) batch.push(`addr add ${v6}/64 dev ${ifname} nodad`);
      await must('ip', ['-n', host.netns, '-batch', '-'], { input: batch.join('\n') + '\n' });
      // Pin the qdisc (default would be noqueue on veth) and compute checksums in software so captures
      // on the sending side show real checksums.
      await must('tc', ['-n', host.netns, 'qdisc', 'replace', 'dev', ifname, 'root', 'pfifo']);
      const [c, args] = inNetns(host.netns, 'ethtool', ['-K', ifname, 'tx', 'off']);
      await must(c, args);
      const info = JSON.parse(await must('ip', ['-n', host.netns, '-j', 'link', 'show', ifname])) as Array<{ address: string }>;
      const peerHost = host === ha ? b : a;
      host.interfaces.push(v6 ? { ifname, v4, v6, mac: info[0]!.address, peerHost, linkIndex: index } : { ifname, v4, mac: info[0]!.address, peerHost, linkIndex: index });
    }
    this.links.push(link);
  }

  /**
   * An address on the link between `prober` and `target` that no kernel owns. The target gets a
   * permanent neighbour entry pointing at the prober's veth MAC, so its replies reach the prober's
   * Wire while the prober's kernel (which does not own the address and does not forward) stays silent.
   */
  async ghost(prober: string, target: string, family: 4 | 6 = 4): Promise<Ghost> {
    const hp = this.host(prober);
    const ht = this.host(target);
    const pi = hp.iface(target);
    const ti = ht.iface(prober);
    const link = this.links[pi.linkIndex]!;
    const n = 200 + (this.ghostSeq++ % 50);
    let addr: string;
    if (family === 4) addr = hostAddr(link.v4Net, n);
    else if (link.v6Net) addr = `${link.v6Net}${n.toString(16)}`;
    else throw new Error('ghost: the testbed has no IPv6 (create it with ipv6: true)');
    assertSafe('ghost', addr);
    const fam = family === 4 ? '-4' : '-6';
    await must('ip', ['-n', ht.netns, fam, 'neigh', 'replace', addr, 'lladdr', pi.mac, 'dev', ti.ifname, 'nud', 'permanent']);
    const del = () => run('ip', ['-n', ht.netns, fam, 'neigh', 'del', addr, 'dev', ti.ifname]);
    let done = false;
    const g: Ghost = {
      addr,
      family,
      prober: { host: prober, netns: hp.netns, ifname: pi.ifname, mac: pi.mac },
      target: { host: target, netns: ht.netns, addr: family === 4 ? ti.v4 : ti.v6!, ifname: ti.ifname },
      dispose: async () => {
        if (done) return;
        done = true;
        await del();
      },
      [Symbol.asyncDispose]: () => g.dispose(),
    };
    return g;
  }

  /** Undoes everything in reverse order: peers, impairments, sysctls (per host), links, namespaces. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      this.aborted = true;
      await this.inflight;
      const errors: unknown[] = [];
      for (const u of this.unwindOrder()) {
        try {
          await u.run();
        } catch (e) {
          errors.push(new Error(`${u.label}: ${(e as Error).message}`));
        }
      }
      untrack(this);
      if (errors.length) throw new AggregateError(errors, `testbed ${this.runId}: clean-up had ${errors.length} error(s)`);
    })();
    return this.disposing;
  }

  disposeSync(): void {
    this.aborted = true;
    for (const u of this.unwindOrder()) {
      try {
        u.sync();
      } catch {
        // keep going
      }
    }
  }

  /** Takes the undo list: hosts first, then links and namespaces, each newest first. */
  private unwindOrder(): Undo[] {
    const all = this.undo.splice(0).reverse();
    return [...all.filter((u) => u.phase === 0), ...all.filter((u) => u.phase === 1)];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

async function pidsIn(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns]);
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

/** Kills what still runs in the namespace, so deleting it really frees it. */
export async function killAll(ns: string): Promise<number[]> {
  const pids = await pidsIn(ns);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

function killAllSync(ns: string): void {
  const r = runSync('ip', ['netns', 'pids', ns]);
  for (const p of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      if (p !== process.pid) process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
