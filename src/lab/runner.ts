// Runs a lab's cases, collects steps, checks and packets, and turns them into verdicts.
import { eventNs, monoMs } from './clock.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describeExpected, resolveExpectation, satisfies, type Expectation } from './expect.js';
import { localStack, type StackInfo } from './kernel.js';
import type { LadderColumn } from './ladder.js';
import { packetJson, type NoteRecord, type PacketRecord } from './packets.js';
import { worst, type CaseResult, type CheckResult, type LabResult } from './result.js';
import { checkGap, DEFAULT_TOLERANCE, toleranceScale } from './timing.js';
import { countdown } from './progress.js';
import type { CaptureSource, CaseContext, CheckSpec, Lab, LabCase, TimingCheckSpec } from './types.js';
import type { LabTarget } from './stack.js';
import type { LiveCase, LiveObserver } from './live.js';
import { caseUnsupported, labUnsupported, subjectOf } from './placement.js';
import { numberFrames, writeCaseCapture, type PacketReader, type PcapFormat } from './capture-file.js';
import { recordPeerCalls, type PeerCallRecord } from '../peer/record.js';

export interface RunOptions {
  /** Only these case ids. */
  cases?: readonly string[];
  /** Folder for pcap files; undefined writes none. */
  pcapDir?: string;
  /** 'pcapng' (default: annotated, one interface per capture point) or classic 'pcap'. */
  pcapFormat?: PcapFormat;
  /** Each side's TCP state and the findings for the pcapng comments: inspect's pcapngReading (a layer above). */
  readPackets?: PacketReader;
  /** Leave namespaces and peers in place after the run for inspection. */
  keep?: boolean;
  toleranceScale?: number;
  /** The subject's stack; default the target's, else this machine's kernel. */
  stack?: StackInfo;
  /** Run the subject on this target (started by the caller, shared by the cases); undefined: this machine. */
  target?: LabTarget;
  /** Why two-host labs cannot run on `target` (its factory's linkUnsupported), checked before any case. */
  linkUnsupported?: string;
  /** The role on trial (--subject); default the lab's. */
  subject?: string;
  signal?: AbortSignal;
  /**
   * Replace expectations by check id ('case/check' or 'check'): for kernel developers who expect
   * something else of their build, and for proving that a check can fail.
   */
  overrides?: Readonly<Record<string, Expectation>>;
  /** Run up to this many cases at once (default 1). */
  jobs?: number;
  /** Live progress: called for every step and note as it happens. */
  onProgress?: (line: string) => void;
  /**
   * Classroom mode: steps are held until it lets them run, packets streamed as they are captured, checks
   * and sysctls as they are made. Cases then run one at a time (--jobs is ignored).
   */
  live?: LiveObserver;
  /** Keep every peer call of each case in CaseResult.peerCalls (for exporters; off by default). */
  recordPeerCalls?: boolean;
}

const byTime = (a: { tsNs: bigint }, b: { tsNs: bigint }) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0);

class Context implements CaseContext {
  readonly steps: string[] = [];
  /** When each step was taken: the pcapng names the step behind each packet. */
  readonly stepsAt: bigint[] = [];
  readonly notes: NoteRecord[] = [];
  readonly checks: CheckResult[] = [];
  readonly sysctls: Record<string, string> = {};
  readonly captures: CaptureSource[] = [];
  readonly resources: AsyncDisposable[] = [];
  columns?: readonly [LadderColumn, LadderColumn];
  /** Classroom mode: the observer, this case as it sees it, and a flush of new packets to it. */
  classroom?: { obs: LiveObserver; c: LiveCase; flush: () => void };

  constructor(
    readonly stack: StackInfo,
    readonly target: LabTarget | undefined,
    readonly subject: string,
    readonly labId: string,
    readonly caseId: string,
    readonly signal: AbortSignal,
    private readonly scale: number,
    private readonly progress: (line: string) => void,
    readonly t0: bigint,
    private readonly overrides: Readonly<Record<string, Expectation>>,
    private readonly live: boolean,
  ) {}

  private expectationFor(id: string, given: Expectation): Expectation {
    return this.overrides[`${this.caseId}/${id}`] ?? this.overrides[id] ?? given;
  }

