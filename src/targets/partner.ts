// The partner of a two-host lab on a target: this machine's kernel in the target's link namespace (the
// testbed namespace that holds the tap toward a QEMU guest), with an address of its own for each session.
// Why one namespace with fresh addresses rather than a fresh namespace per case: the tap belongs to the
// running guest and cannot move without breaking it; a fresh address per session keeps each case's
// 4-tuples apart from an earlier case's TIME-WAITs on either kernel, the route's preferred source makes
// the partner's own connect()s use it, and its sysctls (journaled by the testbed, so also put back by
// `tcplab clean` after a kill) are restored when the session ends.
import { localStack } from '../lab/kernel.js';
import type { LabHost, PartnerSession } from '../lab/stack.js';
import type { PeerClient } from '../peer/client.js';
import { must, run } from '../testbed/exec.js';
import type { Impairment, NetnsHost } from '../testbed/host.js';
import type { ImpairSpec } from '../testbed/impair.js';
import type { SocketEntry } from '../testbed/ss.js';
import { assertSafe } from '../testbed/safety.js';
import type { Match } from '../wire/match.js';
import { Wire } from '../wire/wire.js';

/** Partner addresses on the link's /24: .1 is the link's own, guests and ghosts use .2 and .200-.249. */
const PARTNER_FIRST = 10;
const PARTNER_COUNT = 180;

export interface PartnerLink {
  /** The testbed host whose namespace holds the link (the prober's). */
  host: NetnsHost;
  ifname: string;
  /** The /24 as three octets, e.g. '198.18.7'. */
  net: string;
  /**
   * Last octets the sessions take in turn. Default .10-.189 (a QEMU link: .1 ours, .2 the guest, ghosts
   * from .200); a shared link (ssh) passes the ones nobody answered ARP for.
   */
  hosts?: readonly number[];
  /**
   * The namespace's own address on the link, the /24 route's preferred source again after a session.
   * Default '.1'; null when the namespace has no address of its own (the route goes with the session's).
   */
  homeSrc?: string | null;
  /** Where in `hosts` the rotation starts: random for a subject that outlives our runs (a VM over ssh). */
  start?: number;
}

export interface SubjectSide {
  /** The subject's host, named after the lab's subject role, with sysctls undone by `restore`. */
  host: LabHost;
  addr: string;
  /** Undoes what the session changed on the subject (sysctls, peers). */
  restore(): Promise<void>;
  /**
   * Drops what the subject's kernel remembers of an address before a session takes it (its neighbour
   * entry): a VM that outlives our runs still maps it to the MAC of an earlier run's namespace.
   */
  forget?(addr: string): Promise<void>;
}

/**
 * The subject of a partner session on a target kernel: its host named after the lab's role, with the
 * peers it starts and the sysctls it sets put back by `restore`. One shape for every target (QEMU, ssh).
 */
export function subjectSide(o: {
  name: string;
  kind: string;
  addr: string;
  sysctl: LabHost['sysctl'] & { restore(): Promise<void> };
  counters: LabHost['counters'];
  sockets: LabHost['sockets'];
  peer: () => Promise<PeerClient>;
  forget?: (addr: string) => Promise<void>;
}): SubjectSide {
  const peers = new Set<PeerClient>();
  const host: LabHost = {
    name: o.name,
    kind: o.kind,
    sysctl: o.sysctl,
    counters: o.counters,
    sockets: o.sockets,
    peer: async () => {
      const p = await o.peer();
      peers.add(p);
      return p;
    },
  };
  return {
    host,
    addr: o.addr,
    restore: async () => {
      await Promise.all([...peers].map((p) => p.dispose().catch(() => undefined)));
      await o.sysctl.restore();
    },
    ...(o.forget ? { forget: o.forget } : {}),
  };
}

export class PartnerAllocator {
  private seq = 0;
  private readonly hosts: readonly number[];
  constructor(private readonly link: PartnerLink) {
    this.hosts = link.hosts ?? Array.from({ length: PARTNER_COUNT }, (_, i) => PARTNER_FIRST + i);
    if (!this.hosts.length) throw new RangeError('partner link: no addresses to use');
    this.seq = link.start ?? 0;
  }

