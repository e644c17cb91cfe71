import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cmdInspect } from '../../src/cli/inspect.js';

const fx = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'tcplab-inspectcli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await cmdInspect(argv, { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; }, isTTY: false });
  return { code, stdout, stderr };
}

describe('tcplab inspect (command)', () => {
  it('text with --explain, no colour when not a terminal', async () => {
    const r = await run(fx('inspect-twserver.cap'), '--explain');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('⚑ tw-syn-accepted');
    expect(r.stdout).toContain('rule: RFC 1122 §4.2.2.13; RFC 6191; tcp_timewait_state_process() -> TCP_TW_SYN');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('--json, --html, --time-wait', async () => {
    const html = join(dir, 'r.html');
    const r = await run(fx('inspect-twreuse.pcapng'), '--json', '--html', html, '--time-wait', '1');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('tcplab.inspect/1');
    expect(j.timeWaitMs).toBe(1000);
    expect(j.findings).toEqual([]); // 1.7 s between connections: TIME-WAIT of 1 s is over
    expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('--conn and --max-ladders', async () => {
    const r = await run(fx('inspect-twserver.cap'), '--max-ladders', '0');
    expect(r.stdout).not.toContain('Δt(ms)');
    const none = await run(fx('inspect-twserver.cap'), '--conn', '7');
    expect(none.stdout).not.toContain('== connection 1');
  });

  it('truncated captures: read up to the damage, warned with the offset; unreadable: exit 1; usage errors: exit 2', async () => {
    const bad = join(dir, 'bad.pcapng');
    writeFileSync(bad, readFileSync(fx('inspect-twreuse.pcapng')).subarray(0, 500));
    const r = await run(bad);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`tcplab inspect: ${bad}: truncated: the last block needs \\d+ bytes, \\d+ left at byte offset \\d+: read the \\d+ frame\\(s\\) before it`));
    expect(r.stdout).toMatch(/^warning: truncated/m);
    const garbage = join(dir, 'garbage.pcap');
    writeFileSync(garbage, 'not a capture');
    const g = await run(garbage);
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(new RegExp(`capture ${garbage}: not a pcap or pcapng capture \\(magic 0x[0-9a-f]+\\) \\(at byte offset 0\\)`));
    expect((await run(join(dir, 'missing.cap'))).code).toBe(1);
    expect((await run()).code).toBe(2);
    expect((await run(fx('inspect-twserver.cap'), '--time-wait', 'soon')).stderr).toMatch(/--time-wait: must be a number/);
    expect((await run(fx('inspect-twserver.cap'), '--bogus')).code).toBe(2);
  });
});
