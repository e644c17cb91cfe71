// libslirp (slirp4netns) as a target: lab:timewait-syn probes slirp's own TCP, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlirpTarget } from '../../src/targets/slirp.js';
import { runLab } from '../../src/lab/runner.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { requireRoot } from '../helpers/root.js';

function slirpPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'slirp4netns.*tcplab-'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('slirp target', () => {
  requireRoot();
  let t: SlirpTarget;
  const before = new Set(slirpPids());
  beforeAll(async () => {
    t = await SlirpTarget.start();
  }, 30_000);
  afterAll(async () => {
    await t?.dispose();
  }, 30_000);

  it("runs lab:timewait-syn against slirp: 4.4BSD's window rule (RST inside the window, new connection beyond it)", async () => {
    expect(t.stack.os).toBe('slirp');
    const r = await runLab(timewaitSynLab, { target: t, cases: ['isn-above', 'isn-far-above', 'isn-below'] });
    for (const c of r.cases) expect(c.error, `${c.id}: ${c.error}`).toBeUndefined();
    const answers = Object.fromEntries(r.cases.map((c) => [c.id, c.checks.find((k) => k.id === 'answer')?.observed]));
    // slirp answered the handshake (SYN-ACK from the server address) before the TIME-WAIT question
    expect(r.cases[0]!.packets.some((p) => p.segment.src === t.serverAddr && p.segment.flags === 'S.')).toBe(true);
    expect(answers).toEqual({ 'isn-above': 'RST', 'isn-far-above': 'SYN-ACK', 'isn-below': 'nothing' });
    for (const c of r.cases) for (const k of c.checks) expect(k.verdict, `${c.id}/${k.id}`).toBe('PASS');
  }, 60_000);

  it('leaves no slirp4netns process and no namespace', async () => {
    await t.dispose();
    expect(slirpPids().filter((p) => !before.has(p))).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(t.tb.runId);
  }, 30_000);
});
