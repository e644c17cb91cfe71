// How tcplab writes to the terminal: colour only where it helps, text as wide as the terminal, quiet
// when the reader goes away.
import { MIN_WIDTH } from '../lab/ladder.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Colour on `stream`? FORCE_COLOR decides when set, as in Node itself; otherwise NO_COLOR (any
 * non-empty value, no-color.org), TERM=dumb and a stream that is not a terminal turn it off.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: Env = process.env): boolean {
  // Node's reading of FORCE_COLOR: '', 1, 2, 3 or true force colour; any other value turns it off.
  const force = env.FORCE_COLOR;
  if (force !== undefined) return ['', '1', '2', '3', 'true'].includes(force);
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/**
 * Text width of ladders: --width N, else the terminal's on a TTY, else 100 (a file or a pipe gets lines
 * that read well in a review or a README). Throws naming --width when N is not usable.
 */
export function ladderWidth(flag: string | undefined, out: { isTTY?: boolean; columns?: number }): number {
  if (flag !== undefined) {
    const n = Number(flag);
    if (!/^\d+$/.test(flag) || n < MIN_WIDTH || n > 1000) throw new RangeError(`--width: an integer from ${MIN_WIDTH} to 1000 (columns of text), got '${flag}'`);
    return n;
  }
  return out.isTTY && out.columns ? Math.max(MIN_WIDTH, out.columns) : 100;
}

/**
 * A reader that closed the pipe (`tcplab list | head -1`) is not an error: stop writing, say nothing, and
 * let a running lab finish its clean-up (so no process.exit here). Other write errors still surface.
 */
export function quietOnEpipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
      stream.write = (() => true) as typeof stream.write;
      return;
    }
    throw e;
  });
}
