// Exit codes, the same for every command (README "Exit codes"). 4 is kselftest's KSFT_SKIP.
import type { Verdict } from '../lab/result.js';

export const EXIT = {
  /** Every check as expected (or the command did what was asked). */
  OK: 0,
  /** A behaviour differs from its expectation (a DIFFERS verdict). */
  DIFFERS: 1,
  /** Bad command line or bad input file: nothing was run. */
  USAGE: 2,
  /** Could not run: an ERROR verdict, missing privileges, a target that did not start, an unreadable capture. */
  ERROR: 3,
  /** The whole run is not applicable here (kselftest's skip code): e.g. the lab cannot run on that target. */
  SKIP: 4,
  /** Interrupted (SIGINT/SIGTERM), as shells report 128 + SIGINT. */
  INTERRUPTED: 130,
} as const;

export function verdictExit(v: Verdict): number {
  return v === 'PASS' ? EXIT.OK : v === 'DIFFERS' ? EXIT.DIFFERS : EXIT.ERROR;
}

/** A usage error: the message names what was wrong; `command` picks the usage text shown with it. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Nothing to run here: exits with EXIT.SKIP and the reason. */
export class SkipError extends Error {
  override name = 'SkipError';
}
