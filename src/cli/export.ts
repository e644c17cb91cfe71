// tcplab export --packetdrill LAB[:CASE] --out DIR: runs the cases on this machine (root), writes one
// packetdrill script per exportable case, refuses the others with the reason, and with --verify runs
// each script with real packetdrill (TCPLAB_PACKETDRILL) in a namespace of its own.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Lab } from '../lab/types.js';
import { runLab } from '../lab/runner.js';
import { subjectOf } from '../lab/placement.js';
import { parseCommand } from './args.js';
import { EXIT, SkipError, UsageError } from './exit.js';
import { labPrivilegeProblem } from './privileges.js';
import { giveToInvoker } from './owner.js';
import { exportRefusal } from '../export/packetdrill/exportable.js';
import { DEFAULT_SCRIPT_OPTIONS, exportCase } from '../export/packetdrill/script.js';
import { packetdrillBinary, verifyScript } from '../export/packetdrill/verify.js';

export const EXPORT_USAGE = `  tcplab export --packetdrill <lab>[:CASE] --out DIR [options]
                                    run the case(s) here (root) and write each as a packetdrill script
                                    DIR/<lab>-<case>.pkt (kernel selftests' tools/testing/selftests/net/packetdrill;
                                    DIR/<lab>-<subject>-<case>.pkt with a --subject other than the lab's)
      --packetdrill    the format (the only one so far)
      --out DIR        where the scripts go
      --case ID        only this case (repeatable; same as <lab>:CASE)
      --subject ROLE   which host is on trial (reuse: client|server); must be a listening kernel socket
      --tolerance-usecs N   packetdrill's --tolerance_usecs written into each script (default ${DEFAULT_SCRIPT_OPTIONS.toleranceUsecs})
      --verify         run each script with packetdrill (binary in TCPLAB_PACKETDRILL) in a tcplab-pd-* namespace`;

const OPTIONS = {
  packetdrill: { type: 'boolean' },
  out: { type: 'string' },
  case: { type: 'string', multiple: true },
  subject: { type: 'string' },
  'tolerance-usecs': { type: 'string' },
  verify: { type: 'boolean' },
} as const;

export async function cmdExport(argv: string[], findLab: (id: string) => Lab): Promise<number> {
  const { values, positionals } = parseCommand('export', argv, OPTIONS);
  const v = values as { packetdrill?: boolean; out?: string; case?: string[]; subject?: string; 'tolerance-usecs'?: string; verify?: boolean };
  if (!v.packetdrill) throw new UsageError('export: name the format: --packetdrill (the only one so far)', 'export');
  if (positionals.length !== 1) throw new UsageError('export: name one lab, e.g. tcplab export --packetdrill timewait-syn:isn-above --out DIR', 'export');
  if (!v.out) throw new UsageError('export: --out DIR: where the .pkt scripts go', 'export');
  const [labId, fromColon] = positionals[0]!.split(':', 2) as [string, string | undefined];
  const lab = findLab(labId);
  const wanted = [...(fromColon ? [fromColon] : []), ...(v.case ?? [])];
  const ids = lab.cases.map((c) => c.id);
  for (const c of wanted) if (!ids.includes(c)) throw new UsageError(`export: lab ${lab.id} has no case '${c}' (cases: ${ids.join(', ')})`, 'export');
  let subject: string;
  try {
    subject = subjectOf(lab, v.subject);
  } catch (e) {
    throw new UsageError(`export: ${e instanceof Error ? e.message : String(e)}`, 'export');
  }
  const tol = v['tolerance-usecs'] === undefined ? DEFAULT_SCRIPT_OPTIONS.toleranceUsecs : Number(v['tolerance-usecs']);
  if (!Number.isInteger(tol) || tol < 0) throw new UsageError(`export: --tolerance-usecs: a whole number of microseconds, got '${v['tolerance-usecs']}'`, 'export');
  const bin = v.verify ? packetdrillBinary() : undefined;
  if (v.verify && !bin) throw new UsageError('export: --verify needs TCPLAB_PACKETDRILL=/path/to/packetdrill (docs/packetdrill.md builds it)', 'export');

  const asked = wanted.length ? lab.cases.filter((c) => wanted.includes(c.id)) : lab.cases;
  const refused = asked.flatMap((c) => {
    const why = exportRefusal(lab.id, c.id, subject, undefined);
    return why ? [{ id: c.id, why }] : [];
  });
  for (const r of refused) process.stderr.write(`tcplab export: ${lab.id}:${r.id}: not exportable: ${r.why}\n`);
  const runnable = asked.filter((c) => !refused.some((r) => r.id === c.id));
  if (!runnable.length) throw new SkipError(`no case of ${lab.id} asked for can be exported to packetdrill (reasons above)`);
  const denied = labPrivilegeProblem('export (it runs the lab)');
  if (denied) {
    process.stderr.write(`tcplab: ${denied}\n`);
    return EXIT.ERROR;
  }
  const startedMs = Date.now();
  const result = await runLab(lab, { cases: runnable.map((c) => c.id), subject, recordPeerCalls: true, onProgress: (l) => process.stderr.write(l + '\n') });
  // What mkdir creates (the top-most missing folder) goes to the user behind sudo, with the scripts;
  // an existing folder is not walked (--out /tmp must not hand over anything else).
  let top: string | undefined = resolve(v.out);
  while (!existsSync(dirname(top)) && dirname(top) !== top) top = dirname(top);
  if (existsSync(top)) top = undefined;
  mkdirSync(v.out, { recursive: true });
  const files: string[] = [];
  let written = 0;
  let failed = 0;
  for (const c of result.cases) {
    const name = `${lab.id}:${c.id}`;
    if (c.verdict === 'ERROR') {
      process.stderr.write(`tcplab export: ${name}: the run ended in ERROR (${c.error ?? 'see above'}); nothing exported\n`);
      failed++;
      continue;
    }
    const r = exportCase({ labId: lab.id, subject, kernel: `${result.stack.os} ${result.stack.release}`, case: c }, { ...DEFAULT_SCRIPT_OPTIONS, toleranceUsecs: tol });
    if (!r.ok) {
      process.stderr.write(`tcplab export: ${name}: not exportable: ${r.why}\n`);
      failed++;
      continue;
    }
    // A subject other than the lab's own is in the name: reuse's server-side scripts are not its story.
    const file = join(v.out, subject === lab.roles.subject ? `${lab.id}-${c.id}.pkt` : `${lab.id}-${subject}-${c.id}.pkt`);
    writeFileSync(file, r.script);
    files.push(file);
    written++;
    let line = `${file}: ${r.events} events (run verdict ${c.verdict})`;
    if (bin) {
      const vr = await verifyScript(bin, file);
      line += `; packetdrill ${vr.ok ? 'PASS' : 'FAIL'} (${(vr.ms / 1000).toFixed(2)} s)`;
      if (!vr.ok) {
        failed++;
        line += `\n${vr.output.split('\n').map((l) => `    ${l}`).join('\n')}`;
      }
    }
    process.stdout.write(line + '\n');
  }
  giveToInvoker(top ? [top] : files, startedMs);
  if (!written) return EXIT.ERROR;
  return failed ? EXIT.DIFFERS : EXIT.OK;
}
