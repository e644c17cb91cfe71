// Fault injection: `tcplab run <lab> --case <id>` in a child process, killed at a random moment with
// SIGINT, SIGTERM or SIGKILL (then `tcplab clean`), and what of that run is left: namespaces, root links,
// nft tables, peer processes, journals. Root sysctls are compared by the caller (rootSysctls()).
// While the child runs we poll /run/tcplab journals and /proc to learn its run ids and its descendants
// (peers): after the kill, the parent/child links are gone.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listNamespaces, listRootLinks, listRootNftTables } from '../../src/testbed/clean.js';
import { isAlive, readJournals } from '../../src/testbed/journal.js';
import { journalPath, RUN_DIR, runIdOf } from '../../src/testbed/names.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const repoRoot = ROOT.endsWith('/dist-test/') ? ROOT.slice(0, -'dist-test/'.length) : ROOT;
export const CLI = join(repoRoot, 'dist/src/cli.js');

export type Sig = 'SIGINT' | 'SIGTERM' | 'SIGKILL';

/** Every readable file under /proc/sys/net/{ipv4,core} of the root namespace. */
export function rootSysctls(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (!e.startsWith('tcplab-')) walk(p); // per-interface dirs of testbed links come and go
      } else if (st.mode & 0o444) {
        try {
          out.set(p, readFileSync(p, 'utf8'));
        } catch {
          // write-only or unreadable (route/flush)
        }
      }
    }
  };
  walk('/proc/sys/net/ipv4');
  walk('/proc/sys/net/core');
  return out;
}

export function sysctlDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).map((k) => `${k}: ${JSON.stringify(before.get(k))} -> ${JSON.stringify(after.get(k))}`);
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** All live descendants of `root`. */
function descendants(root: number): number[] {
  const kids = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pp = ppidOf(Number(e));
    if (pp !== undefined) kids.set(pp, [...(kids.get(pp) ?? []), Number(e)]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) for (const k of kids.get(stack.pop()!) ?? []) { out.push(k); stack.push(k); }
  return out;
}

export interface KillResult {
  lab: string;
  caseId: string;
  sig: Sig;
  delayMs: number;
  runIds: string[];
  pids: number[];
  exit: { code: number | null; signal: string | null };
  /** What the child printed last before the kill (how far it got). */
  lastLine: string;
  cleanMs: number;
  /** The run ended by itself before the signal (ms after spawn): the kill came too late to test anything. */
  finishedMs?: number;
  leftovers: Leftovers;
}

export interface Leftovers {
  namespaces: string[];
  links: string[];
  nft: string[];
  processes: number[];
  journals: string[];
}

export const NOTHING: Leftovers = { namespaces: [], links: [], nft: [], processes: [], journals: [] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `afterTestbed`: the delay counts from the moment the run's testbed journal appears, so the kill is sure
 * to land while namespaces, peers and sysctls are live (a purely random delay may miss that window).
 */
export async function killRun(lab: string, caseId: string, sig: Sig, delayMs: number, afterTestbed = false): Promise<KillResult> {
  const child = spawn(process.execPath, [CLI, 'run', lab, '--case', caseId, '--no-pcap'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  const runIds = new Set<string>();
  const pids = new Set<number>();
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-2000); });
  child.stderr.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-2000); });
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const poll = () => {
    for (const j of readJournals()) if (j.pid === pid) runIds.add(j.runId);
    for (const p of descendants(pid)) pids.add(p);
  };
  const t0 = Date.now();
  let done = false;
  let finishedMs: number | undefined;
  void exited.then(() => { done = true; finishedMs ??= Date.now() - t0; });
  let from = t0;
  if (afterTestbed) {
    while (!done && runIds.size === 0 && Date.now() - t0 < 10_000) {
      poll();
      await sleep(5);
    }
    from = Date.now();
  }
  while (!done && Date.now() - from < delayMs) {
    poll();
    await sleep(Math.min(25, Math.max(1, delayMs - (Date.now() - t0))));
  }
  if (!done) poll();
  const alive = !done;
  if (alive) child.kill(sig);
  let hangTimer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([exited, new Promise<{ code: null; signal: string }>((res) => {
    hangTimer = setTimeout(() => res({ code: null, signal: 'HUNG' }), 15_000);
  })]);
  clearTimeout(hangTimer);
  if (exit.signal === 'HUNG') child.kill('SIGKILL');
  const c0 = Date.now();
  if (sig === 'SIGKILL') {
    const r = spawnSync(process.execPath, [CLI, 'clean'], { encoding: 'utf8' });
    if (r.status !== 0) out += `\n[tcplab clean exited ${r.status}: ${r.stderr}]`;
  }
  const cleanMs = Date.now() - c0;
  // peers notice their parent's death (stdin EOF) and exit: give them a moment
  for (let i = 0; i < 40 && [...pids].some(isAlive); i++) await sleep(50);
  const lines = out.trim().split('\n');
  // The child may have exited on its own just before the kill while its 'exit' event was still queued
  // (alive was true): exit 0 with the final verdict line printed means the run finished by itself.
  const ranToEnd = !alive || (exit.code === 0 && /^verdict: /m.test(out));
  return {
    lab, caseId, sig, delayMs, runIds: [...runIds], pids: [...pids], exit, cleanMs,
    ...(ranToEnd ? { finishedMs } : {}),
    lastLine: lines[lines.length - 1] ?? '',
    leftovers: await leftoversOf([...runIds], [...pids]),
  };
}

/** What remains of these runs; plus any tcplab namespace/link/table whose run has no live owner. */
export async function leftoversOf(runIds: readonly string[], pids: readonly number[]): Promise<Leftovers> {
  const live = new Set(readJournals().filter((j) => isAlive(j.pid)).map((j) => j.runId));
  const ours = (name: string) => { const id = runIdOf(name); return id !== undefined && (runIds.includes(id) || !live.has(id)); };
  return {
    namespaces: (await listNamespaces()).filter(ours),
    links: (await listRootLinks()).filter(ours),
    nft: (await listRootNftTables()).map((t) => t.name).filter(ours),
    processes: pids.filter(isAlive),
    // the journal, and any other /run/tcplab file of the run (a half-written journal's .tmp)
    journals: [
      ...runIds.filter((id) => existsSync(journalPath(id))),
      ...(existsSync(RUN_DIR) ? readdirSync(RUN_DIR).filter((f) => runIds.some((id) => f.startsWith(id)) && !f.endsWith('.json')) : []),
    ],
  };
}
