// The CLI's building blocks: flag parsing and suggestions, colour rules, schema messages, privileges.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelpRequested, nearest, optionsFromUsage, parseCommand } from '../../src/cli/args.js';
import { UsageError, verdictExit, EXIT } from '../../src/cli/exit.js';
import { colorEnabled, ladderWidth } from '../../src/cli/output.js';
import { jsonPath, schemaProblem } from '../../src/cli/validate.js';
import { missingCaps, effectiveCaps } from '../../src/cli/privileges.js';
import { invoker } from '../../src/cli/owner.js';
import { INSPECT_USAGE } from '../../src/cli/inspect.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

describe('parseCommand', () => {
  const opts = { json: { type: 'boolean' }, case: { type: 'string', multiple: true }, 'json-file': { type: 'string' } } as const;
  const err = (argv: string[]) => {
    try {
      parseCommand('run', argv, opts);
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('names an unknown flag and the nearest valid one, never parseArgs wording', () => {
    const e = err(['reuse', '--jsno']);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe("run: unknown option '--jsno' (did you mean --json?)");
    expect((err(['--json-fil', 'x']) as Error).message).toContain('did you mean --json-file?');
    expect((err(['--zzzzzz']) as Error).message).toBe("run: unknown option '--zzzzzz'");
    expect((err(['-x']) as Error).message).toContain("unknown option '-x'");
  });

  it('reports a value on a boolean and a missing value', () => {
    expect((err(['--json=yes']) as Error).message).toBe("run: --json takes no value (got 'yes')");
    expect((err(['--case']) as Error).message).toBe('run: --case needs a value');
    expect((err(['--case', '--json']) as Error).message).toBe('run: --case needs a value');
  });

  it('takes values that look like flags as values, and asks for help anywhere', () => {
    expect(parseCommand('run', ['--case', '-1', 'x'], opts).values.case).toEqual(['-1']);
    expect(err(['reuse', '--help'])).toBeInstanceOf(HelpRequested);
    expect(err(['-h'])).toBeInstanceOf(HelpRequested);
    expect(parseCommand('run', ['--', '--help'], opts).positionals).toEqual(['--help']);
  });

  it('refuses positionals where there are none', () => {
    expect(() => parseCommand('list', ['x'], {}, false)).toThrow("list: unexpected argument 'x'");
  });

  it('suggests by prefix and by edit distance only when close', () => {
    expect(nearest('stack', ['stacks', 'labs'])).toBe('stacks');
    expect(nearest('reus', ['reuse', 'paws'])).toBe('reuse');
    expect(nearest('qqqq', ['reuse', 'paws'])).toBeUndefined();
  });

  it("reads inspect's flags from its usage text as inspect itself accepts them", () => {
    const o = optionsFromUsage(INSPECT_USAGE);
    expect(o.json).toEqual({ type: 'boolean' });
    expect(o.html).toEqual({ type: 'string' });
    expect(o['time-wait']).toEqual({ type: 'string' });
    expect(o.conn).toEqual({ type: 'string', multiple: true });
    expect(o.all).toEqual({ type: 'boolean' });
    expect(Object.keys(o).sort()).toEqual(['absolute', 'all', 'conn', 'explain', 'html', 'json', 'max-connections', 'max-ladders', 'max-packets', 'ports', 'time-wait']);
  });
});

describe('exit codes', () => {
  it('maps verdicts: PASS 0, DIFFERS 1, ERROR 3; usage 2 and skip 4 are apart', () => {
    expect([verdictExit('PASS'), verdictExit('DIFFERS'), verdictExit('ERROR')]).toEqual([0, 1, 3]);
    expect(new Set(Object.values(EXIT)).size).toBe(Object.values(EXIT).length);
    expect(EXIT.USAGE).toBe(2);
    expect(EXIT.SKIP).toBe(4);
  });
});

describe('colorEnabled', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it.each([
    [tty, {}, true],
    [pipe, {}, false],
    [tty, { NO_COLOR: '1' }, false],
    [tty, { NO_COLOR: '' }, true],
    [tty, { TERM: 'dumb' }, false],
    [pipe, { FORCE_COLOR: '1' }, true],
    [pipe, { FORCE_COLOR: '' }, true],
    [tty, { FORCE_COLOR: '0' }, false],
    [tty, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
    [pipe, { FORCE_COLOR: '3', TERM: 'dumb' }, true],
  ] as const)('%o %o -> %s', (s, env, want) => {
    expect(colorEnabled(s, env)).toBe(want);
  });
});

describe('schemaProblem', () => {
  const saved = JSON.parse(readFileSync(join(FIXTURES, 'report-timewait-syn.json'), 'utf8')) as { labs: { cases: { verdict: unknown; checks: { evidence: unknown }[] }[] }[] };

  it('accepts a real report', () => {
    expect(schemaProblem('report', saved)).toBeUndefined();
  });

  it('names the path of the bad field', () => {
    const r = structuredClone(saved);
    r.labs[0]!.cases[1]!.verdict = 'OK';
    expect(schemaProblem('report', r)).toBe('labs[0].cases[1].verdict: must be one of "PASS", "DIFFERS", "ERROR"');
    const s = structuredClone(saved);
    delete (s.labs[0]!.cases[0]!.checks[2] as { evidence?: unknown }).evidence;
    expect(schemaProblem('report', s)).toBe('labs[0].cases[0].checks[2].evidence: missing');
    expect(schemaProblem('report', { schema: 'tcplab.report/1' })).toBe('verdict: missing');
    expect(schemaProblem('report', { schema: 'tcplab.report/1', verdict: 'PASS', labs: [{}] })).toBe('labs[0].id: missing');
  });

  it('checks expectation files', () => {
    expect(schemaProblem('expectations', { 'isn-above/answer': { linux: [{ versions: '>=6.1', expect: 'ACK' }] } })).toBeUndefined();
    expect(schemaProblem('expectations', { a: { linx: [] } })).toBe('a.linx: not a known field');
    expect(schemaProblem('expectations', { 'x/y': { linux: [{ expect: 1 }] } })).toBe('["x/y"].linux[0].versions: missing');
    expect(schemaProblem('expectations', { a: { other: { expect: { between: [1] } } } })).toBe('a.other.expect.between: must NOT have fewer than 2 items');
    expect(schemaProblem('expectations', [])).toBe('(top level): must be object');
  });

  it('writes JSON paths readably', () => {
    expect(jsonPath('/labs/0/cases/12')).toBe('labs[0].cases[12]');
    expect(jsonPath('', 'x')).toBe('x');
    expect(jsonPath('/a~1b')).toBe('["a/b"]');
  });
});

describe('privileges and ownership', () => {
  it('needs four capabilities (measured: NET_RAW + NET_ADMIN alone cannot create namespaces)', () => {
    expect(missingCaps(0x3fffffffffn)).toEqual([]);
    expect(missingCaps((1n << 12n) | (1n << 13n))).toEqual(['CAP_DAC_OVERRIDE', 'CAP_SYS_ADMIN']);
    expect(missingCaps(undefined)).toHaveLength(4);
    expect(effectiveCaps('Name:\tx\nCapEff:\t0000000000003000\n')).toBe(0x3000n);
  });

  it('gives files to the user behind sudo only when root under sudo', () => {
    expect(invoker({ SUDO_UID: '1000', SUDO_GID: '1001' }, 0)).toEqual({ uid: 1000, gid: 1001 });
    expect(invoker({ SUDO_UID: '1000', SUDO_GID: '1001' }, 1000)).toBeUndefined();
    expect(invoker({}, 0)).toBeUndefined();
    expect(invoker({ SUDO_UID: '0', SUDO_GID: '0' }, 0)).toBeUndefined();
    expect(invoker({ SUDO_UID: 'x', SUDO_GID: '1' }, 0)).toBeUndefined();
  });
});

describe('ladder width (--width, the terminal, or 100)', () => {
  it('follows a terminal, uses 100 for files and pipes, and --width wins', () => {
    expect(ladderWidth(undefined, { isTTY: true, columns: 143 })).toBe(143);
    expect(ladderWidth(undefined, { isTTY: true, columns: 50 })).toBe(80); // narrower than a ladder can be
    expect(ladderWidth(undefined, { isTTY: false, columns: 143 })).toBe(100);
    expect(ladderWidth(undefined, {})).toBe(100);
    expect(ladderWidth('120', { isTTY: true, columns: 200 })).toBe(120);
  });

  it('refuses a width it cannot draw, naming --width', () => {
    for (const bad of ['79', '1001', '100.5', 'wide', '', '-90']) expect(() => ladderWidth(bad, {}), bad).toThrow(/^--width: an integer from 80 to 1000/);
  });
});
