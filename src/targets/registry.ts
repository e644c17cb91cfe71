// The one registry of TCP stacks: this machine's kernel (namespace pairs, as `tcplab run` does), the
// targets of this folder, and ssh:NAME (another machine over ssh) when asked for. The CLI's --target and
// help, the matrix's columns and aliases, and `tcplab clean` all derive from it. Each stack says why it
// cannot run here (unavailable) and why two-host labs cannot run on it (linkUnsupported), before anything
// starts.
import { localStack, parseVersion } from '../lab/kernel.js';
import { gvisorFactory } from './gvisor.js';
import { lwipFactory } from './lwip.js';
import { kernelFactories, kernelTarget, type KernelFactory } from './kernels.js';
import { slirpFactory } from './slirp.js';
import { isSshTarget, sshFactory } from './ssh.js';
import type { LabTarget, TargetFactory } from './target.js';
import { cleanTargetLeftovers } from './leftovers.js';
import { removeDeadTemps } from './qemu-snapshot.js';
import { guestDir } from './qemu.js';
import { cleanSshLeftovers } from './ssh.js';

export interface StackFactory extends Omit<TargetFactory, 'start'> {
  /** This machine's kernel: labs build their own hosts, so every lab runs. */
  readonly local?: boolean;
  /** A Linux kernel (this machine's or a guest's): the `linux` alias of --stacks takes these. */
  readonly linux?: boolean;
  /** A guest kernel that is built here (it starts without a download); the `linux` alias takes only these. */
  readonly built?: boolean;
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

/** A guest kernel as a stack: every Linux target offers the partner link two-host labs need. */
export function guestStack(f: KernelFactory): StackFactory {
  return { id: f.id, title: f.title, linux: true, built: f.built, unavailable: () => f.unavailable(), start: () => f.start() };
}

/** --kernel FILE [--modules DIR]: a kernel the user built, as a stack (throws KernelFileError naming the file). */
export function customKernelStack(file: string, modules?: string): StackFactory {
  return guestStack(kernelTarget(file, modules ? { modules } : {}));
}

// Debian's kernels of several releases (kernels.ts), fetched once into the guest cache.
const linuxGuests: readonly StackFactory[] = kernelFactories().map(guestStack);

export const STACKS: readonly StackFactory[] = [linuxHost, ...linuxGuests, gvisorFactory, slirpFactory, lwipFactory];

/** --stacks aliases: a name for a group of stacks. */
export const STACK_ALIASES: Readonly<Record<string, { what: string; pick: (all: readonly StackFactory[]) => Promise<StackFactory[]> }>> = {
  linux: {
    what: 'every Linux kernel available here: this machine and each guest kernel already built (guest/ci-setup.sh builds them)',
    pick: async (all) => {
      const out: StackFactory[] = [];
      for (const s of all) if (s.linux && (s.local || s.built) && !(await s.unavailable())) out.push(s);
      // Oldest to newest, this machine's kernel in its place: the table reads as a history.
      const ver = (s: StackFactory) => parseVersion(s.local ? localStack().release : (/^linux-(\d+\.\d+)-qemu$/.exec(s.id)?.[1] ?? '999'));
      return out.sort((a, b) => ver(a).reduce((d, x, i) => d || x - ver(b)[i]!, 0));
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

/**
 * `tcplab clean` for every stack of the registry: what a killed run's targets left outside the testbed
 * (runsc and QEMU run dirs, ssh undo state, snapshot temp files of the guest cache, including each
 * kernel's folder). Returns what was removed.
 */
export function cleanStacks(): string[] {
  return [...cleanTargetLeftovers(), ...cleanSshLeftovers(), ...removeDeadTemps(guestDir())];
}
