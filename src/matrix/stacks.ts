// The stacks a matrix can compare: this machine's kernel (a namespace pair, as `tcplab run` does) and
// the targets of src/targets, plus ssh:NAME (another machine over ssh) when asked for. Each says why
// it cannot run here instead of failing the matrix.
import { localStack } from '../lab/kernel.js';
import { qemuFactory } from '../targets/qemu.js';
import { gvisorFactory } from '../targets/gvisor.js';
import { lwipFactory } from '../targets/lwip.js';
import { slirpFactory } from '../targets/slirp.js';
import { isSshTarget, sshFactory } from '../targets/ssh.js';
import type { LabTarget, TargetFactory } from '../targets/target.js';

/** The local kernel: no target, labs build their own namespaces. start() gives undefined. */
export const linuxHost: StackFactory = {
  id: 'linux-host',
  local: true,
  title: `this machine's Linux kernel (${localStack().release}) in network namespaces`,
  unavailable: async () => (process.platform === 'linux' ? undefined : 'not Linux'),
  start: async () => undefined,
};

export interface StackFactory extends Omit<TargetFactory, 'start'> {
  /** This machine's kernel: labs build their own hosts, so every lab runs (Lab.targets or not). */
  readonly local?: boolean;
  start(): Promise<LabTarget | undefined>;
}

export const STACKS: readonly StackFactory[] = [linuxHost, qemuFactory, gvisorFactory, slirpFactory, lwipFactory];

/**
 * A stack by id. 'ssh:NAME' (a VM over ssh, see src/targets/ssh.ts) is never in the default list: it
 * is made when asked for. `field` names the option in errors.
 */
export function findStack(id: string, all: readonly StackFactory[] = STACKS, field = '--stacks'): StackFactory {
  if (isSshTarget(id)) return sshFactory(id, {}, field);
  const s = all.find((x) => x.id === id);
  if (!s) throw new RangeError(`${field}: unknown stack '${id}' (stacks: ${all.map((x) => x.id).join(', ')}), or ssh:NAME for a VM over ssh`);
  return s;
}
