// Command-line parsing on top of node:util parseArgs, with messages a person can act on: the flag that was
// wrong and the nearest valid one, never parseArgs' internal wording.
import { parseArgs } from 'node:util';
import { UsageError } from './exit.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Thrown for --help / -h: the dispatcher prints that command's help on stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly command: string) {
    super(`help for ${command}`);
  }
}

/** Edit distance (Levenshtein), for "did you mean". */
export function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest of `choices` to `word`, if it is close enough to be a plausible typo (or a prefix). */
export function nearest(word: string, choices: readonly string[]): string | undefined {
  const prefixed = choices.filter((c) => c.startsWith(word));
  if (word.length >= 2 && prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of choices) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function didYouMean(word: string, choices: readonly string[], dashes = '--'): string {
  const n = nearest(word, choices);
  return n === undefined ? '' : ` (did you mean ${dashes}${n}?)`;
}

/** "unknown lab 'x' (did you mean y?)", or with no close one, the choices (when `listAs` names them). */
export function unknownChoice(what: string, word: string, choices: readonly string[], listAs?: string): UsageError {
  const near = didYouMean(word, choices, '');
  return new UsageError(`unknown ${what} '${word}'${near || (listAs ? ` (${listAs}: ${choices.join(', ')})` : '')}`);
}

/**
 * Parses `argv` for `command`. --help/-h anywhere before `--` asks for help. Unknown flags, a value given to
 * a boolean flag and a missing value are reported by name, with the nearest valid flag.
 */
export function parseCommand(command: string, argv: readonly string[], options: OptionSpec, positionals = true) {
  const names = Object.keys(options);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--help' || a === '-h') throw new HelpRequested(command);
    if (!a.startsWith('-') || a === '-') continue;
    if (!a.startsWith('--')) {
      const short = Object.entries(options).find(([, o]) => o.short === a.slice(1, 2));
      if (!short) throw new UsageError(`${command}: unknown option '${a}'${didYouMean(a.replace(/^-+/, ''), names)}`, command);
      continue;
    }
    const [name, inline] = [a.slice(2).split('=')[0]!, a.includes('=') ? a.slice(a.indexOf('=') + 1) : undefined];
    const spec = options[name];
    if (!spec) throw new UsageError(`${command}: unknown option '--${name}'${didYouMean(name, names)}`, command);
    if (spec.type === 'boolean' && inline !== undefined) throw new UsageError(`${command}: --${name} takes no value (got '${inline}')`, command);
    if (spec.type === 'string' && inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${command}: --${name} needs a value`, command);
      i++; // the value, whatever it looks like (e.g. a negative number)
    }
  }
  // Values that start with '-' are taken as values above; tell parseArgs the same with the inline form.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { args.push(...argv.slice(i)); break; }
    const spec = a.startsWith('--') && !a.includes('=') ? options[a.slice(2)] : undefined;
    if (spec?.type === 'string') { args.push(`${a}=${argv[i + 1]!}`); i++; } else args.push(a);
  }
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (e) {
    // Left for parseArgs: positionals where none are allowed.
    const m = /Unexpected argument '([^']*)'/.exec(e instanceof Error ? e.message : '');
    throw new UsageError(m ? `${command}: unexpected argument '${m[1]}'` : `${command}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, command);
  }
}

/**
 * The flags of a usage text (lines starting with `--name`): a word in capitals after a flag makes it take a
 * value; "(repeatable)" makes it multiple. For commands whose parser lives elsewhere (inspect).
 */
export function optionsFromUsage(usage: string, extra: OptionSpec = {}): OptionSpec {
  const out: OptionSpec = {};
  for (const line of usage.split('\n')) {
    const m = /^\s+--([a-z][a-z0-9-]*)(?: ([A-Z][A-Z0-9_]*)\b)?/.exec(line);
    if (!m) continue;
    out[m[1]!] = { type: m[2] ? 'string' : 'boolean', ...(/\(repeatable\)/.test(line) ? { multiple: true } : {}) };
  }
  return { ...out, ...extra };
}