  async step(text: string, why?: string): Promise<void> {
    const live = this.classroom;
    if (live?.obs.beforeStep) {
      // What the previous step caused is on screen before the pause.
      live.flush();
      await live.obs.beforeStep({ ...live.c, n: this.steps.length + 1, text, ...(why ? { why } : {}) }, this.signal);
    }
    this.steps.push(text);
    this.stepsAt.push(eventNs());
    this.progress(`  ${this.steps.length}. ${text}`);
  }

  note(who: string | undefined, text: string): void {
    this.classroom?.flush();
    this.notes.push({ tsNs: eventNs(), who, text });
    this.progress(`     · ${who ? who + ': ' : ''}${text}`);
  }

  private packetsOf(list: readonly PacketRecord[] | undefined) {
    return (list ?? []).map((p) => packetJson(p, this.t0));
  }

  check(spec: CheckSpec): boolean {
    const rule = resolveExpectation(this.expectationFor(spec.id, spec.expect), spec.stack ?? this.stack);
    const ok = rule ? satisfies(spec.observed, rule.expect) : false;
    return this.record(spec, rule && { ok, expected: describeExpected(rule.expect), source: rule.source, because: rule.because });
  }

  checkTiming(spec: TimingCheckSpec): boolean {
    const rule = resolveExpectation(this.expectationFor(spec.id, spec.expectMs), spec.stack ?? this.stack);
    const gap = spec.to.tsNs - spec.from.tsNs;
    const base = { ...spec, observed: +(Number(gap) / 1e6).toFixed(3), packets: [spec.from, spec.to] };
    if (!rule || typeof rule.expect !== 'number') {
      return this.record(base, rule && { ok: satisfies(base.observed, rule.expect), expected: describeExpected(rule.expect), source: rule.source, because: rule.because });
    }
    // packetdrill's rule turns the expected gap into a window around it.
    const r = checkGap(gap, rule.expect, spec.tolerance ?? DEFAULT_TOLERANCE, this.scale);
    const expected = `${r.expectedMs} ms ± ${+r.slackMs.toFixed(3)} ms`;
    return this.record(base, { ok: r.ok, expected, source: rule.source, because: rule.because });
  }

  private record(
    spec: Omit<CheckSpec, 'expect'>,
    rule: { ok: boolean; expected: string; source: string; because?: string } | undefined,
  ): boolean {
    const hasEvidence = (spec.packets?.length ?? 0) + (spec.sockets?.length ?? 0) + Object.keys(spec.counters ?? {}).length > 0;
    // A verdict must rest on packets, sockets or counters, and on an expectation for this stack.
    const verdict: CheckResult['verdict'] = !rule || !hasEvidence ? 'ERROR' : rule.ok ? 'PASS' : 'DIFFERS';
    this.classroom?.flush(); // the packets behind the verdict are on screen before it
    this.checks.push({
      id: spec.id,
      title: spec.title,
      verdict,
      expected: rule?.expected ?? `no expectation for ${(spec.stack ?? this.stack).os} ${(spec.stack ?? this.stack).release}`,
      rule: rule?.source ?? 'none',
      because: rule?.because,
      observed: spec.observed,
      explain: hasEvidence ? spec.explain : 'no evidence (packets, sockets or counters) was given for this check',
      evidence: { packets: this.packetsOf(spec.packets), sockets: [...(spec.sockets ?? [])], counters: { ...(spec.counters ?? {}) } },
      packetRecords: [...(spec.packets ?? [])],
    });
    if (this.classroom?.obs.check) {
      this.classroom.obs.check(this.classroom.c, this.checks[this.checks.length - 1]!);
    }
    this.progress(`     ${verdict === 'PASS' ? '✔' : '✘'} ${verdict} ${spec.title}: ${JSON.stringify(spec.observed)}`);
    return verdict === 'PASS';
  }

  addCapture(source: CaptureSource): void {
    this.captures.push(source);
  }

  setColumns(cols: readonly [LadderColumn, LadderColumn]): void {
    this.columns = cols;
  }

  sysctl(host: string, name: string, value: string): void {
    this.sysctls[`${host}:${name}`] = value;
    this.classroom?.obs.sysctl?.(this.classroom.c, `${host}:${name}`, value);
  }

  use<T extends AsyncDisposable>(resource: T): T {
    this.resources.push(resource);
    return resource;
  }

  async sleep(ms: number, why?: string): Promise<void> {
    await this.waiting(why ?? 'waiting', ms, () => delay(ms, undefined, { signal: this.signal }));
  }

