// Kill a lab-like run at random moments with SIGINT, SIGTERM or SIGKILL: afterwards (and after
// cleanLeftovers() for SIGKILL) nothing of it may remain, and root-namespace sysctls are unchanged.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { ensureBuilt } from './testbed-build.js';
import { cleanLeftovers, listNamespaces, listRootLinks, listRootNftTables } from '../../src/testbed/clean.js';
import { isAlive } from '../../src/testbed/journal.js';
import { journalPath, newRunId, RUN_DIR } from '../../src/testbed/names.js';
import { run } from '../../src/testbed/exec.js';
import { rootSysctls } from '../fuzz/killrun.js';

const scenario = new URL('../fixtures/testbed-kill-scenario.mjs', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


type Sig = 'SIGINT' | 'SIGTERM' | 'SIGKILL';

async function killRun(sig: Sig, delayMs: number): Promise<{ runId: string; reached: string; pids: number[]; code: number | null; signal: string | null }> {
  const runId = newRunId();
  const child = spawn(process.execPath, [scenario, runId], { stdio: ['ignore', 'pipe', 'pipe'] });
  let reached = 'start';
  const pids: number[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { step: string; pids?: number[] };
    reached = m.step;
    if (m.pids) pids.push(...m.pids);
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<[number | null, string | null]>((res) => child.once('exit', (c, s) => res([c, s])));
  await sleep(delayMs);
  child.kill(sig);
  const [code, signal] = await Promise.race([exited, sleep(10_000).then(() => [null, 'HUNG'] as [null, string])]);
  if (signal === 'HUNG') {
    child.kill('SIGKILL');
    throw new Error(`run ${runId} did not exit within 10 s of ${sig} (reached ${reached}): ${stderr}`);
  }
  if (sig !== 'SIGKILL' && code !== null && code !== 128 + (sig === 'SIGINT' ? 2 : 15)) {
    throw new Error(`run ${runId} exited with ${code} after ${sig} (reached ${reached}): ${stderr}`);
  }
  return { runId, reached, pids, code, signal };
}

async function leftovers(runId: string, pids: readonly number[]) {
  return {
    namespaces: (await listNamespaces()).filter((n) => n.includes(runId)),
    links: (await listRootLinks()).filter((n) => n.includes(runId)),
    nft: (await listRootNftTables()).filter((t) => t.name.includes(runId)),
    processes: pids.filter(isAlive),
    journal: existsSync(journalPath(runId)),
    runFiles: existsSync('/run/tcplab') ? readdirSync('/run/tcplab').filter((f) => f.startsWith(runId)) : [],
  };
}

describe('killed runs leave nothing behind', () => {
  requireRoot();
  beforeAll(() => ensureBuilt());

  it('20 runs killed with SIGINT/SIGTERM/SIGKILL at random moments', { timeout: 55_000 }, async () => {
    const before = rootSysctls();
    const sigs: Sig[] = [];
    for (let i = 0; i < 20; i++) sigs.push((['SIGINT', 'SIGTERM', 'SIGKILL'] as const)[i % 3]!);
    const seen: string[] = [];
    const t0 = Date.now();
    for (const [i, sig] of sigs.entries()) {
      // Half the runs die early (node starting up, testbed half built), half later (up to well after ready).
      const delay = i % 2 === 0 ? Math.random() * 250 : 250 + Math.random() * 950;
      const r = await killRun(sig, Math.floor(delay));
      seen.push(`${sig}@${r.reached}`);
      if (sig === 'SIGKILL') {
        const rep = await cleanLeftovers({ runIds: [r.runId] });
        expect(rep.errors).toEqual([]);
        if (r.reached !== 'start') expect(rep.journals.length).toBe(1); // it found the run by its journal
      }
      // a peer notices its parent's death through stdin EOF; allow it a moment
      for (let i = 0; i < 40 && r.pids.some(isAlive); i++) await sleep(50);
      expect({ sig, reached: r.reached, ...(await leftovers(r.runId, r.pids)) }).toEqual({
        sig, reached: r.reached, namespaces: [], links: [], nft: [], processes: [], journal: false, runFiles: [],
      });
    }
    const after = rootSysctls();
    const diff = [...before].filter(([k, v]) => after.get(k) !== v).map(([k]) => k);
    expect(diff).toEqual([]);
    expect(after.size).toBe(before.size);
    console.log(`kill runs (${Date.now() - t0} ms): ${seen.join(' ')}`);
    // the randomness must actually have hit both set-up and steady state
    expect(seen.some((s) => s.endsWith('@ready'))).toBe(true);
  });

  it.each([['exit', 3], ['throw', 1], ['reject', 1]] as const)('a lab that ends with %s (code %d) leaves nothing behind', async (how, want) => {
    const runId = newRunId();
    const child = spawn(process.execPath, [scenario, runId, how], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pids: number[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => pids.push(...((JSON.parse(line) as { pids?: number[] }).pids ?? [])));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((res) => child.once('exit', res));
    expect(code).toBe(want);
    if (how !== 'exit') expect(stderr).toMatch(/lab (crashed|rejected)/);
    for (let i = 0; i < 40 && pids.some(isAlive); i++) await sleep(50);
    expect(pids).toHaveLength(2);
    expect(await leftovers(runId, pids)).toEqual({ namespaces: [], links: [], nft: [], processes: [], journal: false, runFiles: [] });
  });

  // In the same file as the kill runs (sequential): this briefly changes a root-namespace sysctl.
  it('cleanLeftovers leaves live runs alone and removes a dead run: links, nft tables, root sysctls, journal', async () => {
    // A live run in another process is skipped.
    const liveId = newRunId();
    const child = spawn(process.execPath, [scenario, liveId], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => createInterface({ input: child.stdout! }).on('line', (l) => {
      if ((JSON.parse(l) as { step: string }).step === 'ready') res();
    }));
    const skip = await cleanLeftovers({ runIds: [liveId] });
    expect(skip.namespaces).toEqual([]);
    expect(skip.skippedLive).toEqual(expect.arrayContaining([`tcplab-${liveId}-client`, `tcplab-${liveId}-server`]));
    expect((await listNamespaces()).filter((n) => n.includes(liveId))).toHaveLength(2);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect((await listNamespaces()).filter((n) => n.includes(liveId))).toEqual([]);

    // A dead run's leftovers in the root namespace: a veth pair, an nft table, a changed sysctl.
    const deadId = newRunId();
    const key = 'net.ipv4.tcp_fin_timeout';
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    const orig = readFileSync(path, 'utf8').trim();
    const dead = spawn('sleep', ['0']);
    await new Promise((r) => dead.once('exit', r));
    mkdirSync(RUN_DIR, { recursive: true });
    writeFileSync(journalPath(deadId), JSON.stringify({ runId: deadId, pid: dead.pid, startedAt: '', namespaces: [], sysctls: [{ netns: null, key, before: orig }] }));
    try {
      await run('ip', ['link', 'add', `tcplab-${deadId}0a`, 'type', 'veth', 'peer', 'name', `tcplab-${deadId}0b`]);
      await run('nft', ['add', 'table', 'inet', `tcplab-${deadId}`]);
      writeFileSync(path, String(Number(orig) + 1));
      await run('ip', ['netns', 'add', `tcplab-${deadId}-x`]);
      const sleeper = spawn('ip', ['netns', 'exec', `tcplab-${deadId}-x`, 'sleep', '60']);
      await sleep(200);
      const rep = await cleanLeftovers({ runIds: [deadId] });
      expect(rep.errors).toEqual([]);
      expect(rep.namespaces).toEqual([`tcplab-${deadId}-x`]);
      expect(rep.killedPids).toContain(sleeper.pid);
      expect(rep.links.length).toBe(1); // deleting one end of a veth removes both
      expect(rep.links[0]).toMatch(new RegExp(`^tcplab-${deadId}0[ab]$`));
      expect(rep.nftTables).toEqual([`inet tcplab-${deadId}`]);
      expect(rep.sysctlsRestored).toEqual([{ key, value: orig }]);
      expect(readFileSync(path, 'utf8').trim()).toBe(orig);
      expect(await leftovers(deadId, [sleeper.pid!])).toMatchObject({ namespaces: [], links: [], nft: [], processes: [], journal: false });
    } finally {
      writeFileSync(path, orig);
      await run('ip', ['link', 'del', `tcplab-${deadId}0a`]);
      await run('nft', ['delete', 'table', 'inet', `tcplab-${deadId}`]);
      await run('ip', ['netns', 'del', `tcplab-${deadId}-x`]);
    }
  });
});
