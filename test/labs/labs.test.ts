// The headline labs, run as a user runs them (the CLI, as root), checked through their JSON reports.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';
import { CLI, runCli as run, runLabChecked } from '../helpers/labrun.js';
import { expectAnnotatedPcapng } from '../helpers/pcapng.js';

describe('headline labs (root)', () => {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-labs-'));

  for (const lab of ['reuse', 'timewait-syn']) {
    it(`lab:${lab} passes on this kernel with packet evidence, writes pcaps and leaves nothing behind`, () => {
      const { report, cases } = runLabChecked(lab, ['--pcap', dir], 5);
      expect(report.labs[0]!.stack.os).toBe('linux');
      for (const c of cases) {
        expect(c.packets.some((p) => p.flags === 'S')).toBe(true);
        expect(c.pcap && existsSync(c.pcap)).toBe(true);
        // Annotated pcapng: tshark reads it and shows comments and the capture points' names.
        expectAnnotatedPcapng(c.pcap!, (c.packets as Array<{ point?: string }>).map((p) => p.point!));
      }
    }, 60_000);
  }

  it('an impossible expectation gives DIFFERS with the packets and a non-zero exit', () => {
    const file = join(dir, 'impossible.json');
    writeFileSync(file, JSON.stringify({ 'isn-above/answer': { linux: [{ versions: '*', expect: 'RST' }] } }));
    const { status, report } = run(['run', 'timewait-syn', '--case', 'isn-above', '--no-pcap', '--expectations', file]);
    expect(status).toBe(1);
    expect(report.verdict).toBe('DIFFERS');
    const check = report.labs[0]!.cases[0]!.checks.find((k) => k.id === 'answer')!;
    expect(check.verdict).toBe('DIFFERS');
    expect(check.observed).toBe('SYN-ACK');
    expect(check.evidence.packets.length).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('--target linux-host is this machine: a two-host lab runs; on a stack without a partner link it is refused (exit 4) before anything starts', () => {
    const { status, report } = run(['run', 'linger', '--case', 'linger0', '--no-pcap', '--target', 'linux-host']);
    expect(status).toBe(0);
    expect(report.verdict).toBe('PASS');
    // Not applicable there: kselftest's skip code.
    const r = spawnSync(process.execPath, [CLI, 'run', 'linger', '--target', 'slirp'], { encoding: 'utf8' });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/--target slirp: linger: slirp has no sockets of its own to put on trial/);
    // A case that cannot run with this subject is refused up front too.
    const r2 = spawnSync(process.execPath, [CLI, 'run', 'lastack', '--case', 'rfc1337-rst', '--target', 'linux-6.1-qemu'], { encoding: 'utf8' });
    expect(r2.status).toBe(4);
    expect(r2.stderr).toMatch(/rfc1337-rst: the stray RST toward the client .*--subject client/);
  }, 30_000);

  it('bad input is refused with the field named and exit code 2', () => {
    const r1 = spawnSync(process.execPath, [CLI, 'run', 'nope'], { encoding: 'utf8' });
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/unknown lab 'nope'/);
    const r2 = spawnSync(process.execPath, [CLI, 'run', 'reuse', '--case', 'nope'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/--case: unknown case of reuse 'nope' \(cases: reuse0, /);
    const r3 = spawnSync(process.execPath, [CLI, 'run', 'reuse', '--tolerance-scale', 'x'], { encoding: 'utf8' });
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/--tolerance-scale/);
    rmSync(dir, { recursive: true, force: true });
  });
});
