// run --step through a real pseudo-terminal (tmux): the lab pauses before each step, Enter runs it, the
// live ladder lines appear under the step that caused them and in the order of the final report, and
// Ctrl-C at a pause stops the run with everything it created removed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { CLI } from '../helpers/labrun.js';
import { tcplabNamespaces } from '../helpers/leftovers.js';
import { readJournals } from '../../src/testbed/journal.js';
import { runIdOf } from '../../src/testbed/names.js';

/** The runs of tcplab processes started from this test's folder (other runs may share the machine). */
function ourRuns(): string[] {
  return readJournals().filter((j) => {
    try {
      return readFileSync(`/proc/${j.pid}/cmdline`, 'utf8').includes('--step') && readFileSync(`/proc/${j.pid}/environ`, 'utf8').includes(`PWD=${dir}`);
    } catch {
      return false;
    }
  }).map((j) => j.runId);
}
const nsOf = (runs: readonly string[]) => tcplabNamespaces().filter((n) => runs.includes(runIdOf(n) ?? ''));

const dir = mkdtempSync(join(tmpdir(), 'tcplab-step-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
const sessions: string[] = [];

function tmux(...args: string[]) {
  const r = spawnSync('tmux', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A shell in a fresh tmux pane whose whole output is copied to a file; returns its name and reader. */
function pane(name: string, command: string) {
  const session = `tcplab-test-${name}-${process.pid}`;
  const log = join(dir, `${name}.log`);
  tmux('new-session', '-d', '-s', session, '-x', '180', '-y', '50', 'sh');
  sessions.push(session);
  tmux('pipe-pane', '-t', session, '-o', `cat >> ${log}`);
  tmux('send-keys', '-t', session, `${command}; echo "EXIT=$?"`, 'Enter');
  const text = () => (existsSync(log) ? strip(readFileSync(log, 'utf8')) : '');
  const waitFor = async (re: RegExp, ms = 30_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const m = re.exec(text());
      if (m) return m;
      await sleep(100);
    }
    throw new Error(`not seen within ${ms} ms: ${re}\n--- pane output ---\n${text().slice(-4000)}`);
  };
  return { session, text, waitFor, keys: (...k: string[]) => tmux('send-keys', '-t', session, ...k) };
}

/** flags, seq and ack of each arrow line of a ladder, in order. */
function arrows(text: string): string[] {
  return text.split('\n').filter((l) => /[├┤]/.test(l) && /seq \d+/.test(l)).map((l) => {
    const m = /([SFRPU.E]+)\s+seq (\d+)(?: ack (\d+))?/.exec(l)!;
    return `${m[1]} ${m[2]} ${m[3] ?? '-'}`;
  });
}

describe('run --step in a terminal', () => {
  requireRoot();
  beforeAll(() => {
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is not installed: apt-get install -y tmux (the classroom pty test needs it)');
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  });
  afterAll(() => {
    for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reuse --step: pauses before each step, Enter advances, the ladder grows in order under its step', async () => {
    const p = pane('step', `cd ${dir} && ${process.execPath} ${CLI} run reuse --case bound-reuse0 --no-pcap --step`);
    await p.waitFor(/▶ next, step 1:.*\n.*why:[^\n]*\n.*\[Enter\] runs it/);
    // Paused: step 1 does not run by itself.
    await sleep(1500);
    expect(p.text()).not.toMatch(/^ {2}1\. server listens/m);
    const steps = 4;
    const runs: string[] = [];
    const cut: number[] = [];
    for (let n = 1; n <= steps; n++) {
      await p.waitFor(new RegExp(`▶ next, step ${n}:[^\\n]*\\n(.*why:[^\\n]*\\n)+.*\\[Enter\\]`));
      expect(p.text()).not.toMatch(new RegExp(`^ {2}${n}\\. `, 'm'));
      cut.push(p.text().length);
      if (n === 2) runs.push(...ourRuns());
      p.keys('Enter');
      await p.waitFor(new RegExp(`^ {2}${n}\\. `, 'm'));
    }
    await p.waitFor(/EXIT=\d+/, 60_000);
    const all = p.text();
    expect(/EXIT=(\d+)/.exec(all)![1]).toBe('0');
    // The live part (before the report) and the report's ladder show the same arrows in the same order.
    const reportAt = all.indexOf('== case bound-reuse0');
    expect(reportAt).toBeGreaterThan(0);
    const live = arrows(all.slice(0, reportAt));
    const report = arrows(all.slice(reportAt));
    expect(live.length).toBeGreaterThanOrEqual(9); // handshake, close (3-4 segments), reconnect handshake
    expect(live).toEqual(report);
    // Each arrow appears under the step that caused it: none before step 2 ran, the first connection's
    // handshake and close during step 2, the takeover's SYN during step 4.
    const seg = (i: number) => arrows(all.slice(cut[i]!, i + 1 < cut.length ? cut[i + 1] : reportAt));
    expect(arrows(all.slice(0, cut[1]))).toEqual([]);
    expect(seg(1)[0]).toMatch(/^S 0 -$/);
    expect(seg(1).some((a) => a.startsWith('F'))).toBe(true);
    expect(seg(2)).toEqual([]);
    expect(seg(3)[0]).toMatch(/^S 0 -$/);
    // Each side's TCP state beside the live ladder.
    expect(all.slice(0, reportAt)).toMatch(/FIN-WAIT-1 ├─ F/);
    expect(all.slice(0, reportAt)).toMatch(/TIME-WAIT [│├]/);
    expect(runs.length).toBe(1);
    expect(nsOf(runs)).toEqual([]);
  }, 120_000);

  it('Ctrl-C at a pause stops the run and removes what it created', async () => {
    const p = pane('ctrlc', `cd ${dir} && ${process.execPath} ${CLI} run reuse --case bound-reuse0 --no-pcap --step`);
    await p.waitFor(/▶ next, step 1:/);
    p.keys('Enter');
    await p.waitFor(/▶ next, step 2:[\s\S]*\[Enter\]/);
    // The case's namespaces exist while it waits.
    const runs = ourRuns();
    expect(nsOf(runs).length).toBeGreaterThan(0);
    p.keys('C-c');
    const code = (await p.waitFor(/EXIT=(\d+)/, 30_000))[1];
    expect(code).toBe('130');
    expect(nsOf(runs)).toEqual([]);
    expect(readJournals().filter((j) => runs.includes(j.runId))).toEqual([]);
  }, 60_000);
});
