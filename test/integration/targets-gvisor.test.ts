// gVisor's netstack (runsc) as a target: lab:timewait-syn probes netstack, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GvisorTarget } from '../../src/targets/gvisor.js';
import { runLab } from '../../src/lab/runner.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { requireRoot } from '../helpers/root.js';

function runscPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'runsc.*tcplab-'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('gvisor target', () => {
  requireRoot();
  let t: GvisorTarget;
  beforeAll(async () => {
    t = await GvisorTarget.start();
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
  }, 30_000);

  it('runs lab:timewait-syn against netstack: the handshake is answered by netstack, not a kernel', async () => {
    expect(t.stack.os).toBe('gvisor');
    const r = await runLab(timewaitSynLab, { target: t, cases: ['isn-above', 'isn-below'] });
    for (const c of r.cases) expect(c.error, `${c.id}: ${c.error}`).toBeUndefined();
    const answers = Object.fromEntries(r.cases.map((c) => [c.id, c.checks.find((k) => k.id === 'answer')?.observed]));
    expect(r.cases[0]!.packets.some((p) => p.segment.src === t.serverAddr && p.segment.flags === 'S.')).toBe(true);
    // netstack takes a higher-ISN SYN in TIME-WAIT as a new connection
    expect(answers['isn-above']).toBe('SYN-ACK');
    for (const v of Object.values(answers)) expect(['SYN-ACK', 'ACK', 'RST', 'nothing']).toContain(v);
  }, 90_000);

  it('leaves no runsc process, state directory or namespace', async () => {
    await t.dispose();
    expect(runscPids()).toEqual([]);
    expect(existsSync(`/run/tcplab-runsc-${t.tb.runId}`)).toBe(false);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(t.tb.runId);
  }, 30_000);
});
