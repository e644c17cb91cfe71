// A run that is SIGKILLed while its targets run leaves no qemu, slirp4netns or lwIP process (they die
// with it: setpriv --pdeathsig KILL), and `tcplab clean` (cleanLeftovers) removes its namespaces.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { cleanLeftovers } from '../../src/testbed/clean.js';
import { cleanTargetLeftovers } from '../../src/targets/leftovers.js';
import { packageRoot } from '../../src/wire/native.js';
import { requireRoot } from '../helpers/root.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidsOf(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('targets die with a SIGKILLed run', () => {
  requireRoot();
  it('qemu, slirp4netns and lwip-peer exit when their parent is SIGKILLed; clean removes the namespaces', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-kill-'));
    const script = join(dir, 'run.mjs');
    const dist = join(packageRoot(), 'dist', 'src', 'targets');
    writeFileSync(script, `
      import { QemuTarget } from '${dist}/qemu.js';
      import { SlirpTarget } from '${dist}/slirp.js';
      import { LwipTarget } from '${dist}/lwip.js';
      const [q, s, l] = await Promise.all([QemuTarget.start(), SlirpTarget.start(), LwipTarget.start()]);
      process.stdout.write(JSON.stringify({ runIds: [q.tb.runId, s.tb.runId, l.tb.runId] }) + '\\n');
      setInterval(() => {}, 60000);
    `);
    const before = new Set([...pidsOf('qemu-system-x86_64'), ...pidsOf('slirp4netns'), ...pidsOf('lwip-peer')]);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error('targets did not start within 150 s')), 150_000);
        createInterface({ input: child.stdout! }).once('line', (l) => (clearTimeout(t), res(l)));
        child.once('exit', (c) => (clearTimeout(t), rej(new Error(`run exited early (${c})`))));
      });
      const { runIds } = JSON.parse(line) as { runIds: string[] };
      const mine = [...pidsOf('qemu-system-x86_64'), ...pidsOf('slirp4netns'), ...pidsOf('lwip-peer')].filter((p) => !before.has(p));
      expect(mine.length).toBeGreaterThanOrEqual(3);
      child.kill('SIGKILL');
      const t0 = Date.now();
      while (mine.some(alive) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      expect(mine.filter(alive)).toEqual([]);
      const rep = await cleanLeftovers({ runIds });
      expect(rep.errors).toEqual([]);
      // the QEMU console directory of the killed run
      expect(existsSync(`/run/tcplab-qemu-${runIds[0]}`)).toBe(true);
      expect(cleanTargetLeftovers({ runIds })).toEqual([`/run/tcplab-qemu-${runIds[0]}`]);
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(new RegExp(runIds.join('|')));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
