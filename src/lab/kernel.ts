// Which stack is under test, and version ranges for per-stack expectations.
import { release, type } from 'node:os';

/**
 * The kinds of TCP stack expectations are written for: kernels, plus the user-space stacks of src/targets
 * (gVisor netstack, libslirp, lwIP). Expectation keys, the CLI's --expectations check and the stack
 * registry's `os` all come from this list.
 */
export const STACK_OSES = ['linux', 'freebsd', 'gvisor', 'slirp', 'lwip'] as const;
export type KnownOs = (typeof STACK_OSES)[number];
export type StackOs = KnownOs | 'other';

export interface StackInfo {
  os: StackOs;
  /** As uname -r prints it, e.g. '6.18.44-fc-v669'. */
  release: string;
  /** [major, minor, patch] parsed from release; unknown parts are 0. */
  version: [number, number, number];
}

export function parseVersion(rel: string): [number, number, number] {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(rel);
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

export function localStack(): StackInfo {
  const t = type().toLowerCase();
  const os: StackOs = t === 'linux' ? 'linux' : t === 'freebsd' ? 'freebsd' : 'other';
  return { os, release: release(), version: parseVersion(release()) };
}

function cmp(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * A version range like '>=4.12', '<5.0', '>=5.10 <6.1', or '*'. Space-separated clauses all hold.
 * Throws RangeError naming the range for anything else: expectations are data and must be exact.
 */
export function inRange(version: readonly number[], range: string): boolean {
  const clauses = range.trim().split(/\s+/);
  return clauses.every((c) => {
    if (c === '*') return true;
    const m = /^(>=|<=|>|<|=)?(\d+(?:\.\d+){0,2})$/.exec(c);
    if (!m) throw new RangeError(`version range: cannot read '${range}' (write e.g. '>=5.10 <6.1')`);
    const d = cmp(version, parseVersion(m[2]!));
    switch (m[1] ?? '=') {
      case '>=': return d >= 0;
      case '<=': return d <= 0;
      case '>': return d > 0;
      case '<': return d < 0;
      default: return d === 0;
    }
  });
}
