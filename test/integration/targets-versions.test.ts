// Two-host labs with the subject on another Linux kernel, and the version matrix. reuse and lastack run
// with the subject in a Debian 5.10 guest and the partner in a namespace of this machine; the matrix of
// reuse + timewait-syn across every built Linux shows the behaviour changes the expectations name.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { reuseLab } from '../../labs/reuse.js';
import { lastackLab } from '../../labs/lastack.js';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { runLab } from '../../src/lab/runner.js';
import { differingRows, runMatrix } from '../../src/matrix/matrix.js';
import { findStack, resolveStacks } from '../../src/targets/registry.js';
import { requireRoot } from '../helpers/root.js';

// Ours only: QEMU targets keep their console under /run/tcplab-qemu-*; namespaces are compared with before.
const nsBefore = new Set(netns());
function netns(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((l) => l.startsWith('tcplab-'));
}
function leftovers(): string {
  let q = '';
  try {
    q = execFileSync('pgrep', ['-af', 'qemu-system-x86_64.*tcplab-qemu-'], { encoding: 'utf8' });
  } catch {
    // none
  }
  return [q.trim(), ...netns().filter((n) => !nsBefore.has(n))].filter(Boolean).join('\n');
}

const verdicts = (r: Awaited<ReturnType<typeof runLab>>) =>
  r.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''} ${c.checks.filter((k) => k.verdict !== 'PASS').map((k) => `${k.id}=${JSON.stringify(k.observed)} (expected ${k.expected})`).join(' ')}`).join('\n');

describe('two-host labs on a guest kernel', () => {
  requireRoot();

  it('reuse and lastack pass on Linux 5.10 with the subject in the guest', async () => {
    const f = findStack('linux-5.10-qemu', undefined, '--target');
    expect(await f.unavailable()).toBeUndefined();
    const t = (await f.start())!;
    try {
      expect(t.stack.version.slice(0, 2)).toEqual([5, 10]);
      const r = await runLab(reuseLab, { target: t });
      expect(r.subject).toBe('client');
      expect(r.verdict, verdicts(r)).toBe('PASS');
      expect(r.cases).toHaveLength(7);
      // The verdicts are about the guest: the client's TIME-WAIT is in the guest's socket table, and the
      // reuse delay follows the pre-6.14 rule (the next tick of the 1 Hz clock).
      const reuse1 = r.cases.find((c) => c.id === 'reuse1')!;
      expect(reuse1.checks.find((k) => k.id === 'reuse-delay')!.rule).toBe('linux <6.14');
      expect(reuse1.sysctls['client:net.ipv4.tcp_tw_reuse_delay']).toBeUndefined();
      const la = await runLab(lastackLab, { target: t });
      expect(la.subject).toBe('server');
      expect(la.verdict, verdicts(la)).toBe('PASS');
      // The injected RST can only reach a client in the guest: said, not run.
      expect(la.skipped?.map((k) => k.id)).toEqual(['rfc1337-rst']);
      const lc = await runLab(lastackLab, { target: t, subject: 'client' });
      expect(lc.verdict, verdicts(lc)).toBe('PASS');
      expect(lc.cases).toHaveLength(4);
    } finally {
      await t.dispose();
    }
    expect(leftovers()).toBe('');
  }, 240_000);

  it('the version matrix of reuse + timewait-syn shows where Linux releases differ', async () => {
    const stacks = await resolveStacks(['linux']);
    expect(stacks.length, stacks.map((s) => s.id).join(', ')).toBeGreaterThanOrEqual(4);
    const m = await runMatrix([reuseLab, timewaitSynLab], stacks, { cases: ['reuse1', 'isn-above', 'ts-older-isn-above'] });
    const bad = m.rows.flatMap((r) => [
      ...Object.entries(r.cells).filter(([, c]) => c.verdict !== 'PASS').map(([s, c]) => `${s} ${r.case}/${r.check}: ${JSON.stringify(c.observed)} ${c.verdict} (expected ${c.expected})`),
      ...Object.entries(r.errors).map(([s, e]) => `${s} ${r.case}: ${e}`),
    ]);
    expect(bad).toEqual([]);
    expect(m.stacks.every((s) => s.stack && !s.unavailable)).toBe(true);
    const differ = new Set(differingRows(m).map((r) => `${r.case}/${r.check}`));
    // 6.14: the reuse delay became tcp_tw_reuse_delay ms; 6.10: the SYN-ACK replacing a TIME-WAIT takes
    // snd_nxt + 65537; 6.16: PAWS in TIME-WAIT has its own counter.
    for (const k of ['isn-above/new-isn', 'ts-older-isn-above/paws-counter']) expect(differ, [...differ].join(', ')).toContain(k);
    const delay = m.rows.find((r) => r.case === 'reuse1' && r.check === 'reuse-delay')!;
    expect(new Set(Object.values(delay.cells).map((c) => c.rule)).size).toBe(2);
    expect(leftovers()).toBe('');
  }, 400_000);
});
