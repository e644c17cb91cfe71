// Where a lab can run: which role is the subject, and whether a stack can host it. One rule, asked by
// `run` (before anything boots), the runner, `list` and the matrix, so they never disagree.
import type { Lab, LabCase } from './types.js';

/** What placement needs to know of a stack, before it starts. */
export interface StackTraits {
  readonly id: string;
  /** This machine's kernel: labs build their own namespaces, everything runs. */
  readonly local?: boolean;
  /** Why two-host labs cannot run there; undefined when the stack's targets offer partner(). */
  readonly linkUnsupported?: string;
}

/** The subject role for a run: the user's --subject, checked against the lab, else the lab's own. */
export function subjectOf(lab: Lab, asked?: string): string {
  if (asked === undefined) return lab.roles.subject;
  const choices = lab.roles.choices ?? [lab.roles.subject];
  if (!choices.includes(asked)) {
    throw new RangeError(`--subject: lab ${lab.id} cannot test '${asked}' (${choices.length > 1 ? `choose ${choices.join(' or ')}` : `its subject is always ${lab.roles.subject}`})`);
  }
  return asked;
}

/** Why `lab` cannot run on `stack`, or undefined when it can. */
export function labUnsupported(lab: Lab, stack: StackTraits): string | undefined {
  if (stack.local) return undefined;
  if (lab.localOnly) return lab.localOnly;
  if (lab.remote === 'link' && stack.linkUnsupported) return stack.linkUnsupported;
  return undefined;
}

/** Why one case of a lab that can run on `stack` cannot (with this subject), or undefined. */
export function caseUnsupported(lc: LabCase, stack: StackTraits, subject: string): string | undefined {
  if (stack.local || lc.localOnly === undefined) return undefined;
  return typeof lc.localOnly === 'string' ? lc.localOnly : lc.localOnly(subject);
}
