// Ghost addresses for probing a user-space stack (slirp, gVisor, lwIP) over a link in the prober's
// namespace. A user-space stack resolves the ghost with ARP, so the prober's kernel must own the
// address (and answer ARP for it); an nft rule on the input hook then drops every TCP segment to the
// ghosts, so that kernel never sees the stack's answers and never resets the crafted connection. The
// capture (AF_PACKET) sees the frames before netfilter does.
import { must, run } from '../testbed/exec.js';
import { runSubnet } from '../testbed/names.js';
import { assertSafe } from '../testbed/safety.js';

export const GHOST_FIRST = 200;
export const GHOST_COUNT = 50;

/** The run's `offset`-th /24 of the testbed's address plan as three octets, e.g. '198.18.7'. */
export function runNet(runId: string, offset = 0): string {
  return runSubnet(runId, offset).replace(/\.0$/, '');
}

export class GhostLink {
  private seq = 0;
  private ready: Promise<void> | undefined;
  constructor(readonly netns: string, readonly ifname: string, readonly net: string, readonly table: string) {}

  private init(): Promise<void> {
    this.ready ??= must('ip', ['netns', 'exec', this.netns, 'nft', '-f', '-'], {
      input:
        `table inet ${this.table} {\n  chain input {\n    type filter hook input priority -300;\n` +
        `    ip daddr ${this.net}.${GHOST_FIRST}-${this.net}.${GHOST_FIRST + GHOST_COUNT - 1} meta l4proto tcp drop\n  }\n}\n`,
    }).then(() => undefined);
    return this.ready;
  }

  /** A fresh ghost address (a fresh 4-tuple for each session), removed by the returned dispose. */
  async add(): Promise<{ addr: string; dispose: () => Promise<void> }> {
    await this.init();
    const addr = `${this.net}.${GHOST_FIRST + (this.seq++ % GHOST_COUNT)}`;
    assertSafe('ghost', addr);
    await must('ip', ['-n', this.netns, 'addr', 'add', `${addr}/32`, 'dev', this.ifname]);
    return { addr, dispose: async () => void (await run('ip', ['-n', this.netns, 'addr', 'del', `${addr}/32`, 'dev', this.ifname])) };
  }
}
