// Real packetdrill against this machine's kernel (docs/packetdrill.md builds it; TCPLAB_PACKETDRILL
// names the binary). Without it this test fails, saying so: it never passes silently.
// The committed scripts (docs/packetdrill/*.pkt) were exported on Linux 6.18; on a kernel that behaves
// otherwise (e.g. < 6.10: a fresh ISN for a SYN that reuses a TIME-WAIT) they fail, as they should.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { CLI } from '../helpers/labrun.js';
import { packetdrillBinary, verifyScript } from '../../src/export/packetdrill/verify.js';
import { parseScript } from '../../src/export/packetdrill/syntax.js';

const DOCS = join(__dirname, '..', '..', 'docs', 'packetdrill');
const scripts = readdirSync(DOCS).filter((f) => f.endsWith('.pkt'));
const bin = () => packetdrillBinary()!;

describe('exported scripts run by real packetdrill', () => {
  requireRoot();
  beforeAll(() => {
    if (!packetdrillBinary()) {
      throw new Error('TCPLAB_PACKETDRILL is not set, so packetdrill cannot run these scripts: build packetdrill as docs/packetdrill.md shows and set TCPLAB_PACKETDRILL=/path/to/packetdrill (this test does not skip)');
    }
  });
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-pd-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packetdrill\'s own parser (--dry_run) reads every script the syntax checker accepts, and rejects a bad one', () => {
    for (const f of scripts) {
      expect(parseScript(readFileSync(join(DOCS, f), 'utf8')).problems, f).toEqual([]);
      const r = spawnSync(bin(), ['--dry_run', join(DOCS, f)], { encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
    const bad = join(dir, 'bad.pkt');
    writeFileSync(bad, '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < .S 0:0(0) win 1\n');
    expect(spawnSync(bin(), ['--dry_run', bad], { encoding: 'utf8' }).status).not.toBe(0);
    expect(parseScript(readFileSync(bad, 'utf8')).problems.length).toBeGreaterThan(0);
  });

  it.each(scripts)('%s passes on this kernel', async (f) => {
    const r = await verifyScript(bin(), join(DOCS, f));
    expect(r.ok, r.output).toBe(true);
  }, 60_000);

  // The scripts must be able to fail: the same story with one thing changed, that the kernel answers otherwise.
  it.each([
    ['rfc1337-rfc1337-0.pkt', 'tcp_rfc1337=1 keeps the TIME-WAIT: the old-ISN SYN gets an ACK, no SYN-RECV', (s: string) => s.replace('`sysctl -q net.ipv4.tcp_rfc1337=0`', '`sysctl -q net.ipv4.tcp_rfc1337=1`')],
    ['timewait-syn-isn-above.pkt', 'an ISN below rcv_nxt is answered with an ACK, not a SYN-ACK', (s: string) => s.replace('< S 1100002:1100002(0)', '< S 900002:900002(0)')],
    ['paws-ts-missing.pkt', 'an older TSval on the last segment is dropped by PAWS', (s: string) => s.replace(/(< P\. 6:11\(5\) ack 1 win \d+)$/m, '$1 <nop,nop,TS val 999 ecr 100>')],
  ])('a changed %s fails (%s)', async (f, _why, change) => {
    const text = readFileSync(join(DOCS, f), 'utf8');
    const changed = change(text);
    expect(changed).not.toBe(text);
    const file = join(dir, `changed-${f}`);
    writeFileSync(file, changed);
    const r = await verifyScript(bin(), file);
    expect(r.ok, r.output).toBe(false);
  }, 60_000);

  it('tcplab export --packetdrill --verify runs a case, writes its script and passes it', () => {
    const out = join(dir, 'export');
    const r = spawnSync(process.execPath, [CLI, 'export', '--packetdrill', 'timewait-syn:isn-equal', '--out', out, '--verify'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/timewait-syn-isn-equal\.pkt: \d+ events .*packetdrill PASS/);
    expect(parseScript(readFileSync(join(out, 'timewait-syn-isn-equal.pkt'), 'utf8')).problems).toEqual([]);
  }, 120_000);

  it('refuses a case it cannot express, with the reason, and exit 4', () => {
    const r = spawnSync(process.execPath, [CLI, 'export', '--packetdrill', 'reuse:reuse1', '--out', join(dir, 'no')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/reuse:reuse1: not exportable: the kernel socket on trial is the client connecting out/);
  });
});
