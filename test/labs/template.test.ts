// The template lab (labs/template.ts) runs and passes: a template that does not work teaches nothing.
import { describe, expect, it } from 'vitest';
import { runLab } from '../../src/lab/runner.js';
import { templateLab } from '../../labs/template.js';
import { requireRoot } from '../helpers/root.js';

describe('lab:template (root)', () => {
  requireRoot();
  it('both cases pass on this kernel, with the FINs and the socket line as evidence', async () => {
    const r = await runLab(templateLab);
    expect(r.cases.map((c) => [c.id, c.verdict, c.error])).toEqual([['client-first', 'PASS', undefined], ['server-first', 'PASS', undefined]]);
    for (const c of r.cases) {
      const k = c.checks[0]!;
      expect(k.observed).toBe('TIME-WAIT');
      expect(k.evidence.sockets[0]).toMatch(/TIME-WAIT/);
      expect(k.evidence.packets.length).toBe(2);
    }
  }, 60_000);
});
