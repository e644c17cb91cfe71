// Kill a lab-like run at random moments with SIGINT, SIGTERM or SIGKILL: afterwards (and after
// cleanLeftovers() for SIGKILL) nothing of it may remain, and root-namespace sysctls are unchanged.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { ensureBuilt } from './testbed-build.js';
import { cleanLeftovers, listNamespaces, listRootLinks, listRootNftTables } from '../../src/testbed/clean.js';
import { isAlive } from '../../src/testbed/journal.js';
import { journalPath, newRunId } from '../../src/testbed/names.js';

const scenario = new URL('../fixtures/testbed-kill-scenario.mjs', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every readable file under /proc/sys/net/{ipv4,core} of the root namespace. */
function rootSysctls(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        // per-interface conf/neigh dirs of tcplab links would come and go with other tests' testbeds
        if (!e.startsWith('tcplab-')) walk(p);
      } else if (st.mode & 0o444) {
        try {
          out.set(p, readFileSync(p, 'utf8'));
        } catch {
          // write-only (route/flush) or not readable: skip
        }
      }
    }
  };
  walk('/proc/sys/net/ipv4');
  walk('/proc/sys/net/core');
  return out;
}

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
});
