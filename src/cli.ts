#!/usr/bin/env node
// tcplab list | run <lab|all> | report | clean | matrix | inspect | export | help | --version
// Exit codes: src/cli/exit.ts (README "Exit codes"). Data goes to stdout, progress and messages to stderr.
import { existsSync, mkdirSync, readFileSync, writeFileSync as writeFile } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { allLabs } from '../labs/index.js';
import { runLab } from './lab/runner.js';
import type { LabResult } from './lab/result.js';
import { toJson } from './report/json.js';
import { renderText } from './report/text.js';
import type { Lab } from './lab/types.js';
import { PCAP_FORMATS, type PcapFormat } from './lab/capture-file.js';
import { pcapngReading } from './inspect/annotate.js';
import type { Expectation } from './lab/expect.js';
import { cmdInspect, INSPECT_USAGE } from './cli/inspect.js';
import { renderHtml } from './report/html.js';
import { fileFormats, REPORT_FORMATS, stdoutFormats } from './report/formats.js';
import { cmdMatrix, runOnTarget } from './cli/matrix.js';
import { customKernelStack, findStack, linuxHost, STACKS, type StackFactory } from './targets/registry.js';
import { caseUnsupported, labUnsupported, subjectOf } from './lab/placement.js';
import { packageRoot } from './wire/native.js';
import { EXIT, SkipError, UsageError, verdictExit } from './cli/exit.js';
import { HelpRequested, nearest, optionsFromUsage, parseCommand, unknownChoice, type OptionSpec } from './cli/args.js';
import { COMMANDS, usage } from './cli/usage.js';
import { colorEnabled, ladderWidth, quietOnEpipe } from './cli/output.js';
import { schemaProblem } from './cli/validate.js';
import { giveToInvoker } from './cli/owner.js';
import { labPrivilegeProblem } from './cli/privileges.js';
import { terminalClassroom } from './serve/terminal.js';
import { cmdServe } from './cli/serve.js';
import { cmdExport } from './cli/export.js';

/** Writes a report file, making its folder first (firstMissing() saw what that creates). */
function writeFileSync(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFile(path, data);
}

const RUN_OPTIONS: OptionSpec = {
  case: { type: 'string', multiple: true },
  // --json, --tap, --ktap (stdout), --json-file F, --html F: one per report format.
  ...Object.fromEntries(REPORT_FORMATS.map((f) => [f.flag, { type: f.to === 'stdout' ? 'boolean' : 'string' } as const])),
  pcap: { type: 'string' },
  'no-pcap': { type: 'boolean' },
  'pcap-format': { type: 'string' },
  width: { type: 'string' },
  keep: { type: 'boolean' },
  slow: { type: 'boolean' },
  absolute: { type: 'boolean' },
  'tolerance-scale': { type: 'string' },
  expectations: { type: 'string' },
  explain: { type: 'boolean' },
  jobs: { type: 'string' },
  target: { type: 'string' },
  subject: { type: 'string' },
  kernel: { type: 'string' },
  modules: { type: 'string' },
  step: { type: 'boolean' },
  'step-delay': { type: 'string' },
};

/** The top-most folder of `path` that does not exist yet: what a recursive mkdir will create (and so own). */
function firstMissing(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let p = resolve(path);
  while (!existsSync(dirname(p)) && dirname(p) !== p) p = dirname(p);
  return p;
}

