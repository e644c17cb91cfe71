// `tcplab serve`: the entry point for src/cli.ts. The server runs until the page goes away, or the
// terminal does (Ctrl-C, SIGHUP, stdin closed): then a running lab is stopped and cleaned up first.
import { fstatSync } from 'node:fs';
import { allLabs } from '../../labs/index.js';
import { parseCommand } from './args.js';
import { EXIT, UsageError } from './exit.js';
import { labPrivilegeProblem } from './privileges.js';
import { runOnTarget } from './matrix.js';
import { customKernelStack, findStack, STACKS, type StackFactory } from '../targets/registry.js';
import { startClassroomServer } from '../serve/server.js';

export const SERVE_USAGE = `  tcplab serve [options]            classroom mode on a local web page (loopback only): pick a lab and a
                                    case, step through it with "next", watch the ladder grow (root)
      --port N         port on 127.0.0.1 and ::1 (default: a free one, printed)
      --target STACK   run the subject there, as with run --target (or --kernel FILE [--modules DIR])
      --kernel FILE    boot a kernel you built in QEMU as the target
      --modules DIR    with --kernel: its modules directory
      --grace S        stop this long after the page went away (default 5 s)
  stops when the page is closed, on Ctrl-C or Ctrl-D, or when the terminal goes away`;

/** stdin that can end (a terminal, a pipe): its end stops the server. /dev/null or a file would at once. */
function stdinCanClose(): boolean {
  try {
    const st = fstatSync(0);
    return process.stdin.isTTY === true || st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export async function cmdServe(argv: string[]): Promise<number> {
  const { values } = parseCommand('serve', argv, {
    port: { type: 'string' }, target: { type: 'string' }, kernel: { type: 'string' }, modules: { type: 'string' }, grace: { type: 'string' },
  }, false);
  const v = values as { port?: string; target?: string; kernel?: string; modules?: string; grace?: string };
  const port = v.port === undefined ? 0 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`serve: --port: an integer from 0 to 65535 (0: any free port), got '${v.port}'`, 'serve');
  const grace = v.grace === undefined ? 5 : Number(v.grace);
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) throw new UsageError(`serve: --grace: seconds from 0 to 3600, got '${v.grace}'`, 'serve');
  if (v.kernel !== undefined && v.target !== undefined) throw new UsageError('serve: --kernel and --target: choose one', 'serve');
  if (v.modules !== undefined && v.kernel === undefined) throw new UsageError('serve: --modules goes with --kernel FILE', 'serve');
  let factory: StackFactory | undefined;
  try {
    factory = v.kernel !== undefined ? customKernelStack(v.kernel, v.modules) : v.target === undefined ? undefined : findStack(v.target, STACKS, '--target');
  } catch (e) {
    throw new UsageError(`serve: ${e instanceof Error ? e.message : String(e)}`, 'serve');
  }
  if (factory?.local) factory = undefined;
  const denied = labPrivilegeProblem('labs');
  if (denied) {
    process.stderr.write(`tcplab: ${denied}\n`);
    return EXIT.ERROR;
  }
  const why = factory ? await factory.unavailable() : undefined;
  if (why) {
    process.stderr.write(`tcplab: serve: --target ${factory!.id}: unavailable here: ${why}\n`);
    return EXIT.ERROR;
  }
  let server;
  try {
    server = await startClassroomServer({
      labs: allLabs, port, graceMs: grace * 1000, ...(factory ? { factory } : {}),
      onStack: (fn) => runOnTarget(factory, fn),
      log: (l) => process.stderr.write(l + '\n'),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`serve: --port ${port}: cannot listen on 127.0.0.1 (${code ?? (e as Error).message})`, 'serve');
  }
  const s = server;
  let signalled = 0;
  const onSig = (sig: NodeJS.Signals) => {
    signalled ||= sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129;
    void s.stop(`${sig} from the terminal`);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSig);
  const watchStdin = stdinCanClose();
  const onEnd = () => void s.stop('stdin closed (the terminal went away)');
  if (watchStdin) {
    process.stdin.on('end', onEnd);
    process.stdin.on('error', onEnd);
    process.stdin.resume();
  }
  // The URL goes to stdout (a script can read it); what to do goes to stderr.
  process.stdout.write(`${s.url}\n`);
  process.stderr.write(`tcplab serve: open ${s.url} (bound to ${s.bound.join(' and ')} only)${factory ? `; labs run on ${factory.id}` : ''}\n` +
    `tcplab serve: stops when the page is closed (after ${grace} s), on Ctrl-C${watchStdin ? ', Ctrl-D' : ''} or when the terminal goes away\n`);
  const reason = await s.stopped;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSig);
  if (watchStdin) {
    process.stdin.off('end', onEnd);
    process.stdin.off('error', onEnd);
    process.stdin.pause();
  }
  process.stderr.write(`tcplab serve: stopped (${reason})\n`);
  return signalled || EXIT.OK;
}
