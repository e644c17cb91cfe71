// One measured figure of the bench: the per-run values, and (for tcplab figures) the peer it is compared with.

export interface Row {
  section: 'send' | 'capture' | 'latency' | 'labs' | 'targets' | 'versions' | 'inspect';
  /** Unique within the section, e.g. 'tcplab PacketSender.sendBatch 40B'. */
  name: string;
  unit: 'pps' | 'us' | 's' | 'MB';
  runs: number[];
  /** Name of the row (same section) this one is divided by in the ratio column. */
  peer?: string;
  /** Pass/fail target on the ratio or the value, printed with the figure. */
  target?: { what: string; ok: boolean };
  /** Extra figures (kernel drops, p99, breakdowns). */
  extra?: Record<string, number | string>;
  note?: string;
}

export interface BenchOptions {
  runs: number;
  /** Seconds per throughput measurement. */
  secs: number;
  probes: number;
  labRuns: number;
  sections: ReadonlySet<Row['section']>;
}
