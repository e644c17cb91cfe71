// The CLI as a person meets it (child processes, no root): version, help per command, bad flags, exit
// codes, closed pipes, colour under a pseudo-terminal (script(1)), malformed report files.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/usage.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const FIXTURES = join(ROOT, 'test', 'fixtures');
const CAPTURE = join(FIXTURES, 'inspect-twreuse.cap');

function tcplab(args: readonly string[], env: Record<string, string | undefined> = {}) {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  const clean = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: clean as NodeJS.ProcessEnv });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Runs `cmd` under script(1): stdout (and stderr) are a pseudo-terminal. */
function underPty(cmd: string, env: Record<string, string | undefined> = {}): string {
  const clean = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm', ...env };
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 30_000, env: clean as NodeJS.ProcessEnv });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const ESC = '\x1b[';

describe('tcplab --version and help', () => {
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = tcplab([flag]);
      expect(r).toMatchObject({ code: 0, err: '' });
      expect(r.out).toBe(`tcplab ${pkg.version}\n`);
    }
  });

  it.each(COMMANDS)('help %s and %s --help print that command on stdout, exit 0', (cmd) => {
    const a = tcplab(['help', cmd]);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(new RegExp(`^usage:\\n  tcplab ${cmd}\\b`));
    expect(a.out).toContain('exit codes:');
    for (const other of COMMANDS.filter((c) => c !== cmd)) expect(a.out).not.toContain(`\n  tcplab ${other} `);
    const b = tcplab(cmd === 'help' ? ['--help'] : [cmd, '--help']);
    expect(b.code).toBe(0);
    if (cmd !== 'help') expect(b.out).toBe(a.out);
  });

  it('no command: usage on stderr, exit 2; help lists every command', () => {
    const r = tcplab([]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    for (const c of COMMANDS) expect(r.err).toContain(`tcplab ${c}`);
  });
});

describe('bad command lines: a short message naming what was wrong, exit 2', () => {
  it.each([
    [['run', 'reuse', '--jsno'], "tcplab: run: unknown option '--jsno' (did you mean --json?)"],
    [['run', 'reuse', '--json-fil', 'x'], "unknown option '--json-fil' (did you mean --json-file?)"],
    [['run', '--help-me'], "unknown option '--help-me'"],
    [['run', 'reuse', '--json=1'], '--json takes no value'],
    [['run', 'reuse', '--pcap'], '--pcap needs a value'],
    [['run', 'reus'], "unknown lab 'reus' (did you mean reuse?)"],
    [['run', 'reuse', '--case', 'reuse9'], "unknown case of reuse 'reuse9' (did you mean reuse0?)"],
    [['run', 'reuse', '--jobs', '0'], "--jobs: an integer from 1 to 16, got '0'"],
    [['run', 'reuse', '--pcap-format', 'pcapnng'], "--pcap-format: unknown capture format 'pcapnng' (did you mean pcapng?)"],
    [['run', 'reuse', '--pcap-format', 'erf'], "--pcap-format: unknown capture format 'erf' (formats: pcapng, pcap)"],
    [['run', 'reuse', '--no-pcap', '--pcap-format', 'pcap'], '--pcap-format and --no-pcap: choose one'],
    [['run', 'reuse', '--width', '40'], "--width: an integer from 80 to 1000 (columns of text), got '40'"],
    [['run', 'reuse', '--width', 'wide'], "--width: an integer from 80 to 1000 (columns of text), got 'wide'"],
    [['lst'], "unknown command 'lst' (did you mean list?)"],
    [['list', '--all'], "list: unknown option '--all'"],
    [['clean', 'now'], "clean: unexpected argument 'now'"],
    [['matrix', '--stack', 'x'], "matrix: unknown option '--stack' (did you mean --stacks?)"],
    [['matrix', '--stacks', 'nosuch'], "unknown stack 'nosuch'"],
    [['inspect', CAPTURE, '--jsno'], "inspect: unknown option '--jsno' (did you mean --json?)"],
    [['inspect', CAPTURE, '--max-ladder', '3'], 'did you mean --max-ladders?'],
    [['report', 'x.json'], 'report: give a saved report and --html FILE'],
    [['help', 'rn'], "unknown command 'rn' (did you mean run?)"],
    [['--verbose'], "unknown option '--verbose'"],
  ])('%j', (args, message) => {
    const r = tcplab(args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(message);
    expect(r.err).not.toMatch(/ERR_PARSE_ARGS|TypeError|at .*\.js:\d+/);
    expect(r.err.split('\n').length).toBeLessThanOrEqual(3);
  });
});

describe('exit codes', () => {
  it('4 (kselftest skip) when the lab cannot run on the target, before anything boots', () => {
    const r = tcplab(['run', 'proxy', '--target', 'linux-6.1-qemu']);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/^tcplab: not applicable: --target linux-6.1-qemu: proxy:/);
  });

  it('3 (could not run) for an unreadable capture; 0 for a readable one', () => {
    expect(tcplab(['inspect', '/nonexistent/x.pcap']).code).toBe(3);
    expect(tcplab(['inspect', CAPTURE]).code).toBe(0);
  });
});

