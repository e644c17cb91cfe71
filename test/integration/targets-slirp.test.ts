// libslirp (slirp4netns) as a target: lab:timewait-syn probes slirp's own TCP, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlirpTarget } from '../../src/targets/slirp.js';
import { withTarget } from '../../src/targets/target.js';
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

  it('runs lab:timewait-syn against slirp: its TCP answers the crafted connection from its own stack', async () => {
    expect(t.stack.os).toBe('slirp');
    const r = await withTarget(t, () => runLab(timewaitSynLab, { stack: t.stack, cases: ['isn-above', 'isn-below'] }));
    for (const c of r.cases) expect(c.error, `${c.id}: ${c.error}`).toBeUndefined();
    const answers = Object.fromEntries(r.cases.map((c) => [c.id, c.checks.find((k) => k.id === 'answer')?.observed]));
    for (const c of r.cases) console.log(c.id, c.packets.map((p) => `${p.segment.src}:${p.segment.sport}>${p.segment.dst}:${p.segment.dport} ${p.segment.flags} seq=${p.segment.seq} ack=${p.segment.ack}`).join("\n"));
    console.log(JSON.stringify(answers), r.cases.map((c) => c.checks.map((k) => `${k.id}=${JSON.stringify(k.observed)} ${k.verdict}`)));
    // slirp answered the handshake (SYN-ACK from the server address) before the TIME-WAIT question
    expect(r.cases[0]!.packets.some((p) => p.segment.src === t.serverAddr && p.segment.flags === 'S.')).toBe(true);
    for (const v of Object.values(answers)) expect(['SYN-ACK', 'ACK', 'RST', 'nothing']).toContain(v);
  }, 60_000);

  it('leaves no slirp4netns process and no namespace', async () => {
    await t.dispose();
    expect(slirpPids().filter((p) => !before.has(p))).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(t.tb.runId);
  }, 30_000);
});
