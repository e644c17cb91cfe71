// A minimal two-namespace fixture for the wire tests: tcplab-w<id>-a and -b joined by a veth on 198.18.N.0/24
// (and 2001:2:0:N::/64), tx checksum offload off on both ends. Deleted by dispose(), on process exit and
// on signals. The testbed layer (src/testbed) is the real thing; this stays tiny on purpose.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

export interface NetnsPair {
  a: string;
  b: string;
  /** Interface names inside a and b. */
  ifA: string;
  ifB: string;
  macA: string;
  macB: string;
  /** 198.18.N.1 on a, 198.18.N.2 on b. */
  ipA: string;
  ipB: string;
  /** Not configured anywhere: b has a static neighbour entry for it pointing at a's MAC. */
  ghost: string;
  ip6A: string;
  ip6B: string;
  ghost6: string;
  /** Runs a command inside a namespace and returns stdout. */
  exec(ns: string, cmd: string, args: string[]): string;
  dispose(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const live = new Set<string>();
let hooked = false;

function deleteNs(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  live.delete(name);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const n of [...live]) deleteNs(n);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const n of [...live]) deleteNs(n);
      process.kill(process.pid, sig);
    });
  }
}

export function createNetnsPair(): NetnsPair {
  hookExit();
  const id = randomInt(0x10000, 0xfffff).toString(16);
  const n = randomInt(1, 254);
  const a = `tcplab-w${id}-a`;
  const b = `tcplab-w${id}-b`;
  const ifA = 'tcplab-va';
  const ifB = 'tcplab-vb';
  const pair = {
    a, b, ifA, ifB,
    ipA: `198.18.${n}.1`, ipB: `198.18.${n}.2`, ghost: `198.18.${n}.99`,
    ip6A: `2001:2:0:${n.toString(16)}::1`, ip6B: `2001:2:0:${n.toString(16)}::2`, ghost6: `2001:2:0:${n.toString(16)}::99`,
  };
  try {
    for (const ns of [a, b]) {
      ip(['netns', 'add', ns]);
      live.add(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // Created inside a, peer moved straight into b: the root namespace never holds the link.
    ip(['-n', a, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
    for (const [ns, dev, v4, v6] of [[a, ifA, pair.ipA, pair.ip6A], [b, ifB, pair.ipB, pair.ip6B]] as const) {
      ip(['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
      ip(['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off'], { stdio: 'ignore' });
    }
    const mac = (ns: string, dev: string): string =>
      (JSON.parse(ip(['-j', '-n', ns, 'link', 'show', dev])) as Array<{ address: string }>)[0]!.address;
    const macA = mac(a, ifA);
    const macB = mac(b, ifB);
    ip(['-n', b, 'neigh', 'add', pair.ghost, 'lladdr', macA, 'dev', ifB, 'nud', 'permanent']);
    ip(['-n', b, 'neigh', 'add', pair.ghost6, 'lladdr', macA, 'dev', ifB, 'nud', 'permanent']);
    // Static entries for b's addresses on a too: no ARP/ND round (IPv6 ND on a fresh veth can stall).
    ip(['-n', a, 'neigh', 'add', pair.ipB, 'lladdr', macB, 'dev', ifA, 'nud', 'permanent']);
    ip(['-n', a, 'neigh', 'add', pair.ip6B, 'lladdr', macB, 'dev', ifA, 'nud', 'permanent']);
    return {
      ...pair, macA, macB,
      exec: (ns, cmd, args) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' }),
      dispose: () => {
        deleteNs(a);
        deleteNs(b);
      },
    };
  } catch (e) {
    deleteNs(a);
    deleteNs(b);
    throw e;
  }
}

/** Names of tcplab- namespaces that exist right now (tests check none of theirs remain). */
export function listTcplabNetns(): string[] {
  return ip(['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('tcplab-'));
}
