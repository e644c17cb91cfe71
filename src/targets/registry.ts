// The one registry of TCP stacks: this machine's kernel (namespace pairs, as `tcplab run` does), the
// targets of this folder, and ssh:NAME (another machine over ssh) when asked for. The CLI's --target and
// help, the matrix's columns and aliases, and `tcplab clean` all derive from it. Each stack says why it
// cannot run here (unavailable) and why two-host labs cannot run on it (linkUnsupported), before anything
// starts.
import { localStack } from '../lab/kernel.js';
import { gvisorFactory } from './gvisor.js';
import { lwipFactory } from './lwip.js';
import { qemuFactory } from './qemu.js';
import { slirpFactory } from './slirp.js';
import { isSshTarget, sshFactory } from './ssh.js';
import type { LabTarget, TargetFactory } from './target.js';

export interface StackFactory extends Omit<TargetFactory, 'start'> {
  /** This machine's kernel: labs build their own hosts, so every lab runs. */
  readonly local?: boolean;
  /** A Linux kernel (this machine's or a guest's): the `linux` alias of --stacks takes these. */
  readonly linux?: boolean;
  start(): Promise<LabTarget | undefined>;
}

/** The local kernel: no target, labs build their own namespaces. start() gives undefined. */
export const linuxHost: StackFactory = {
  id: 'linux-host',
  local: true,
  linux: true,
  title: `this machine's Linux kernel (${localStack().release}) in network namespaces`,
  unavailable: async () => (process.platform === 'linux' ? undefined : 'not Linux'),
  start: async () => undefined,
};

const linuxGuests: readonly StackFactory[] = [{ ...qemuFactory, linux: true }];

export const STACKS: readonly StackFactory[] = [linuxHost, ...linuxGuests, gvisorFactory, slirpFactory, lwipFactory];

/** --stacks aliases: a name for a group of stacks. */
export const STACK_ALIASES: Readonly<Record<string, { what: string; pick: (all: readonly StackFactory[]) => Promise<StackFactory[]> }>> = {
  linux: {
    what: 'every Linux kernel available here (this machine and each guest kernel that can start)',
    pick: async (all) => {
      const out: StackFactory[] = [];
      for (const s of all) if (s.linux && !(await s.unavailable())) out.push(s);
      return out;
    },
  },
  all: { what: 'every stack of the registry', pick: async (all) => [...all] },
};

/**
 * A stack by id. 'ssh:NAME' (a VM over ssh, see ssh.ts) is never in the default list: it is made when
 * asked for. `field` names the option in errors.
 */
export function findStack(id: string, all: readonly StackFactory[] = STACKS, field = '--stacks'): StackFactory {
  if (isSshTarget(id)) return sshFactory(id, {}, field);
  const s = all.find((x) => x.id === id);
  if (!s) throw new RangeError(`${field}: unknown stack '${id}' (stacks: ${all.map((x) => x.id).join(', ')}${field === '--stacks' ? `; aliases: ${Object.keys(STACK_ALIASES).join(', ')}` : ''}), or ssh:NAME for a VM over ssh`);
  return s;
}

/** --stacks X,Y,alias: ids and aliases, in order, without repeats. */
export async function resolveStacks(ids: readonly string[], all: readonly StackFactory[] = STACKS): Promise<StackFactory[]> {
  const out: StackFactory[] = [];
  for (const id of ids) {
    const alias = STACK_ALIASES[id];
    const add = alias ? await alias.pick(all) : [findStack(id, all)];
    for (const s of add) if (!out.some((x) => x.id === s.id)) out.push(s);
  }
  return out;
}