describe('output streams', () => {
  it('is quiet when the reader closes the pipe (tcplab list | head -1)', () => {
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" list | head -c 20 >/dev/null; "${process.execPath}" "${CLI}" inspect "${CAPTURE}" | head -1 >/dev/null`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('colours only on a terminal, honouring NO_COLOR, TERM=dumb and FORCE_COLOR', () => {
    const cmd = `"${process.execPath}" "${CLI}" inspect "${CAPTURE}"`;
    expect(underPty(cmd)).toContain(ESC);
    expect(underPty(cmd, { NO_COLOR: '1' })).not.toContain(ESC);
    expect(underPty(cmd, { TERM: 'dumb' })).not.toContain(ESC);
    expect(underPty(cmd, { NO_COLOR: '1', FORCE_COLOR: '1' })).toContain(ESC);
    expect(tcplab(['inspect', CAPTURE]).out).not.toContain(ESC);
    expect(tcplab(['inspect', CAPTURE], { FORCE_COLOR: '1' }).out).toContain(ESC);
  });
});

describe('tcplab report on malformed files: exit 2 and the path of the bad field, never a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const saved = JSON.parse(readFileSync(join(FIXTURES, 'report-timewait-syn.json'), 'utf8')) as Record<string, unknown> & { labs: Record<string, unknown>[] };
  const mutate = (f: (r: typeof saved) => void) => {
    const r = structuredClone(saved);
    f(r);
    return JSON.stringify(r);
  };
  it.each([
    ['minimal', '{"schema":"tcplab.report/1"}', 'verdict: missing'],
    ['no labs', '{"schema":"tcplab.report/1","verdict":"PASS"}', 'labs: missing'],
    ['empty lab', '{"schema":"tcplab.report/1","verdict":"PASS","labs":[{}]}', 'labs[0].id: missing'],
    ['cases not an array', mutate((r) => { r.labs[0]!.cases = {}; }), 'labs[0].cases: must be array'],
    ['bad packet seq', mutate((r) => { ((r.labs[0]!.cases as { packets: { seq: unknown }[] }[])[0]!.packets[0]!).seq = 'x'; }), 'labs[0].cases[0].packets[0].seq: must be integer'],
    ['not a report', '{"schema":"other/1"}', 'is not a tcplab report'],
    ['an array', '[]', 'is not a tcplab report'],
    ['null', 'null', 'is not a tcplab report'],
    ['not JSON', '{nope', 'is not JSON'],
    ['bad inspect', '{"schema":"tcplab.inspect/1","file":"x"}', 'connections: missing'],
  ])('%s', (name, text, message) => {
    const f = join(dir, `${name.replace(/ /g, '-')}.json`);
    writeFileSync(f, text);
    const r = tcplab(['report', f, '--html', join(dir, 'out.html')]);
    expect(r.err).toContain(message);
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(/Cannot read properties|TypeError/);
  });

  it('a saved report and an inspect report make HTML (exit 0, message on stderr)', () => {
    const html = join(dir, 'ok.html');
    const r = tcplab(['report', join(FIXTURES, 'report-timewait-syn.json'), '--html', html]);
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(readFileSync(html, 'utf8')).toContain('<svg');
    const insp = join(dir, 'inspect.json');
    writeFileSync(insp, tcplab(['inspect', CAPTURE, '--json']).out);
    expect(tcplab(['report', insp, '--html', join(dir, 'i.html')]).code).toBe(0);
  });

  it('--expectations: schema and unknown case ids are refused before anything runs', () => {
    const f = join(dir, 'exp.json');
    writeFileSync(f, '{"isn-above/answer": {"linux": [{"versions": ">=6.1", "expect": {"between": [1]}}]}}');
    let r = tcplab(['run', 'timewait-syn', '--expectations', f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('["isn-above/answer"].linux[0].expect.between: must NOT have fewer than 2 items');
    writeFileSync(f, '{"isn-abve/answer": {"linux": [{"versions": "*", "expect": "ACK"}]}}');
    r = tcplab(['run', 'timewait-syn', '--expectations', f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("key 'isn-abve/answer': unknown case 'isn-abve' (did you mean isn-above?)");
  });
});
