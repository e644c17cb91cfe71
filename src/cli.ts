#!/usr/bin/env node
// tcplab list | run <lab|all> | clean
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { allLabs } from '../labs/index.js';
import { runLab } from './lab/runner.js';
import { renderText, toJson, type LabResult } from './lab/report.js';
import type { Lab } from './lab/types.js';
import type { Expectation } from './lab/expect.js';
import { STACK_OSES } from './lab/kernel.js';
import { cmdInspect, INSPECT_USAGE } from './inspect/cli.js';
import { renderHtml } from './report/html.js';
import { renderTap } from './report/tap.js';
import { cmdMatrix, MATRIX_USAGE, runOnTarget } from './matrix/command.js';
import { customKernelStack, findStack, linuxHost, STACKS, type StackFactory } from './targets/registry.js';
import { caseUnsupported, labUnsupported, subjectOf } from './lab/placement.js';

const USAGE = `usage:
  tcplab list                       the labs and their cases
  tcplab run <lab|all> [options]    run a lab (needs root: namespaces and raw sockets)
      --case ID        only this case (repeatable)
      --json           print the JSON report on stdout (progress goes to stderr)
      --json-file F    also write the JSON report to F
      --tap            print TAP 13 (one test point per check) on stdout instead of text
      --html F         write a self-contained HTML report (SVG ladders) to F
      --explain        narrate each TIME-WAIT event with the rule behind it (RFC section, kernel function)
      --pcap DIR       where pcaps go (default ./tcplab-out; --no-pcap for none)
      --keep           leave namespaces in place for inspection (remove with tcplab clean)
      --jobs N         run up to N cases at once (each has its own namespaces); output stays in order
      --target STACK   the subject's kernel (or stack) runs there, its partner in namespaces of this
                       machine: ${STACKS.filter((s) => !s.local).map((s) => s.id).join(', ')}, or
                       ssh:NAME (a VM over ssh: a Host alias of $TCPLAB_SSH_CONFIG, ./.vagrant/ssh-NAME
                       or ~/.ssh/config, or user@host); tcplab list says where each lab runs
      --subject ROLE   which host is on trial (labs with more than one, e.g. lastack: client|server)
      --kernel FILE    boot a kernel you built (bzImage, or vmlinux with a PVH note) in QEMU as the target
      --modules DIR    with --kernel: its modules (lib/modules/RELEASE) when virtio-net is not built in
      --slow           with 'all': include slow labs
      --absolute       absolute sequence numbers in ladders
      --tolerance-scale N   widen timing tolerances (slow VMs), same as TCPLAB_TOLERANCE_SCALE
      --expectations F      JSON file {"case/check": {"linux": [{"versions": ">=6.1", "expect": ...}]}}
                            replacing the built-in expectations of those checks
  tcplab report <report.json> --html F   turn a saved --json report into HTML
  tcplab clean                      remove what a killed run left behind (tcplab-* only)
${MATRIX_USAGE}
${INSPECT_USAGE}`;

function fail(msg: string): never {
  process.stderr.write(`tcplab: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function readOverrides(path: string): Record<string, Expectation> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`--expectations: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    fail(`--expectations: ${path} must hold a JSON object of check id -> expectation`);
  }
  for (const [k, v] of Object.entries(data)) {
    if (v === null || typeof v !== 'object' || ![...STACK_OSES, 'other'].some((s) => s in v)) {
      fail(`--expectations: '${k}' must be an object with ${[...STACK_OSES, 'other'].join(', ')} rules`);
    }
  }
  return data as Record<string, Expectation>;
}

