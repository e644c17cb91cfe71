// A long-running program in a host's namespace (an HTTP server, nginx): its output lines, a wait for a
// line, and a stop that escalates to SIGKILL; killed if this process exits first.
import { spawn } from 'node:child_process';
import { inNetns } from './exec.js';

/** A long-running program inside a host's namespace, stopped on dispose (and killed if this process exits). */
export interface Proc extends AsyncDisposable {
  readonly pid: number;
  /** stdout and stderr lines so far. */
  readonly output: readonly string[];
  /** Resolves with the first output line matching `re` (or rejects after `ms`, or when the program exits). */
  waitFor(re: RegExp, ms: number): Promise<string>;
  readonly exitCode: number | null | undefined;
  /** SIGTERM (or `sig`), then SIGKILL after `ms` if it is still alive. */
  stop(sig?: NodeJS.Signals, ms?: number): Promise<void>;
}

/** Spawns `cmd` in the host's namespace (`ip netns exec` execs it: the pid is the program's own). */
export function spawnIn(host: { readonly name: string; readonly netns?: string | undefined }, cmd: string, args: readonly string[]): Proc {
  // Programs run on this machine's hosts only; a lab puts them on the role that stays here.
  if (host.netns === undefined) throw new Error(`${host.name}: ${cmd} can only run in a namespace of this machine, not on a target`);
  const [c, a] = inNetns(host.netns, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters = new Set<() => void>();
  let exitCode: number | null | undefined;
  const onLine = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', onLine);
  child.stderr.on('data', onLine);
  const exited = new Promise<void>((res) => child.once('exit', (code) => {
    exitCode = code;
    process.off('exit', killSync);
    for (const w of [...waiters]) w();
    res();
  }));
  child.once('error', (e) => output.push(`spawn error: ${e.message}`));
  // The namespace's own clean-up kills what runs in it; this covers a crash before that.
  function killSync(): void {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.once('exit', killSync);
  const proc: Proc = {
    get pid() {
      return child.pid ?? -1;
    },
    output,
    get exitCode() {
      return exitCode;
    },
    waitFor(re, ms) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => done(() => reject(new Error(`${cmd}: no output matching ${re} within ${ms} ms; output: ${output.slice(-5).join(' | ')}`))), ms);
        const done = (f: () => void) => {
          clearTimeout(t);
          waiters.delete(check);
          f();
        };
        const check = () => {
          const hit = output.find((l) => re.test(l));
          if (hit !== undefined) done(() => resolve(hit));
          else if (exitCode !== undefined) done(() => reject(new Error(`${cmd} exited (${exitCode}) before printing ${re}; output: ${output.slice(-5).join(' | ')}`)));
        };
        waiters.add(check);
        check();
      });
    },
    async stop(sig = 'SIGTERM', ms = 2000) {
      if (exitCode !== undefined || !child.pid) return;
      child.kill(sig);
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(t);
    },
    [Symbol.asyncDispose]: () => proc.stop(),
  };
  return proc;
}