function readJson(what: string, path: string, command?: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, command);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what}: ${path} is not JSON: ${(e as Error).message}`, command);
  }
}

/** --expectations FILE: schema-checked, and every 'case/check' key must name a case of the chosen labs. */
function readOverrides(path: string, labs: readonly Lab[]): Record<string, Expectation> {
  const data = readJson('--expectations', path, 'run');
  const bad = schemaProblem('expectations', data);
  if (bad) throw new UsageError(`--expectations: ${path}: ${bad} (schema/expectations.schema.json)`);
  const cases = labs.flatMap((l) => l.cases.map((c) => c.id));
  for (const key of Object.keys(data as object)) {
    const slash = key.indexOf('/');
    if (slash < 0) continue;
    const c = key.slice(0, slash);
    if (!cases.includes(c)) throw new UsageError(`--expectations: ${path}: key '${key}': ${unknownChoice('case', c, cases).message}`);
  }
  return data as Record<string, Expectation>;
}

/** Override keys that matched no check of the cases that ran (a typo would otherwise keep the built-in rule). */
function unmatchedOverrides(overrides: Record<string, Expectation>, results: readonly LabResult[]): string[] {
  const ran = results.flatMap((r) => r.cases);
  const seen = new Set(ran.flatMap((c) => c.checks.flatMap((k) => [k.id, `${c.id}/${k.id}`])));
  return Object.keys(overrides).filter((k) => !seen.has(k) && (!k.includes('/') || ran.some((c) => k.startsWith(`${c.id}/`))));
}

function findLab(id: string): Lab {
  const lab = allLabs.find((l) => l.id === id || `lab:${l.id}` === id);
  if (!lab) throw unknownChoice('lab', id, allLabs.map((l) => l.id), 'labs');
  return lab;
}

function positiveNumber(flag: string, v: string | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!check(n)) throw new UsageError(`${flag}: ${what}, got '${v}'`, 'run');
  return n;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('run', argv, RUN_OPTIONS);
  const v = values as {
    case?: string[]; json?: boolean; 'json-file'?: string; pcap?: string; 'no-pcap'?: boolean; 'pcap-format'?: string; width?: string; keep?: boolean; slow?: boolean;
    absolute?: boolean; 'tolerance-scale'?: string; expectations?: string; tap?: boolean; ktap?: boolean; html?: string; explain?: boolean;
    jobs?: string; target?: string; subject?: string; kernel?: string; modules?: string; step?: boolean; 'step-delay'?: string;
  };
  if (positionals.length !== 1) throw new UsageError('run: name one lab, or all (tcplab list shows them)', 'run');
  if (v.kernel !== undefined && v.target !== undefined) throw new UsageError('run: --kernel and --target: choose one (--kernel boots your kernel in QEMU as the target)', 'run');
  if (v.modules !== undefined && v.kernel === undefined) throw new UsageError('run: --modules goes with --kernel FILE (the modules directory of that kernel)', 'run');
  const toStdout = stdoutFormats(v);
  if (toStdout.length > 1) {
    const [a, b] = toStdout.map((f) => `--${f.flag}`);
    throw new UsageError(`run: ${a} and ${b}: choose one for stdout (use --json-file for the JSON)`, 'run');
  }
  const toFiles = fileFormats(v);
  const which = positionals[0]!;
  let factory: StackFactory | undefined;
  try {
    factory = v.kernel !== undefined ? customKernelStack(v.kernel, v.modules) : v.target === undefined ? undefined : findStack(v.target, STACKS, '--target');
  } catch (e) {
    throw new UsageError(`run: ${e instanceof Error ? e.message : String(e)}`, 'run');
  }
  const traits = factory ?? linuxHost;
  // 'all' on a target: the labs that can run there (the others build two hosts on this machine's kernel).
  const labs = which === 'all' ? allLabs.filter((l) => (v.slow || !l.slow) && !labUnsupported(l, traits)) : [findLab(which)];
  if (v.case?.length && labs.length !== 1) throw new UsageError('run: --case needs a single lab', 'run');
  if (v.case?.length) {
    const ids = labs[0]!.cases.map((c) => c.id);
    for (const c of v.case) if (!ids.includes(c)) throw new UsageError(`run: --case: ${unknownChoice(`case of ${labs[0]!.id}`, c, ids).message} (cases: ${ids.join(', ')})`, 'run');
  }
  if (v.subject !== undefined) {
    if (labs.length !== 1) throw new UsageError('run: --subject needs a single lab', 'run');
    try {
      subjectOf(labs[0]!, v.subject);
    } catch (e) {
      throw new UsageError(`run: ${e instanceof Error ? e.message : String(e)}`, 'run');
    }
  }
  const scale = positiveNumber('--tolerance-scale', v['tolerance-scale'], (n) => Number.isFinite(n) && n > 0, 'must be a positive number');
  const jobs = positiveNumber('--jobs', v.jobs, (n) => Number.isInteger(n) && n >= 1 && n <= 16, 'an integer from 1 to 16') ?? 1;
  const stepDelay = positiveNumber('--step-delay', v['step-delay'], (n) => Number.isFinite(n) && n >= 0 && n <= 3600, 'seconds from 0 to 3600 before each step runs by itself');
  const stepping = (v.step ?? false) || stepDelay !== undefined;
  if (stepping && jobs > 1) throw new UsageError('run: --step and --jobs: a class watches one case at a time (drop --jobs)', 'run');
  const overrides = v.expectations === undefined ? undefined : readOverrides(v.expectations, labs);
  const pcapFormat = v['pcap-format'];
  if (pcapFormat !== undefined && !PCAP_FORMATS.includes(pcapFormat as PcapFormat)) {
    throw new UsageError(`--pcap-format: ${unknownChoice('capture format', pcapFormat, PCAP_FORMATS, 'formats').message} (pcapng: annotated, one interface per capture point; pcap: classic, for old tools)`, 'run');
  }
  if (pcapFormat !== undefined && v['no-pcap']) throw new UsageError('run: --pcap-format and --no-pcap: choose one', 'run');
  let width: number;
  try {
    width = ladderWidth(v.width, process.stdout);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), 'run');
  }
  // Not applicable on this target (kselftest's skip), found before a target boots (QEMU takes seconds).
  const refused = labs.flatMap((l) => {
    const w = labUnsupported(l, traits);
    return w ? [`${l.id}: ${w}`] : [];
  });
  if (refused.length) throw new SkipError(`--target ${traits.id}: ${refused.join('; ')}; labs that can run there: ${allLabs.filter((l) => !labUnsupported(l, traits)).map((l) => l.id).join(', ')}`);
  if (!labs.length) throw new SkipError(`--target ${traits.id}: no lab can run there`);
  if (v.case?.length) {
    const lab = labs[0]!;
    const subject = subjectOf(lab, v.subject);
    const no = lab.cases.filter((c) => v.case!.includes(c.id)).flatMap((c) => {
      const w = caseUnsupported(c, traits, subject);
      return w ? [`${c.id}: ${w}`] : [];
    });
    if (no.length && no.length === v.case.length) throw new SkipError(`--target ${traits.id}: ${no.join('; ')}`);
  }
  const denied = labPrivilegeProblem('labs');
  if (denied) {
    process.stderr.write(`tcplab: ${denied}\n`);
    return EXIT.ERROR;
  }
  const pcapDir = v['no-pcap'] ? undefined : (v.pcap ?? 'tcplab-out');
  const machine = toStdout.length > 0;
  const color = !machine && colorEnabled(process.stdout);
  // What this run may create, to hand to the user behind sudo afterwards.
  const written = [firstMissing(pcapDir), ...toFiles.map((f) => firstMissing(f.file))];
  const startedMs = Date.now();
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  // Classroom mode: the terminal going away (SIGHUP, stdin closed) stops the lab too, clean-up included.
  const classroom = stepping ? terminalClassroom({
    write: (s) => process.stderr.write(s),
    input: process.stdin,
    ...(stepDelay !== undefined ? { delayS: stepDelay } : {}),
    color: colorEnabled(process.stderr),
    width: process.stderr.columns,
    onInputGone: () => ac.abort(),
  }) : undefined;
  if (classroom) process.once('SIGHUP', onSig);
  const results: LabResult[] = [];
  try {
    // One target (one boot) for all the labs of this run.
    await runOnTarget(factory, async ({ stack, target, linkUnsupported }) => {
      for (const lab of labs) {
        process.stderr.write(`tcplab ${lab.id}: ${lab.title}\n`);
        const r = await runLab(lab, {
          stack,
          ...(target ? { target } : {}),
          ...(linkUnsupported ? { linkUnsupported } : {}),
          ...(v.subject ? { subject: v.subject } : {}),
          cases: v.case,
          pcapDir,
          ...(pcapFormat ? { pcapFormat: pcapFormat as PcapFormat } : {}),
          readPackets: pcapngReading,
          keep: v.keep,
          toleranceScale: scale,
          overrides,
          jobs,
          signal: ac.signal,
          onProgress: (l) => process.stderr.write(l + '\n'),
          ...(classroom ? { live: classroom } : {}),
        });
        results.push(r);
        if (!machine) process.stdout.write('\n' + renderText(r, { color, absolute: v.absolute, explain: v.explain, width }) + '\n');
        if (ac.signal.aborted) break;
      }
    });
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    process.off('SIGHUP', onSig);
    classroom?.close();
  }
  const report = toJson(results);
  for (const f of toStdout) process.stdout.write(f.render(report));
  for (const { format, file } of toFiles) {
    writeFileSync(file, format.render(report));
    if (format.flag === 'html') process.stderr.write(`tcplab: HTML report written to ${file}\n`);
  }
  giveToInvoker(written, startedMs);
  if (ac.signal.aborted) return EXIT.INTERRUPTED;
  const unmatched = overrides ? unmatchedOverrides(overrides, results) : [];
  if (unmatched.length) {
    const ids = [...new Set(results.flatMap((r) => r.cases.flatMap((c) => c.checks.map((k) => `${c.id}/${k.id}`))))];
    for (const k of unmatched) {
      const near = nearest(k.includes('/') ? k : `${results[0]?.cases[0]?.id ?? ''}/${k}`, ids);
      process.stderr.write(`tcplab: --expectations: '${k}' matched no check of this run${near ? ` (did you mean '${near}'?)` : ''}\n`);
    }
    return EXIT.USAGE;
  }
  if (results.every((r) => r.cases.length === 0)) {
    process.stderr.write('tcplab: no case could run here (see "not run" above)\n');
    return EXIT.SKIP;
  }
  return verdictExit(report.verdict);
}

function cmdList(argv: string[]): number {
  parseCommand('list', argv, {}, false);
  for (const l of allLabs) {
    const where = l.localOnly ? `this machine only: ${l.localOnly}` : l.remote === 'probe' ? 'any stack: --target, matrix' : `--target: Linux kernels (the ${l.roles.subject} on trial${(l.roles.choices?.length ?? 0) > 1 ? `; --subject ${l.roles.choices!.join('|')}` : ''})`;
    process.stdout.write(`${l.id}${l.slow ? ' (slow)' : ''} (${where}): ${l.title}\n`);
    for (const c of l.cases) process.stdout.write(`    --case ${c.id}: ${c.title}\n`);
  }
  return EXIT.OK;
}

function cmdReport(argv: string[]): number {
  const { values, positionals } = parseCommand('report', argv, { html: { type: 'string' } });
  const html = values.html as string | undefined;
  if (positionals.length !== 1 || !html) throw new UsageError('report: give a saved report and --html FILE, e.g. tcplab report run.json --html run.html', 'report');
  const file = positionals[0]!;
  const data = readJson('report', file, 'report');
  const schema = (data !== null && typeof data === 'object' ? (data as { schema?: unknown }).schema : undefined);
  if (schema !== 'tcplab.report/1' && schema !== 'tcplab.inspect/1') {
    throw new UsageError(`report: ${file} is not a tcplab report (schema ${JSON.stringify(schema)}; expected "tcplab.report/1" or "tcplab.inspect/1")`, 'report');
  }
  const name = schema === 'tcplab.report/1' ? 'report' : 'inspect';
  const bad = schemaProblem(name, data);
  if (bad) throw new UsageError(`report: ${file}: ${bad} (schema/${name}.schema.json)`, 'report');
  const top = firstMissing(html);
  const started = Date.now();
  writeFileSync(html, renderHtml(data as Parameters<typeof renderHtml>[0]));
  giveToInvoker([top], started);
  process.stderr.write(`tcplab: HTML report written to ${html}\n`);
  return EXIT.OK;
}

async function cmdClean(argv: string[]): Promise<number> {
  parseCommand('clean', argv, {}, false);
  const denied = labPrivilegeProblem('clean and labs');
  if (denied) {
    process.stderr.write(`tcplab: ${denied}\n`);
    return EXIT.ERROR;
  }
  const { cleanLeftovers } = await import('./testbed/clean.js');
  const r = await cleanLeftovers();
  const { cleanStacks } = await import('./targets/registry.js');
  const targetDirs = cleanStacks();
  for (const lab of allLabs) if (lab.clean) targetDirs.push(...(await lab.clean()));
  const lines = [
    ...r.killedPids.map((p) => `killed process ${p}`),
    ...r.namespaces.map((n) => `removed namespace ${n}`),
    ...r.links.map((l) => `removed link ${l}`),
    ...r.nftTables.map((t) => `removed nft table ${t}`),
    ...r.sysctlsRestored.map((s) => `restored ${s.key} = ${s.value}`),
    ...r.journals.map((j) => `removed journal ${j}`),
    ...targetDirs.map((d) => `removed ${d}`),
    ...r.skippedLive.map((n) => `left ${n}: its run is still alive`),
  ];
  process.stdout.write(lines.length ? lines.join('\n') + '\n' : 'nothing of tcplab was left\n');
  for (const e of r.errors) process.stderr.write(`tcplab clean: ${e}\n`);
  return r.errors.length ? EXIT.ERROR : EXIT.OK;
}

async function runInspect(argv: string[]): Promise<number> {
  // inspect parses its own flags (src/cli/inspect.ts); checked here first so that help and bad flags
  // behave as for every other command.
  parseCommand('inspect', argv, optionsFromUsage(INSPECT_USAGE, { color: { type: 'boolean' }, 'no-color': { type: 'boolean' } }));
  const code = await cmdInspect(argv, {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: colorEnabled(process.stdout),
  });
  // inspect's 1 is an unreadable capture: "could not run" here.
  return code === 1 ? EXIT.ERROR : code;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function help(argv: string[]): number {
  const [cmd, ...extra] = argv;
  if (extra.length) throw new UsageError('help: name at most one command', 'help');
  if (cmd !== undefined && !COMMANDS.includes(cmd)) throw unknownChoice('command', cmd, COMMANDS, 'commands');
  process.stdout.write(usage(cmd) + '\n');
  return EXIT.OK;
}

async function dispatch(cmd: string | undefined, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'list': return cmdList(rest);
    case 'run': return cmdRun(rest);
    case 'clean': return cmdClean(rest);
    case 'inspect': return runInspect(rest);
    case 'report': return cmdReport(rest);
    case 'matrix': return cmdMatrix(rest);
    case 'serve': return cmdServe(rest);
    case 'export': return cmdExport(rest, findLab);
    case 'help': return help(rest);
    case '--help': case '-h': return help([]);
    case '--version': case '-V': case 'version':
      process.stdout.write(`tcplab ${version()}\n`);
      return EXIT.OK;
    case undefined:
      process.stderr.write(usage() + '\n');
      return EXIT.USAGE;
    default:
      throw cmd.startsWith('-') ? new UsageError(`unknown option '${cmd}' (options come after a command; try 'tcplab help')`) : unknownChoice('command', cmd, COMMANDS, 'commands');
  }
}

/** Runs the command line; returns the exit code. */
async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    return await dispatch(cmd, rest);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(usage(e.command) + '\n');
      return EXIT.OK;
    }
    if (e instanceof UsageError || e instanceof RangeError) {
      const where = e instanceof UsageError && e.command ? ` ${e.command}` : '';
      process.stderr.write(`tcplab: ${e.message}\nsee 'tcplab help${where}'\n`);
      return EXIT.USAGE;
    }
    if (e instanceof SkipError) {
      process.stderr.write(`tcplab: not applicable: ${e.message}\n`);
      return EXIT.SKIP;
    }
    process.stderr.write(`tcplab: could not run: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.TCPLAB_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return EXIT.ERROR;
  }
}

quietOnEpipe(process.stdout);
quietOnEpipe(process.stderr);
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