function findLab(id: string): Lab {
  const lab = allLabs.find((l) => l.id === id || `lab:${l.id}` === id);
  if (!lab) fail(`unknown lab '${id}' (labs: ${allLabs.map((l) => l.id).join(', ')})`);
  return lab;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      case: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      'json-file': { type: 'string' },
      pcap: { type: 'string' },
      'no-pcap': { type: 'boolean' },
      keep: { type: 'boolean' },
      slow: { type: 'boolean' },
      absolute: { type: 'boolean' },
      'tolerance-scale': { type: 'string' },
      expectations: { type: 'string' },
      tap: { type: 'boolean' },
      html: { type: 'string' },
      explain: { type: 'boolean' },
      jobs: { type: 'string' },
      target: { type: 'string' },
      subject: { type: 'string' },
      kernel: { type: 'string' },
      modules: { type: 'string' },
    },
  });
  if (positionals.length !== 1) fail('run: name one lab, or all');
  if (values.kernel !== undefined && values.target !== undefined) fail('--kernel and --target: choose one (--kernel boots your kernel in QEMU as the target)');
  if (values.modules !== undefined && values.kernel === undefined) fail('--modules: goes with --kernel FILE (the modules directory of that kernel)');
  if (process.getuid?.() !== 0) {
    process.stderr.write('tcplab: labs need root (network namespaces, raw sockets, nftables): run with sudo\n');
    return 2;
  }
  const which = positionals[0]!;
  // 'all' on a target: the labs that can run there (the others build two hosts on this machine's kernel).
  // Another stack than this machine's kernel (linux-host is this machine, like no --target at all).
  let factory: StackFactory | undefined;
  try {
    factory = values.kernel !== undefined ? customKernelStack(values.kernel, values.modules) : values.target === undefined ? undefined : findStack(values.target, STACKS, '--target');
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
  const traits = factory ?? linuxHost;
  const labs = which === 'all' ? allLabs.filter((l) => (values.slow || !l.slow) && !labUnsupported(l, traits)) : [findLab(which)];
  if (values.case?.length && labs.length !== 1) fail('--case: needs a single lab');
  if (values.subject !== undefined) {
    if (labs.length !== 1) fail('--subject: needs a single lab');
    try {
      subjectOf(labs[0]!, values.subject);
    } catch (e) {
      fail(e instanceof Error ? e.message : String(e));
    }
  }
  let scale: number | undefined;
  if (values['tolerance-scale'] !== undefined) {
    scale = Number(values['tolerance-scale']);
    if (!Number.isFinite(scale) || scale <= 0) fail(`--tolerance-scale: must be a positive number, got '${values['tolerance-scale']}'`);
  }
  let jobs = 1;
  if (values.jobs !== undefined) {
    jobs = Number(values.jobs);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) fail(`--jobs: an integer from 1 to 16, got '${values.jobs}'`);
  }
  let overrides: Record<string, Expectation> | undefined;
  if (values.expectations !== undefined) overrides = readOverrides(values.expectations);
  const pcapDir = values['no-pcap'] ? undefined : (values.pcap ?? 'tcplab-out');
  if (values.json && values.tap) fail('--json and --tap: choose one for stdout (use --json-file for the other)');
  const json = values.json ?? false;
  const machine = json || (values.tap ?? false);
  const tty = !machine && process.stdout.isTTY === true;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const results: LabResult[] = [];
  // Refuse before a target boots (QEMU takes seconds) rather than after.
  const refused = labs.flatMap((l) => {
    const w = labUnsupported(l, traits);
    return w ? [`${l.id}: ${w}`] : [];
  });
  if (refused.length) fail(`--target ${traits.id}: ${refused.join('; ')}; labs that can run there: ${allLabs.filter((l) => !labUnsupported(l, traits)).map((l) => l.id).join(', ')}`);
  if (values.case?.length && labs.length === 1) {
    const lab = labs[0]!;
    const subject = subjectOf(lab, values.subject);
    const no = lab.cases.filter((c) => values.case!.includes(c.id)).flatMap((c) => {
      const w = caseUnsupported(c, traits, subject);
      return w ? [`${c.id}: ${w}`] : [];
    });
    if (no.length && no.length === values.case.length) fail(`--target ${traits.id}: ${no.join('; ')}`);
  }
  try {
    // One target (one boot) for all the labs of this run.
    await runOnTarget(factory, async ({ stack, target, linkUnsupported }) => {
      for (const lab of labs) {
        process.stderr.write(`tcplab ${lab.id}: ${lab.title}\n`);
        const r = await runLab(lab, {
          stack,
          ...(target ? { target } : {}),
          ...(linkUnsupported ? { linkUnsupported } : {}),
          ...(values.subject ? { subject: values.subject } : {}),
          cases: values.case,
          pcapDir,
          keep: values.keep,
          toleranceScale: scale,
          overrides,
          jobs,
          signal: ac.signal,
          onProgress: (l) => process.stderr.write(l + '\n'),
        });
        results.push(r);
        if (!machine) process.stdout.write('\n' + renderText(r, { color: tty, absolute: values.absolute, explain: values.explain }) + '\n');
        if (ac.signal.aborted) break;
      }
    });
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  const report = toJson(results);
  const text = JSON.stringify(report, null, 2);
  if (json) process.stdout.write(text + '\n');
  if (values.tap) process.stdout.write(renderTap(report));
  if (values['json-file']) writeFileSync(values['json-file'], text + '\n');
  if (values.html) {
    writeFileSync(values.html, renderHtml(report));
    process.stderr.write(`tcplab: HTML report written to ${values.html}\n`);
  }
  if (ac.signal.aborted) return 130;
  return report.verdict === 'PASS' ? 0 : 1;
}

function cmdList(): number {
  for (const l of allLabs) {
    const where = l.localOnly ? `this machine only: ${l.localOnly}` : l.remote === 'probe' ? 'any stack: --target, matrix' : `--target: Linux kernels (the ${l.roles.subject} on trial${(l.roles.choices?.length ?? 0) > 1 ? `; --subject ${l.roles.choices!.join('|')}` : ''})`;
    process.stdout.write(`${l.id}${l.slow ? ' (slow)' : ''} (${where}): ${l.title}\n`);
    for (const c of l.cases) process.stdout.write(`    --case ${c.id}: ${c.title}\n`);
  }
  return 0;
}

function cmdReport(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { html: { type: 'string' } } });
  if (positionals.length !== 1 || !values.html) fail('report: give a saved report and --html FILE, e.g. tcplab report run.json --html run.html');
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(positionals[0]!, 'utf8'));
  } catch (e) {
    fail(`report: cannot read ${positionals[0]}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const schema = (data as { schema?: unknown } | null)?.schema;
  if (schema !== 'tcplab.report/1' && schema !== 'tcplab.inspect/1') {
    fail(`report: ${positionals[0]} is not a tcplab report (schema ${JSON.stringify(schema)}; expected tcplab.report/1 or tcplab.inspect/1)`);
  }
  writeFileSync(values.html, renderHtml(data as Parameters<typeof renderHtml>[0]));
  process.stdout.write(`HTML report written to ${values.html}\n`);
  return 0;
}

async function cmdClean(): Promise<number> {
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
  return r.errors.length ? 1 : 0;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'list': return cmdList();
    case 'run': return cmdRun(rest);
    case 'clean': return cmdClean();
    case 'inspect': return cmdInspect(rest);
    case 'report': return cmdReport(rest);
    case 'matrix': return cmdMatrix(rest);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? 2 : 0;
    default:
      fail(`unknown command '${cmd}'`);
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    process.stderr.write(`tcplab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = e instanceof TypeError || e instanceof RangeError ? 2 : 1;
  },
);
