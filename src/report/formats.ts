// Every report format the CLI offers, in one list: the flag that asks for it, where it goes (stdout, or a
// file named by the flag) and its renderer. `tcplab run` loops over this; a new format is one entry here.
import { renderHtml } from './html.js';
import { toJsonText, type ReportJson } from './json.js';
import { renderKtap } from './ktap.js';
import { renderTap } from './tap.js';

export interface ReportFormat {
  /** The CLI flag (without --). */
  readonly flag: string;
  /** 'stdout': a boolean flag, at most one such per run; 'file': the flag's value is the file. */
  readonly to: 'stdout' | 'file';
  readonly what: string;
  render(report: ReportJson): string;
}

export const REPORT_FORMATS: readonly ReportFormat[] = [
  { flag: 'json', to: 'stdout', what: 'the JSON report (schema/report.schema.json)', render: toJsonText },
  { flag: 'tap', to: 'stdout', what: 'TAP 13, one test point per check', render: renderTap },
  { flag: 'ktap', to: 'stdout', what: 'KTAP v1 as kselftest writes it (lab > cases > checks)', render: renderKtap },
  { flag: 'json-file', to: 'file', what: 'the JSON report', render: toJsonText },
  { flag: 'html', to: 'file', what: 'a self-contained HTML report with SVG ladders', render: (r) => renderHtml(r) },
];

/** The stdout formats a command line asks for; more than one is a usage error the caller reports. */
export function stdoutFormats(flags: Readonly<Record<string, unknown>>): ReportFormat[] {
  return REPORT_FORMATS.filter((f) => f.to === 'stdout' && flags[f.flag] === true);
}

/** The file formats asked for, with their files. */
export function fileFormats(flags: Readonly<Record<string, unknown>>): { format: ReportFormat; file: string }[] {
  return REPORT_FORMATS.flatMap((f) => (f.to === 'file' && typeof flags[f.flag] === 'string' ? [{ format: f, file: flags[f.flag] as string }] : []));
}
