// The stable machine-readable report (`--json`, schema/report.schema.json): field names here are a public
// interface. Declared as types so reporters and users read one shape, not ReturnType<> of a function.
import { packetJson, type PacketJson } from '../lab/packets.js';
import { worst, type CaseResult, type CheckResult, type LabResult, type Verdict } from '../lab/result.js';

export type CheckJson = Omit<CheckResult, 'packetRecords'>;

export interface NoteJson {
  tNs: string;
  who?: string;
  text: string;
}

/** A case as the runner keeps it, with packets and notes in their JSON form and times relative to t0. */
export interface CaseJson extends Omit<CaseResult, 'checks' | 'packets' | 'notes' | 't0'> {
  checks: CheckJson[];
  packets: PacketJson[];
  notes: NoteJson[];
}

export interface LabJson {
  id: string;
  title: string;
  summary: string;
  rfcs: readonly string[];
  sources: readonly string[];
  stack: { os: string; release: string };
  target?: string;
  subject?: string;
  skipped?: NonNullable<LabResult['skipped']>;
  startedAt: string;
  durationMs: number;
  verdict: Verdict;
  cases: CaseJson[];
}

export interface ReportJson {
  schema: typeof REPORT_SCHEMA;
  verdict: Verdict;
  labs: LabJson[];
}

export const REPORT_SCHEMA = 'tcplab.report/1' as const;

/** Stable machine-readable form: field names here are a public interface. */
export function toJson(results: readonly LabResult[]): ReportJson {
  return {
    schema: REPORT_SCHEMA,
    verdict: worst(results.map((r) => r.verdict)),
    labs: results.map((r) => ({
      id: r.lab.id,
      title: r.lab.title,
      summary: r.lab.summary,
      rfcs: r.lab.rfcs,
      sources: r.lab.sources,
      stack: { os: r.stack.os, release: r.stack.release },
      ...(r.target ? { target: r.target } : {}),
      ...(r.subject ? { subject: r.subject } : {}),
      ...(r.skipped?.length ? { skipped: r.skipped } : {}),
      startedAt: r.startedAt,
      durationMs: Math.round(r.durationMs),
      verdict: r.verdict,
      cases: r.cases.map((c) => ({
        id: c.id,
        title: c.title,
        verdict: c.verdict,
        error: c.error,
        durationMs: Math.round(c.durationMs),
        steps: c.steps,
        sysctls: c.sysctls,
        pcap: c.pcap,
        columns: c.columns,
        checks: c.checks.map(({ packetRecords: _omit, ...rest }) => rest),
        packets: c.packets.map((p) => packetJson(p, c.t0)),
        notes: c.notes.map((n) => ({ tNs: (n.tsNs - c.t0).toString(), who: n.who, text: n.text })),
      })),
    })),
  };
}

/** The report as the text `--json` prints and `--json-file` writes. */
export function toJsonText(report: ReportJson): string {
  return JSON.stringify(report, null, 2) + '\n';
}
