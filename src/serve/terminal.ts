// run --step: before each step the terminal shows what it is about to do and why, and waits for Enter
// (or --step-delay seconds); the ladder grows packet by packet as the kernel answers, with each side's
// TCP state. Everything goes to stderr, like the run's progress; stdout keeps the report.
import { createInterface, type Interface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { renderLadder } from '../lab/ladder.js';
import type { LiveObserver, LiveSnapshot, LiveStep } from '../lab/live.js';
import { annotate } from '../inspect/annotate.js';
import { reasonLine, stepReasons } from './why.js';

export interface TerminalClassroomOptions {
  /** Where lines go (stderr). */
  write: (s: string) => void;
  /** Where Enter comes from (stdin). */
  input: NodeJS.ReadableStream;
  /** Advance by itself after this many seconds (Enter still advances earlier). */
  delayS?: number;
  color?: boolean;
  width?: number;
  /** The input ended with no --step-delay to go on: the run must stop (the CLI aborts it, clean-up runs). */
  onInputGone?: () => void;
  /** Ladder lines drawn live per case; the report after the run has them all. */
  maxLines?: number;
}

/** A wait for Enter that the abort signal (Ctrl-C) or the end of the input ends with an error. */
class LineWaiter {
  private rl: Interface | undefined;
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private ended = false;

  constructor(private readonly input: NodeJS.ReadableStream, private readonly onEnd: () => void) {}

  private open(): Interface {
    if (this.rl) return this.rl;
    // terminal: false keeps the tty in cooked mode, so Ctrl-C stays a SIGINT for the run's handler.
    const rl = createInterface({ input: this.input, terminal: false });
    rl.on('line', () => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve(); // a line typed while no step waits is dropped: it must not skip the next pause
    });
    rl.on('close', () => {
      this.ended = true;
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(new Error('stdin closed: classroom mode stopped (give --step-delay S to run without a keyboard)'));
      this.onEnd();
    });
    this.rl = rl;
    return rl;
  }

  get closed(): boolean {
    return this.ended;
  }

  wait(signal: AbortSignal): Promise<void> {
    this.open();
    if (this.ended) return Promise.reject(new Error('stdin closed: classroom mode stopped'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiting = undefined;
        reject(new Error('interrupted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting = {
        resolve: () => { signal.removeEventListener('abort', onAbort); resolve(); },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      };
    });
  }

  /** Stops waiting for a line that is no longer needed (a --step-delay that ran out). */
  cancel(): void {
    this.waiting = undefined;
  }

  close(): void {
    this.rl?.removeAllListeners('close');
    this.rl?.close();
  }
}

export interface TerminalClassroom extends LiveObserver {
  close(): void;
}

export function terminalClassroom(o: TerminalClassroomOptions): TerminalClassroom {
  const bold = (s: string) => (o.color ? `\x1b[1m${s}\x1b[0m` : s);
  const dim = (s: string) => (o.color ? `\x1b[2m${s}\x1b[0m` : s);
  const width = Math.max(80, Math.min(o.width ?? 100, 160));
  const maxLines = o.maxLines ?? 400;
  let gone = false;
  const lines = new LineWaiter(o.input, () => {
    if (o.delayS !== undefined) return; // --step-delay goes on without a keyboard
    gone = true;
    o.onInputGone?.();
  });
  let printed = 0; // lines of this case's ladder already on screen
  let shown = 0;
  let capped = false;

  const drawLadder = (s: LiveSnapshot) => {
    if (!s.columns || !s.packets.length || capped) return;
    const a = annotate(s.packets, s.columns, { explain: true });
    // The lab's own notes are already printed as they happen; the findings (⚑) and their rules are not.
    const all = renderLadder(s.packets, a.notes, s.columns, { color: o.color, states: a.states, wrapNotes: true, width }).split('\n');
    const fresh = all.slice(printed);
    printed = Math.max(printed, all.length);
    for (const l of fresh) {
      if (shown >= maxLines) {
        capped = true;
        o.write(dim(`     … the live ladder stops at ${maxLines} lines; the report below has every packet\n`));
        break;
      }
      o.write(`${l}\n`);
      shown++;
    }
  };

  return {
    caseStart(c) {
      printed = 0;
      shown = 0;
      capped = false;
      o.write(`\n${bold(`── classroom: ${c.lab.id} / ${c.lc.id}: ${c.lc.title}`)}\n`);
      o.write(`   ${c.lab.summary}\n`);
    },
    packets: drawLadder,
    async beforeStep(s: LiveStep, signal: AbortSignal) {
      o.write(`\n  ${bold(`▶ next, step ${s.n}:`)} ${s.text}\n`);
      for (const r of stepReasons(s.lab, s.text, s.why)) o.write(`    ${dim('why:')} ${reasonLine(r)}\n`);
      if (gone) throw new Error('stdin closed: classroom mode stopped');
      if (o.delayS === undefined) {
        o.write(dim('    [Enter] runs it · Ctrl-C stops the lab (everything is cleaned up)\n'));
        await lines.wait(signal);
        return;
      }
      o.write(dim(`    runs in ${o.delayS} s ([Enter] runs it now · Ctrl-C stops the lab)\n`));
      const ac = new AbortController();
      const stop = () => ac.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        const enter = lines.closed ? new Promise<void>(() => {}) : lines.wait(ac.signal).catch(() => {});
        await Promise.race([delay(o.delayS * 1000, undefined, { signal: ac.signal }).catch(() => {}), enter]);
        if (signal.aborted) throw new Error('interrupted');
      } finally {
        lines.cancel();
        ac.abort();
        signal.removeEventListener('abort', stop);
      }
    },
    close() {
      lines.close();
    },
  };
}
