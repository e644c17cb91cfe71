// The CLI's root paths (one short case of timewait-syn each, ~1 s): files written under sudo belong to
// SUDO_UID, exit 1 for DIFFERS, exit 2 for an --expectations key that matched no check, colour on a
// terminal only, and capabilities instead of uid 0 (setpriv as uid 65534).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';
import { CLI } from '../helpers/labrun.js';

const CASE = ['run', 'timewait-syn', '--case', 'isn-above'];

function tcplab(args: readonly string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 90_000, cwd, env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env } as NodeJS.ProcessEnv });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tcplab run as root', () => {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-cliroot-'));
  chmodSync(dir, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives pcaps, reports and the folders it made to SUDO_UID/SUDO_GID', () => {
    const out = join(dir, 'sudo');
    const r = tcplab([...CASE, '--pcap', join(out, 'caps', 'deep'), '--json-file', join(out, 'r', 'run.json'), '--html', join(out, 'run.html')], { SUDO_UID: '65534', SUDO_GID: '65533' });
    expect(r.code, r.err).toBe(0);
    const seen: string[] = [];
    const walk = (p: string): void => {
      const st = statSync(p);
      expect([p, st.uid, st.gid]).toEqual([p, 65534, 65533]);
      seen.push(p);
      if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    };
    walk(out);
    expect(seen.some((p) => p.endsWith('.pcapng'))).toBe(true);
    expect(seen.filter((p) => p.endsWith('run.json') || p.endsWith('run.html'))).toHaveLength(2);
    // Without sudo's variables nothing changes hands.
    const plain = join(dir, 'plain');
    expect(tcplab([...CASE, '--pcap', plain], { SUDO_UID: undefined, SUDO_GID: undefined }).code).toBe(0);
    expect(statSync(plain).uid).toBe(0);
  });

  it('exits 1 when a behaviour differs, 2 when an --expectations key matched no check', () => {
    const f = join(dir, 'wrong.json');
    writeFileSync(f, JSON.stringify({ 'isn-above/answer': { linux: [{ versions: '*', expect: 'RST' }] } }));
    const r = tcplab([...CASE, '--no-pcap', '--expectations', f]);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toContain('DIFFERS');
    writeFileSync(f, JSON.stringify({ 'isn-above/answr': { linux: [{ versions: '*', expect: 'RST' }] } }));
    const u = tcplab([...CASE, '--no-pcap', '--expectations', f]);
    expect(u.code).toBe(2);
    expect(u.err).toContain("--expectations: 'isn-above/answr' matched no check of this run (did you mean 'isn-above/answer'?)");
  });

  it('colours the text report on a terminal only, and never under NO_COLOR', () => {
    const cmd = `"${process.execPath}" "${CLI}" ${CASE.join(' ')} --no-pcap`;
    const pty = (env: Record<string, string | undefined>) =>
      spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm', ...env } as NodeJS.ProcessEnv }).stdout;
    expect(pty({})).toContain('\x1b[32m');
    expect(pty({ NO_COLOR: '1' })).not.toContain('\x1b[');
    const piped = tcplab([...CASE, '--no-pcap']);
    expect(piped.out).not.toContain('\x1b[');
    expect(piped.out).toContain('verdict: PASS');
    // Progress goes to stderr, the report to stdout.
    expect(piped.err).toContain('✔ PASS');
    expect(piped.out).not.toContain('✔');
  });

  it('runs with CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_DAC_OVERRIDE as uid 65534, and says what is missing without them', () => {
    const as = (caps: string) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${caps}`, `--ambient-caps=${caps}`, process.execPath, CLI, ...CASE, '--no-pcap'], { encoding: 'utf8', timeout: 90_000, cwd: dir });
    const ok = as('+net_raw,+net_admin,+sys_admin,+dac_override');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('verdict: PASS');
    const no = as('+net_raw,+net_admin');
    expect(no.status).toBe(3);
    expect(no.stderr).toContain('missing: CAP_DAC_OVERRIDE, CAP_SYS_ADMIN');
  });
});
