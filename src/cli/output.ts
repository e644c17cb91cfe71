// How tcplab writes to the terminal: colour only where it helps, quiet when the reader goes away.

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
