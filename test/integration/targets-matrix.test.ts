// The matrix over every local stack for lab:timewait-syn (two cases) and lab:rfc1337 (one case): every
// stack runs, at least three stacks answer the same SYN differently in one row, and the RST at rcv_nxt - 1
// kills only slirp's TIME-WAIT, and only slirp refuses a client reusing a 4-tuple its LAST-ACK still holds.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { differingRows, matrixMarkdown, runMatrix } from '../../src/matrix/matrix.js';
import { findStack } from '../../src/targets/registry.js';

// The five stacks of different kinds (the Linux versions have their own matrix test: targets-versions).
const STACKS = ['linux-host', 'linux-6.1-qemu', 'gvisor', 'slirp', 'lwip'].map((id) => findStack(id));
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { rfc1337Lab } from '../../labs/rfc1337.js';
import { lastackSynLab } from '../../labs/lastack-syn.js';
import { pawsLab } from '../../labs/paws.js';
import { abortLab } from '../../labs/abort.js';
import { requireRoot } from '../helpers/root.js';

describe('tcplab matrix', () => {
  requireRoot();
  it('runs timewait-syn on linux-host, linux-6.1-qemu, gvisor, slirp and lwip; three stacks differ in one row', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tcplab-matrix-'));
    try {
      const m = await runMatrix([timewaitSynLab, rfc1337Lab, lastackSynLab, pawsLab, abortLab], STACKS, { outDir: out, cases: ['isn-above', 'isn-equal', 'rfc1337-0', 'reuse-syn', 'ts-older', 'linger0'] });
      expect(m.stacks.map((s) => [s.id, s.unavailable ?? 'ok'])).toEqual(STACKS.map((s) => [s.id, 'ok']));
      expect(m.rows.filter((r) => Object.keys(r.errors).length)).toEqual([]);
      const answer = m.rows.find((r) => r.case === 'isn-above' && r.check === 'answer')!;
      const seen = Object.fromEntries(Object.entries(answer.cells).map(([k, c]) => [k, c.observed]));
      expect(new Set(Object.values(seen)).size, JSON.stringify(seen)).toBeGreaterThanOrEqual(3);
      expect(differingRows(m).length).toBeGreaterThan(0);
      const cell = (c: string, k: string) => Object.fromEntries(Object.entries(m.rows.find((r) => r.case === c && r.check === k)!.cells).map(([s, x]) => [s, x.observed]));
      expect(cell('rfc1337-0', 'rst-minus1')).toEqual({ 'linux-host': 'TIME-WAIT', 'linux-6.1-qemu': 'TIME-WAIT', gvisor: 'TIME-WAIT', slirp: 'gone', lwip: 'TIME-WAIT' });
      expect(cell('rfc1337-0', 'rst-exact')).toEqual({ 'linux-host': 'gone', 'linux-6.1-qemu': 'gone', gvisor: 'TIME-WAIT', lwip: 'TIME-WAIT' });
      expect(cell('reuse-syn', 'client-outcome')).toEqual({ 'linux-host': 'connected after RST + SYN again', 'linux-6.1-qemu': 'connected after RST + SYN again', gvisor: 'connected after RST + SYN again', slirp: 'refused (ECONNREFUSED)', lwip: 'connected after RST + SYN again' });
      // PAWS: only the Linux kernels drop in-window data with an older timestamp.
      expect(cell('ts-older', 'stale-data')).toEqual({ 'linux-host': 'dropped', 'linux-6.1-qemu': 'dropped', gvisor: 'accepted', slirp: 'accepted', lwip: 'accepted' });
      // SO_LINGER {1, 0} on an idle connection: lwIP alone closes gracefully.
      expect(cell('linger0', 'first')).toEqual({ 'linux-host': 'RST', 'linux-6.1-qemu': 'RST', gvisor: 'RST', slirp: 'RST', lwip: 'FIN' });
      for (const r of m.rows) for (const [s, c] of Object.entries(r.cells)) expect(c.verdict, `${r.case}/${r.check} on ${s}`).toBe('PASS');
      // every cell links its pcap, which exists
      for (const c of Object.values(answer.cells)) expect(readFileSync(join(out, c.pcap!)).length).toBeGreaterThan(24);
      const md = matrixMarkdown(m);
      expect(md).toContain('| case / check | linux-host | linux-6.1-qemu | gvisor | slirp | lwip |');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);
});
