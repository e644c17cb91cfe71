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

  it('Ctrl-C during `tcplab matrix` on QEMU: exit 130, and nothing of that run is left (process, namespace, /run file)', async () => {
    const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
    const out = mkdtempSync(join(tmpdir(), 'tcplab-int-'));
    const child = spawn(process.execPath, [cli, 'matrix', '--stacks', 'linux-6.1-qemu', '--labs', 'timewait-syn', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      // Interrupt in the middle of a case, while QEMU runs.
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error('no case started within 120 s')), 120_000);
        createInterface({ input: child.stderr! }).on('line', (l) => {
          if (l.startsWith('[linux-6.1-qemu] case ')) (clearTimeout(t), res());
        });
        child.once('exit', (c) => (clearTimeout(t), rej(new Error(`matrix exited early (${c})`))));
      });
      // This run's processes (other tests run in parallel): the child's descendants, and their namespaces.
      const tree = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
      const mine = new Set([child.pid!]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [pid, ppid] of tree) if (mine.has(ppid) && !mine.has(pid)) (mine.add(pid), (grew = true));
      }
      mine.delete(child.pid!);
      const namespaces = new Set([...mine].map((pid) => { try { return execFileSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' }).trim(); } catch { return ''; } }).filter((n) => n.startsWith('tcplab-')));
      const runIds = [...namespaces].map((n) => n.split('-')[1]!);
      expect(runIds.length).toBeGreaterThan(0);
      expect(existsSync(`/run/tcplab-qemu-${runIds[0]}`)).toBe(true);
      const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect([...mine].filter(alive)).toEqual([]);
      const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      for (const id of runIds) {
        expect(ns).not.toContain(id);
        expect(existsSync(`/run/tcplab-qemu-${id}`)).toBe(false);
      }
    } finally {
      child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
