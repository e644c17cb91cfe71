// Running system tools (ip, tc, nft, ss, ethtool) with their output captured; never through a shell.
import { execFile, execFileSync } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the tool's stdin (e.g. `ip -batch -`, `nft -f -`). */
  input?: string;
  timeoutMs?: number;
}

/** Runs a command; resolves with its exit code and output (a non-zero exit is a value, not an error). */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new Error(`${cmd}: ${err.message} (is ${cmd} installed?)`));
        return;
      }
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export class CommandError extends Error {
  constructor(readonly cmd: string, readonly args: readonly string[], readonly result: ExecResult) {
    super(`\`${cmd} ${args.join(' ')}\` failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
  }
}

/** Runs a command and throws CommandError on a non-zero exit. */
export async function must(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new CommandError(cmd, args, r);
  return r.stdout;
}

/** Synchronous variant for the last-resort `exit` hook, where no more event-loop turns happen. */
export function runSync(cmd: string, args: readonly string[], input?: string): ExecResult {
  try {
    const stdout = execFileSync(cmd, [...args], { encoding: 'utf8', input, timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'] });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}

/** argv prefix that runs a command inside a namespace (or as is in the current one). */
export function inNetns(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, [...args]];
}