  async waiting<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
    const w = this.live ? countdown(what, ms) : { done() {} };
    try {
      return await fn();
    } finally {
      w.done();
    }
  }
}

export async function runLab(lab: Lab, opts: RunOptions = {}): Promise<LabResult> {
  const target = opts.target;
  const stack = opts.stack ?? target?.stack ?? localStack();
  const scale = opts.toleranceScale ?? toleranceScale();
  const progress = opts.onProgress ?? (() => {});
  const signal = opts.signal ?? new AbortController().signal;
  const started = monoMs();
  const startedAt = new Date().toISOString();
  const traits = target ? { id: target.id, linkUnsupported: opts.linkUnsupported ?? (target.partner ? undefined : `${target.id} offers no partner link for two-host labs`) } : { id: 'linux-host', local: true };
  const why = labUnsupported(lab, traits);
  if (why) throw new Error(`--target ${traits.id}: lab ${lab.id} cannot run there: ${why}`);
  const subject = subjectOf(lab, opts.subject);
  const unknown = (opts.cases ?? []).filter((c) => !lab.cases.some((k) => k.id === c));
  if (unknown.length) {
    throw new RangeError(`--case: lab ${lab.id} has no case ${unknown.join(', ')} (cases: ${lab.cases.map((c) => c.id).join(', ')})`);
  }
  const asked = lab.cases.filter((c) => !opts.cases?.length || opts.cases.includes(c.id));
  // Cases that cannot run on this stack are reported with their reason, not run.
  const skipped = asked.flatMap((c) => {
    const w = caseUnsupported(c, traits, subject);
    return w ? [{ id: c.id, title: c.title, why: w }] : [];
  });
  const selected = asked.filter((c) => !skipped.some((k) => k.id === c.id));
  for (const k of skipped) progress(`case ${k.id}: not run on ${traits.id}: ${k.why}`);
  if (!selected.length && skipped.length) throw new Error(`--target ${traits.id}: no case of lab ${lab.id} can run there: ${skipped.map((k) => `${k.id}: ${k.why}`).join('; ')}`);
  // Cases are independent (each builds its own testbed), so --jobs N may run several at once;
  // their progress is then buffered per case and printed in order, so the story stays readable.
  // On a target every case shares one stack: cases setting the same sysctl to different values (and
  // restoring it) would spoil each other's experiment, so they run one after the other there.
  const jobs = target || opts.live ? 1 : Math.max(1, Math.min(opts.jobs ?? 1, selected.length));
  if (target && (opts.jobs ?? 1) > 1) progress(`--jobs ${opts.jobs}: cases run one at a time on target ${target.id} (they share its sysctls)`);
  const runCase = async (lc: LabCase, progress: (line: string) => void): Promise<CaseResult> => {
    progress(`case ${lc.id}: ${lc.title}`);
    const t0 = eventNs();
    const t = monoMs();
    const ctx = new Context(stack, target, subject, lab.id, lc.id, signal, scale, progress, t0, opts.overrides ?? {}, opts.onProgress !== undefined && jobs === 1);
    const watch = opts.live ? watchCase(ctx, opts.live, { lab, lc, t0 }) : undefined;
    let error: string | undefined;
    const peerCalls: PeerCallRecord[] = [];
    try {
      await (opts.recordPeerCalls ? recordPeerCalls(peerCalls, () => lc.run(ctx)) : lc.run(ctx));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      progress(`     ERROR ${error}`);
    } finally {
      watch?.stop();
    }
    // Packets are read before disposal: the captures belong to resources about to go.
    const packets = ctx.captures.flatMap((c) => c.records()).sort(byTime);
    // Frame numbers as Wireshark shows them for the case's file, on the ladder's packets and the evidence.
    const numbered = numberFrames(ctx.captures);
    for (const p of [...packets, ...ctx.checks.flatMap((k) => k.packetRecords)]) p.frame = numbered.frameOf(p);
    for (const k of ctx.checks) k.evidence.packets = k.packetRecords.map((p) => packetJson(p, t0));
    let pcap: string | undefined;
    if (opts.pcapDir && ctx.captures.length) {
      const format = opts.pcapFormat ?? 'pcapng';
      try {
        mkdirSync(opts.pcapDir, { recursive: true });
        pcap = join(opts.pcapDir, `${lab.id}-${lc.id}.${format}`);
        await writeCaseCapture({
          path: pcap, format, title: `tcplab ${lab.id} case ${lc.id}: ${lc.title} (subject ${subject}: ${stack.os} ${stack.release})`,
          captures: ctx.captures, numbered, packets, columns: ctx.columns, steps: ctx.steps, stepsAt: ctx.stepsAt, checks: ctx.checks,
          ...(opts.readPackets ? { reader: opts.readPackets } : {}),
        });
      } catch (e) {
        error ??= `writing the ${format} failed: ${e instanceof Error ? e.message : String(e)}`;
        pcap = undefined;
      }
    }
    if (!opts.keep) {
      for (const r of ctx.resources.reverse()) {
        try {
          await r[Symbol.asyncDispose]();
        } catch (e) {
          error ??= `clean-up failed: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
    } else if (ctx.resources.length) {
      progress(`     --keep: ${ctx.resources.length} resource(s) left in place; \`tcplab clean\` removes them`);
    }
    const verdicts = ctx.checks.map((c) => c.verdict);
    if (error || ctx.checks.length === 0) verdicts.push('ERROR');
    const result: CaseResult = {
      id: lc.id,
      title: lc.title,
      verdict: worst(verdicts),
      error: error ?? (ctx.checks.length === 0 ? 'the case made no checks' : undefined),
      durationMs: monoMs() - t,
      steps: ctx.steps,
      sysctls: ctx.sysctls,
      checks: ctx.checks,
      packets,
      notes: ctx.notes,
      columns: ctx.columns,
      pcap,
      t0,
      ...(opts.recordPeerCalls ? { peerCalls } : {}),
    };
    opts.live?.caseEnd?.({ lab, lc, t0 }, result);
    return result;
  };
  const cases: CaseResult[] = [];
  if (jobs === 1) {
    for (const lc of selected) {
      cases.push(await runCase(lc, progress));
      if (signal.aborted) break;
    }
  } else {
    const buffers = selected.map(() => [] as string[]);
    const results: CaseResult[] = new Array(selected.length);
    let next = 0;
    let printed = 0;
    const flush = () => {
      while (printed < selected.length && results[printed]) {
        for (const l of buffers[printed]!) progress(l);
        printed++;
      }
    };
    await Promise.all(Array.from({ length: jobs }, async () => {
      while (next < selected.length && !signal.aborted) {
        const i = next++;
        results[i] = await runCase(selected[i]!, (l) => buffers[i]!.push(l));
        flush();
      }
    }));
    cases.push(...results.filter(Boolean));
  }
  return {
    lab: { id: lab.id, title: lab.title, summary: lab.summary, rfcs: lab.rfcs, sources: lab.sources },
    stack,
    ...(target ? { target: target.id } : {}),
    subject,
    startedAt,
    durationMs: monoMs() - started,
    verdict: worst(cases.map((c) => c.verdict)),
    cases,
    ...(skipped.length ? { skipped } : {}),
  };
}


/**
 * Streams a case's packets to a live observer while it runs: polls the captures (they fill as the kernel
 * answers) and reports when packets, notes or columns changed. A poll that takes long (a lab with
 * thousands of packets) spaces out the next ones, so watching never slows the experiment much.
 */
function watchCase(ctx: Context, obs: LiveObserver, c: LiveCase): { stop(): void } {
  let count = -1;
  let notes = -1;
  let columns: Context['columns'];
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const flush = () => {
    if (!obs.packets) return;
    let recs: PacketRecord[];
    try {
      recs = ctx.captures.flatMap((x) => x.records());
    } catch {
      return; // a capture closed under us: the case's own read at the end will say so
    }
    if (recs.length === count && ctx.notes.length === notes && ctx.columns === columns) return;
    [count, notes, columns] = [recs.length, ctx.notes.length, ctx.columns];
    obs.packets({ ...c, packets: recs.sort(byTime), notes: [...ctx.notes], ...(ctx.columns ? { columns: ctx.columns } : {}) });
  };
  const tick = () => {
    const t = performance.now();
    flush();
    if (!stopped) timer = setTimeout(tick, Math.max(100, 10 * (performance.now() - t))).unref();
  };
  ctx.classroom = { obs, c, flush };
  obs.caseStart?.(c);
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      flush();
    },
  };
}
