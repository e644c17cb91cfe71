// tcplab serve as a user starts it (the CLI, root, a real lab): it listens on loopback only, and it
// stops, the lab's clean-up first, when the page goes away, when stdin closes and on SIGHUP, leaving
// none of the namespaces it made.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { CLI } from '../helpers/labrun.js';
import { tcplabNamespaces } from '../helpers/leftovers.js';
import { readJournals } from '../../src/testbed/journal.js';
import { runIdOf } from '../../src/testbed/names.js';
import { events, http } from '../helpers/classroom.js';

const children: ChildProcess[] = [];

async function serve(extra: string[] = []): Promise<{ child: ChildProcess; port: number; token: string; err: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--grace', '1', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c, s) => r(c ?? (s ? -1 : null))));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  const port = Number(new URL(url).port);
  const page = await http(port, '/');
  const token = /data-token="([^"]+)"/.exec(page.body)![1]!;
  return { child, port, token, err: () => err, exited };
}

/** Starts reuse/bound-reuse0 from the "page" and waits until step 2 is held (its namespaces exist). */
async function runToStep2(s: { port: number; token: string }) {
  const ev = events(s.port);
  await ev.until((e) => e.event === 'hello');
  const post = (path: string, body: unknown) => http(s.port, path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tcplab-token': s.token }, body: JSON.stringify(body) });
  expect((await post('/run', { lab: 'reuse', case: 'bound-reuse0' })).status).toBe(202);
  await ev.until((e) => e.event === 'step' && e.data.n === 1 && e.data.waiting, 30_000);
  await post('/next', {});
  await ev.until((e) => e.event === 'step' && e.data.n === 2 && e.data.waiting, 30_000);
  return ev;
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms))]);

describe('tcplab serve (CLI, root)', () => {
  requireRoot();
  let before: string[] = [];
  beforeAll(() => {
    before = tcplabNamespaces();
  });
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  // Other runs (other test files, other users of this machine) may have namespaces at the same time:
  // this server's are those of the runs its journal names with its pid.
  const runsOf = (pid: number) => readJournals().filter((j) => j.pid === pid).map((j) => j.runId);
  const nsOf = (runs: readonly string[]) => tcplabNamespaces().filter((n) => !before.includes(n) && runs.includes(runIdOf(n) ?? ''));

  it('listens on 127.0.0.1 and ::1 only', async () => {
    const s = await serve();
    const ss = spawnSync('ss', ['-Hltn', `sport = :${s.port}`], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]);
    expect(ss.length).toBeGreaterThan(0);
    for (const local of ss) expect(local).toMatch(new RegExp(`^(127\\.0\\.0\\.1|\\[::1\\]):${s.port}$`));
    s.child.kill('SIGTERM');
    expect(await within(s.exited, 15_000, 'exit after SIGTERM')).toBe(143);
  }, 30_000);

  it('the page goes away mid-lab: the server stops after the grace period and the lab is cleaned up', async () => {
    const s = await serve();
    const ev = await runToStep2(s);
    const runs = runsOf(s.child.pid!);
    expect(nsOf(runs).length).toBeGreaterThan(0);
    ev.close();
    expect(await within(s.exited, 20_000, 'exit after the page went away')).toBe(0);
    expect(s.err()).toMatch(/stopping: the page went away/);
    expect(nsOf(runs)).toEqual([]);
    expect(runsOf(s.child.pid!)).toEqual([]); // the journal went with its clean-up
  }, 60_000);

  it('stdin closes (the terminal went away): stops and cleans up', async () => {
    const s = await serve();
    const ev = await runToStep2(s);
    const runs = runsOf(s.child.pid!);
    expect(nsOf(runs).length).toBeGreaterThan(0);
    s.child.stdin!.end();
    expect(await within(s.exited, 20_000, 'exit after stdin closed')).toBe(0);
    expect(s.err()).toMatch(/stdin closed/);
    expect(nsOf(runs)).toEqual([]);
    expect(runsOf(s.child.pid!)).toEqual([]); // the journal went with its clean-up
    ev.close();
  }, 60_000);

  it('SIGHUP: stops and cleans up', async () => {
    const s = await serve();
    const ev = await runToStep2(s);
    const runs = runsOf(s.child.pid!);
    expect(nsOf(runs).length).toBeGreaterThan(0);
    s.child.kill('SIGHUP');
    expect(await within(s.exited, 20_000, 'exit after SIGHUP')).toBe(129);
    expect(nsOf(runs)).toEqual([]);
    expect(runsOf(s.child.pid!)).toEqual([]); // the journal went with its clean-up
    ev.close();
  }, 60_000);

  it('--target: the same page runs the subject in a guest kernel (linux-6.1-qemu), step by step', async () => {
    const s = await serve(['--target', 'linux-6.1-qemu']);
    const ev = events(s.port);
    const hello = await ev.until((e) => e.event === 'hello');
    expect(hello.data.target).toBe('linux-6.1-qemu');
    // A lab that cannot run on the target is marked, and refused if asked for anyway.
    expect(hello.data.labs.find((l: { id: string }) => l.id === 'proxy').unsupported).toBeTruthy();
    const post = (path: string, body: unknown) => http(s.port, path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tcplab-token': s.token }, body: JSON.stringify(body) });
    expect((await post('/run', { lab: 'proxy' })).status).toBe(400);
    expect((await post('/run', { lab: 'reuse', case: 'bound-reuse0' })).status).toBe(202);
    for (let n = 1; n <= 4; n++) {
      await ev.until((e) => e.event === 'step' && e.data.n === n && e.data.waiting, 120_000);
      await post('/next', {});
    }
    const done = await ev.until((e) => e.event === 'done', 60_000);
    expect(done.data.verdict).toBe('PASS');
    expect(ev.got.some((e) => e.event === 'log' && /linux 6\.1\.\S+ on linux-6\.1-qemu \(on trial\)/.test(e.data))).toBe(true);
    const ladder = ev.got.filter((e) => e.event === 'ladder').pop()!;
    expect((ladder.data.svg.match(/<line class="arrow"/g) ?? []).length).toBeGreaterThanOrEqual(9);
    ev.close();
    expect(await within(s.exited, 30_000, 'exit after the page went away')).toBe(0);
  }, 240_000);
});
