// `tcplab matrix` and `tcplab run --target`: entry points for src/cli.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allLabs } from '../../labs/index.js';
import type { StackInfo } from '../lab/kernel.js';
import { localStack } from '../lab/kernel.js';
import type { Lab } from '../lab/types.js';
import type { LabTarget } from '../lab/stack.js';
import { pcapngReading } from '../inspect/annotate.js';
import { differingRows, matrixHtml, matrixMarkdown, runMatrix, type MatrixResult } from '../matrix/matrix.js';
import { parseCommand } from './args.js';
import { EXIT } from './exit.js';
import { labPrivilegeProblem } from './privileges.js';
import { giveToInvoker } from './owner.js';
import { STACK_ALIASES, STACKS, findStack, resolveStacks, type StackFactory } from '../targets/registry.js';

export const MATRIX_USAGE = `  tcplab matrix [options]           the same labs on several TCP stacks, as a Markdown table (+ JSON, HTML)
      --labs A,B       labs to run (default: every lab that runs on any stack: ${allLabs.filter((l) => l.remote === 'probe' && !l.localOnly).map((l) => l.id).join(', ')})
      --stacks X,Y     stacks (default: all: ${STACKS.map((s) => s.id).join(', ')});
                       ${Object.entries(STACK_ALIASES).map(([k, a]) => `'${k}': ${a.what}`).join('; ')};
                       ssh:NAME adds a VM over ssh (a Host alias, e.g. ssh:freebsd, or ssh:user@host)
      --case ID        only this case (repeatable)
      --out DIR        pcaps, per-stack reports, matrix.md, matrix.json and matrix.html
                       (default ./tcplab-out/matrix)
      --json           print the JSON on stdout instead of the Markdown
      --render DIR     no run: write DIR/matrix.md and DIR/matrix.html again from DIR/matrix.json
                       (after a renderer changed; the verdicts stay those of the run)`;

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter(Boolean);
}

/** The three formats beside the stacks' folders, so their relative links to ladders and pcaps resolve. */
function writeMatrix(outDir: string, m: MatrixResult, md = matrixMarkdown(m)): { 'matrix.md': string; 'matrix.json': string; 'matrix.html': string } {
  mkdirSync(outDir, { recursive: true });
  const files = { 'matrix.md': md, 'matrix.json': JSON.stringify(m, null, 2) + '\n', 'matrix.html': matrixHtml(m) };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(outDir, name), text);
  return files;
}

/** --render DIR: the Markdown and HTML of an earlier run, from its JSON (the JSON itself is left as it was). */
function renderAgain(dir: string): number {
  const m = JSON.parse(readFileSync(join(dir, 'matrix.json'), 'utf8')) as MatrixResult;
  if (m.schema !== 'tcplab.matrix/1') throw new RangeError(`--render: ${join(dir, 'matrix.json')} is not a tcplab.matrix/1 result (schema ${String(m.schema)})`);
  writeFileSync(join(dir, 'matrix.md'), matrixMarkdown(m));
  writeFileSync(join(dir, 'matrix.html'), matrixHtml(m));
  process.stderr.write(`tcplab matrix: ${join(dir, 'matrix.md')}, ${join(dir, 'matrix.html')} rendered from ${join(dir, 'matrix.json')}\n`);
  return 0;
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
    render: { type: 'string' },
  }, false).values as { labs?: string; stacks?: string; case?: string[]; out?: string; json?: boolean; render?: string };
  if (values.render !== undefined) return renderAgain(values.render);
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
    const m = await runMatrix(labs, stacks, { outDir, readPackets: pcapngReading, ...(values.case ? { cases: values.case } : {}), signal: ac.signal, onProgress: (l) => process.stderr.write(l + '\n') });
    const md = matrixMarkdown(m);
    const files = writeMatrix(outDir, m, md);
    process.stdout.write(values.json ? files['matrix.json'] : md);
    process.stderr.write(`tcplab matrix: ${differingRows(m).length} row(s) where stacks differ; ${Object.keys(files).map((f) => join(outDir, f)).join(', ')}\n`);
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
