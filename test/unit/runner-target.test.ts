// On a target, cases share one stack (and its sysctls): --jobs must not run them at once.
import { describe, expect, it } from 'vitest';
import { runLab } from '../../src/lab/runner.js';
import type { LabTarget } from '../../src/targets/target.js';
import type { Lab } from '../../src/lab/types.js';

describe('runner on a target', () => {
  it('runs the cases one at a time whatever --jobs says', async () => {
    let running = 0;
    let most = 0;
    const run = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    };
    const lab: Lab = { id: 'l', title: 't', summary: 's', rfcs: [], sources: [], roles: { all: ['server'], subject: 'server' }, remote: 'probe', cases: ['a', 'b', 'c', 'd'].map((id) => ({ id, title: id, run })) };
    const stack = { os: 'linux' as const, release: '6.1', version: [6, 1, 0] as [number, number, number] };
    const target = { id: 'fake', stack, probe: async () => { throw new Error('unused'); }, dispose: async () => undefined, [Symbol.asyncDispose]: async () => undefined } as LabTarget;
    const lines: string[] = [];
    await runLab(lab, { target, jobs: 4, onProgress: (l) => lines.push(l) });
    expect(most).toBe(1);
    expect(lines.join('\n')).toMatch(/one at a time on target fake/);
    // Without a target the same lab does use the jobs.
    most = 0;
    await runLab(lab, { stack, jobs: 4 });
    expect(most).toBe(4);
  });
});
