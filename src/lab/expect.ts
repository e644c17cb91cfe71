// Expectations are data, per stack: what Linux (by version range), FreeBSD and others should do.
import { inRange, type KnownOs, type StackInfo } from './kernel.js';

/** A value to compare with what was observed. Objects give ranges and alternatives. */
export type Expected =
  | string
  | number
  | boolean
  | null
  | { oneOf: ReadonlyArray<string | number | boolean | null> }
  | { between: readonly [number, number] }
  | { atLeast: number }
  | { atMost: number };

export interface ExpectRule {
  /** Version range, e.g. '>=4.12 <5.10', or '*'. */
  versions: string;
  expect: Expected;
  /** Why this stack does this: kernel function, RFC section, commit. Shown in reports. */
  because?: string;
}

/** One rule for every version of a stack: `{ lwip: anyVersion('ACK', 'tcp_process(): ...') }`. */
export function anyVersion(expect: Expected, because: string): readonly ExpectRule[] {
  return [{ versions: '*', expect, because }];
}

/** Rules per kind of stack (kernel.ts STACK_OSES), plus `other` for stacks with no rule of their own. */
export type Expectation = { readonly [K in KnownOs]?: readonly ExpectRule[] } & {
  /** For stacks with no rule. Leave out to report ERROR ("no expectation for this stack"). */
  readonly other?: { expect: Expected; because?: string };
};

export interface ResolvedExpectation {
  expect: Expected;
  because?: string;
  /** Which rule applied, e.g. 'linux >=4.12'. */
  source: string;
}

export function resolveExpectation(e: Expectation, stack: StackInfo): ResolvedExpectation | undefined {
  const rules = stack.os === 'other' ? undefined : e[stack.os];
  const hit = rules?.find((r) => inRange(stack.version, r.versions));
  if (hit) return { expect: hit.expect, because: hit.because, source: `${stack.os} ${hit.versions}` };
  if (e.other) return { expect: e.other.expect, because: e.other.because, source: 'any stack' };
  return undefined;
}

export type Observed = string | number | boolean | null;

export function satisfies(observed: Observed, expected: Expected): boolean {
  if (expected === null || typeof expected !== 'object') return observed === expected;
  if ('oneOf' in expected) return expected.oneOf.includes(observed);
  if (typeof observed !== 'number') return false;
  if ('between' in expected) return observed >= expected.between[0] && observed <= expected.between[1];
  if ('atLeast' in expected) return observed >= expected.atLeast;
  return observed <= expected.atMost;
}

export function describeExpected(e: Expected): string {
  if (e === null || typeof e !== 'object') return JSON.stringify(e);
  if ('oneOf' in e) return `one of ${e.oneOf.map((v) => JSON.stringify(v)).join(', ')}`;
  if ('between' in e) return `between ${e.between[0]} and ${e.between[1]}`;
  if ('atLeast' in e) return `>= ${e.atLeast}`;
  return `<= ${e.atMost}`;
}