  /** A partner session: subject from the target, partner in the link namespace with a fresh address. */
  async open(roles: { subject: string; partner: string }, subject: SubjectSide, subjectStack: PartnerSession['subjectStack'], filter: Match): Promise<PartnerSession> {
    const { host, ifname, net } = this.link;
    // Both kernels outlive the session: the sockets earlier cases (or, on a VM, earlier runs) left hold
    // their addresses for a TIME-WAIT, so take one no socket on either side names, and hide those sockets
    // from this case's counts and lookups.
    const [oldSubject, oldPartner] = await Promise.all([subject.host.sockets(), host.sockets()]);
    const held = new Set([...oldSubject, ...oldPartner].flatMap((e) => [e.local.addr, e.peer.addr]));
    let addr: string | undefined;
    for (let i = 0; i < this.hosts.length && !addr; i++) {
      const a = `${net}.${this.hosts[this.seq++ % this.hosts.length]!}`;
      if (!held.has(a)) addr = a;
    }
    if (!addr) throw new Error(`partner: every partner address on ${net}.0/24 is still held by sockets of earlier cases (TIME-WAIT): try again in a minute`);
    assertSafe('partner address', addr);
    await subject.forget?.(addr);
    const undo: (() => Promise<unknown>)[] = [];
    const ns = host.netns;
    const peers = new Set<PeerClient>();
    const impairments = new Set<Impairment>();
    const extra: string[] = [];
    const dispose = async () => {
      for (const i of impairments) await i.dispose().catch(() => undefined);
      await Promise.all([...peers].map((p) => p.dispose().catch(() => undefined)));
      await subject.restore().catch(() => undefined);
      await host.sysctl.restore().catch(() => undefined);
      for (const u of undo.reverse()) await u().catch(() => undefined);
    };
    try {
      await must('ip', ['-n', ns, 'addr', 'add', `${addr}/32`, 'dev', ifname]);
      undo.push(() => run('ip', ['-n', ns, 'addr', 'del', `${addr}/32`, 'dev', ifname]));
      // The partner's own connect()s leave from this session's address, not the link's .1.
      await must('ip', ['-n', ns, 'route', 'replace', `${net}.0/24`, 'dev', ifname, 'src', addr]);
      const home = this.link.homeSrc === undefined ? `${net}.1` : this.link.homeSrc;
      undo.push(() => home
        ? run('ip', ['-n', ns, 'route', 'replace', `${net}.0/24`, 'dev', ifname, 'proto', 'kernel', 'scope', 'link', 'src', home])
        : run('ip', ['-n', ns, 'route', 'del', `${net}.0/24`, 'dev', ifname]));
      undo.push(async () => {
        for (const a of extra) await run('ip', ['-n', ns, 'addr', 'del', `${a}/32`, 'dev', ifname]);
      });
      const key = (e: SocketEntry) => `${e.local.addr}:${e.local.port}>${e.peer.addr}:${e.peer.port}`;
      const hideSubject = new Set(oldSubject.map(key));
      const hidePartner = new Set(oldPartner.map(key));
      const subjectHost: LabHost = { ...subject.host, sockets: async (f) => (await subject.host.sockets(f)).filter((e) => !hideSubject.has(key(e))) };
      const wire = await Wire.open({ netns: ns, ifname, filter });
      undo.push(async () => wire.close());
      const partner: PartnerSession['partner'] = {
        name: roles.partner,
        kind: 'netns',
        netns: ns,
        sysctl: host.sysctl,
        counters: () => host.counters(),
        sockets: async (f) => (await host.sockets(f)).filter((e) => !hidePartner.has(key(e))),
        peer: async () => {
          const p = await host.peer();
          peers.add(p);
          return p;
        },
        impair: async (spec: ImpairSpec) => {
          const i = await host.impair(spec);
          impairments.add(i);
          return i;
        },
        addAddress: async (a: string) => {
          assertSafe('partner address', a);
          if (!a.startsWith(`${net}.`)) throw new RangeError(`partner address ${a}: not on the target's link ${net}.0/24`);
          await must('ip', ['-n', ns, 'addr', 'add', `${a}/32`, 'dev', ifname]);
          extra.push(a);
        },
      };
      const s: PartnerSession = {
        subject: subjectHost,
        subjectAddr: subject.addr,
        subjectStack,
        partner,
        partnerAddr: addr,
        partnerStack: localStack(),
        wire,
        point: `${roles.partner}:${ifname}`,
        dispose,
        [Symbol.asyncDispose]: dispose,
      };
      return s;
    } catch (e) {
      await dispose();
      throw e;
    }
  }
}
