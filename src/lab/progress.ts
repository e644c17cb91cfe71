// A countdown for waits longer than 2 s, on a terminal only: pipes, --json and TERM=dumb (no line erase)
// get nothing.
import { monoMs } from './clock.js';

export interface Waiting {
  done(): void;
}

const NOOP: Waiting = { done() {} };

export function countdown(what: string, ms: number, stream: NodeJS.WriteStream = process.stderr): Waiting {
  if (ms <= 2000 || !stream.isTTY || process.env.TERM === 'dumb') return NOOP;
  const end = monoMs() + ms;
  const draw = () => {
    const left = Math.max(0, end - monoMs());
    stream.write(`\r\x1b[2K     … ${what}: ${(left / 1000).toFixed(1)} s`);
  };
  draw();
  const t = setInterval(draw, 100);
  t.unref();
  return {
    done() {
      clearInterval(t);
      stream.write('\r\x1b[2K');
    },
  };
}
