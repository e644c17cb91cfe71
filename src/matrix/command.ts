// `tcplab matrix` and `tcplab run --target`: entry points for src/cli.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allLabs } from '../../labs/index.js';
import type { StackInfo } from '../lab/kernel.js';
import { localStack } from '../lab/kernel.js';
import type { Lab } from '../lab/types.js';
import type { LabTarget } from '../lab/stack.js';
import { differingRows, matrixMarkdown, runMatrix } from './matrix.js';
import { parseCommand } from '../cli/args.js';
import { EXIT } from '../cli/exit.js';
import { labPrivilegeProblem } from '../cli/privileges.js';
import { giveToInvoker } from '../cli/owner.js';
import { STACK_ALIASES, STACKS, findStack, resolveStacks, type StackFactory } from '../targets/registry.js';

export const MATRIX_USAGE = `  tcplab matrix [options]           the same labs on several TCP stacks, as a Markdown table (+ JSON)
      --labs A,B       labs to run (default: every lab that runs on any stack: ${allLabs.filter((l) => l.remote === 'probe' && !l.localOnly).map((l) => l.id).join(', ')})
      --stacks X,Y     stacks (default: all: ${STACKS.map((s) => s.id).join(', ')});
                       ${Object.entries(STACK_ALIASES).map(([k, a]) => `'${k}': ${a.what}`).join('; ')};
                       ssh:NAME adds a VM over ssh (a Host alias, e.g. ssh:freebsd, or ssh:user@host)
      --case ID        only this case (repeatable)
      --out DIR        pcaps, per-stack reports, matrix.md and matrix.json (default ./tcplab-out/matrix)
      --json           print the JSON on stdout instead of the Markdown`;

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter(Boolean);
}

/**
 * `tcplab matrix ...`; returns the exit code: 0 every stack ran (stacks that differ are the table's
 * content, not a failure), 3 (ERROR) a stack was unavailable or a case errored.
 */
export async function cmdMatrix(argv: string[]): Promise<number> {
  const values = parseCommand('matrix', argv, {
    labs: { type: 'string' },
    stacks: { type: 'string' },
    case: { type: 'string', multiple: true },
    out: { type: 'string' },
    json: { type: 'boolean' },
  }, false).values as { labs?: string; stacks?: string; case?: string[]; out?: string; json?: boolean };
  const labIds = list(values.labs) ?? allLabs.filter((l) => l.remote === 'probe' && !l.localOnly).map((l) => l.id);
  const labs: Lab[] = labIds.map((id) => {
    const l = allLabs.find((x) => x.id === id || `lab:${x.id}` === id);
    if (!l) throw new RangeError(`--labs: unknown lab '${id}' (labs: ${allLabs.map((x) => x.id).join(', ')})`);
    return l;
  });
  const unknown = (values.case ?? []).filter((c) => !labs.some((l) => l.cases.some((k) => k.id === c)));
  if (unknown.length) throw new RangeError(`--case: no chosen lab has case ${unknown.join(', ')} (cases: ${labs.flatMap((l) => l.cases.map((k) => k.id)).join(', ')})`);
  const stacks = await resolveStacks(list(values.stacks) ?? STACKS.map((s) => s.id));
  if (!stacks.length) throw new RangeError(`--stacks: '${values.stacks}' names no stack that can run here`);
  const denied = labPrivilegeProblem('the matrix and labs');
  if (denied) {
    process.stderr.write(`tcplab: ${denied}\n`);
    return EXIT.ERROR;
  }
  const outDir = values.out ?? join('tcplab-out', 'matrix');
  const startedMs = Date.now();
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    const m = await runMatrix(labs, stacks, { outDir, ...(values.case ? { cases: values.case } : {}), signal: ac.signal, onProgress: (l) => process.stderr.write(l + '\n') });
    const md = matrixMarkdown(m);
    writeFileSync(join(outDir, 'matrix.md'), md);
    writeFileSync(join(outDir, 'matrix.json'), JSON.stringify(m, null, 2) + '\n');
    process.stdout.write(values.json ? JSON.stringify(m, null, 2) + '\n' : md);
    process.stderr.write(`tcplab matrix: ${differingRows(m).length} row(s) where stacks differ; ${join(outDir, 'matrix.md')}, ${join(outDir, 'matrix.json')}\n`);
    // Handed to the user behind sudo (the top folder of outDir that this run created, or outDir itself).
    giveToInvoker([outDir.split('/')[0] === 'tcplab-out' ? 'tcplab-out' : outDir], startedMs);
    if (ac.signal.aborted) return EXIT.INTERRUPTED;
    const bad = m.stacks.some((s) => s.unavailable) || m.rows.some((r) => Object.keys(r.errors).length > 0);
    return bad ? EXIT.ERROR : EXIT.OK;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}

/** What a lab run on a stack gets: the started target (none for this machine) and the stack's traits. */
export interface OnStack {
  stack: StackInfo;
  target?: LabTarget;
  linkUnsupported?: string;
}

/**
 * For `tcplab run --target ID`: starts the stack, runs fn with it, and disposes it. 'linux-host' (or
 * undefined) runs fn on this machine's kernel. `f` may be given instead of an id (e.g. --kernel FILE).
 */
export async function runOnTarget<T>(id: string | StackFactory | undefined, fn: (on: OnStack) => Promise<T>): Promise<T> {
  if (id === undefined) return fn({ stack: localStack() });
  const f = typeof id === 'string' ? findStack(id, STACKS, '--target') : id;
  if (f.local) return fn({ stack: localStack() });
  const why = await f.unavailable();
  if (why) throw new Error(`--target ${f.id}: unavailable here: ${why}`);
  const t = await f.start();
  if (!t) return fn({ stack: localStack() });
  try {
    return await fn({ stack: t.stack, target: t, ...(f.linkUnsupported ? { linkUnsupported: f.linkUnsupported } : {}) });
  } finally {
    await t.dispose();
  }
}
