// The matrix over every local stack for lab:timewait-syn (two cases): every stack runs, and at least
// three stacks answer the same SYN differently in one row.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { differingRows, matrixMarkdown, runMatrix } from '../../src/matrix/matrix.js';
import { STACKS } from '../../src/matrix/stacks.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { requireRoot } from '../helpers/root.js';

describe('tcplab matrix', () => {
  requireRoot();
  it('runs timewait-syn on linux-host, linux-6.1-qemu, gvisor, slirp and lwip; three stacks differ in one row', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tcplab-matrix-'));
    try {
      const m = await runMatrix([timewaitSynLab], STACKS, { outDir: out, cases: ['isn-above', 'isn-equal'] });
      expect(m.stacks.map((s) => [s.id, s.unavailable ?? 'ok'])).toEqual(STACKS.map((s) => [s.id, 'ok']));
      expect(m.rows.filter((r) => Object.keys(r.errors).length)).toEqual([]);
      const answer = m.rows.find((r) => r.case === 'isn-above' && r.check === 'answer')!;
      const seen = Object.fromEntries(Object.entries(answer.cells).map(([k, c]) => [k, c.observed]));
      expect(new Set(Object.values(seen)).size, JSON.stringify(seen)).toBeGreaterThanOrEqual(3);
      expect(differingRows(m).length).toBeGreaterThan(0);
      // every cell links its pcap, which exists
      for (const c of Object.values(answer.cells)) expect(readFileSync(join(out, c.pcap!)).length).toBeGreaterThan(24);
      const md = matrixMarkdown(m);
      expect(md).toContain('| case | check | linux-host | linux-6.1-qemu | gvisor | slirp | lwip |');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);
});
