// lwIP as a target: lab:timewait-syn probes lwIP's TCP on a tap, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LwipTarget } from '../../src/targets/lwip.js';
import { runLab } from '../../src/lab/runner.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { requireRoot } from '../helpers/root.js';

function lwipPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'lwip-peer'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('lwip target', () => {
  requireRoot();
  let t: LwipTarget;
  const before = new Set(lwipPids());
  beforeAll(async () => {
    t = await LwipTarget.start();
  }, 120_000);
  afterAll(async () => {
    await t?.dispose();
  }, 30_000);

  it('runs lab:timewait-syn against lwIP: answers follow its expectations (RST in window, ACK outside)', async () => {
    expect(t.stack.os).toBe('lwip');
    const r = await runLab(timewaitSynLab, { target: t, cases: ['isn-above', 'isn-equal'] });
    for (const c of r.cases) expect(c.error, `${c.id}: ${c.error}`).toBeUndefined();
    expect(r.cases[0]!.packets.some((p) => p.segment.src === t.serverAddr && p.segment.flags === 'S.')).toBe(true);
    const answers = Object.fromEntries(r.cases.map((c) => [c.id, c.checks.find((k) => k.id === 'answer')?.observed]));
    expect(answers).toEqual({ 'isn-above': 'ACK', 'isn-equal': 'RST' });
    expect(r.verdict).toBe('PASS');
  }, 60_000);

  it('leaves no lwip-peer process and no namespace', async () => {
    await t.dispose();
    expect(lwipPids().filter((p) => !before.has(p))).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(t.tb.runId);
  }, 30_000);
});
