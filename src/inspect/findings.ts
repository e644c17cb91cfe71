// Findings aggregated so a person can read them: one line per kind of finding per (client, server:port),
// with the count, the spread of its figure, the outcomes, and a few example frames. Every instance is
// kept only when asked (--all).
import type { FindingKind, RawFinding, Tracker } from './track.js';
import { epStr } from './track.js';

export interface FindingExample {
  conn: number;
  incarnation: number;
  t: number;
  who: string;
  text: string;
  frames: number[];
}

export interface FindingGroup {
  kind: FindingKind;
  client: string;
  server: string;
  count: number;
  first: number;
  last: number;
  /** Spread of the finding's figure (seconds into TIME-WAIT, TSval step, …); null when it has none. */
  min: number | null;
  max: number | null;
  outcomes: Record<string, number>;
  connections: number;
  examples: FindingExample[];
}

export const EXAMPLES = 3;

export class FindingAggregator {
  readonly groups = new Map<string, FindingGroup>();
  /** Every instance, with keepAll (--all). */
  readonly all: FindingExample[] = [];

  constructor(private readonly keepAll: boolean) {}

  add(tr: Tracker, f: RawFinding): void {
    const [cl, sv] = tr.ends;
    const server = epStr(sv);
    const key = `${f.kind}|${cl.addr}|${server}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { kind: f.kind, client: cl.addr, server, count: 0, first: f.t, last: f.t, min: null, max: null, outcomes: {}, connections: 0, examples: [] };
      this.groups.set(key, g);
    }
    g.count++;
    g.last = f.t;
    if (f.metric !== undefined) {
      g.min = g.min === null ? f.metric : Math.min(g.min, f.metric);
      g.max = g.max === null ? f.metric : Math.max(g.max, f.metric);
    }
    if (f.outcome) g.outcomes[f.outcome] = (g.outcomes[f.outcome] ?? 0) + 1;
    // Connections per group: each tracker remembers the groups it has counted in (a handful at most).
    const seen = (tr.findingGroups ??= new Set());
    if (!seen.has(g)) { seen.add(g); g.connections++; }
    const ex = (): FindingExample => ({ conn: tr.id, incarnation: f.inc, t: f.t, who: tr.names[f.who], text: f.text, frames: f.pkts.map((p) => p.frame) });
    if (g.examples.length < EXAMPLES) g.examples.push(ex());
    if (this.keepAll) this.all.push(ex());
  }

  list(): FindingGroup[] {
    return [...this.groups.values()].sort((a, b) => b.count - a.count || a.first - b.first);
  }
}

/** "0.50-0.50 s into TIME-WAIT": the spread of a group's figure, in the unit its kind uses. */
export function spreadText(g: FindingGroup): string {
  if (g.min === null || g.max === null) return '';
  const fmt = (x: number) => (g.kind === 'paws-reject' ? String(x) : x.toFixed(2));
  const range = fmt(g.min) === fmt(g.max) ? fmt(g.min) : `${fmt(g.min)}-${fmt(g.max)}`;
  switch (g.kind) {
    case 'tw-reuse': return `reopened ${range} s into TIME-WAIT`;
    case 'tw-syn-accepted': case 'tw-syn-rejected-ack': case 'tw-syn-rejected-rst': case 'tw-syn-unanswered': return `SYN ${range} s into the TIME-WAIT`;
    case 'rst-in-time-wait': return `RST ${range} s into TIME-WAIT`;
    case 'paws-reject': return `TSval ${range} behind`;
    default: return range;
  }
}
