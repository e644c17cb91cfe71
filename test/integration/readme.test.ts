// The README's two set-up commands, followed on a fresh `git clone` of this repository (the closest this
// machine allows to a new Debian box: the Debian packages are there already, so the test asserts they are
// checked and skipped; npm's cache is warm). Command 1 must install, build and pass lab:reuse, and be
// idempotent; command 2 must run the test set-up and then the test runner (here on one small test file,
// and without the guests, which .ci/run builds by running the same script whole).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The commands of the README's Install block (the first sh block of that section). */
export function installCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf('\n## Install'), readme.indexOf('\n## ', readme.indexOf('\n## Install') + 5));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

function run(cmd: string, cwd: string, env: Record<string, string> = {}) {
  const t0 = Date.now();
  // We are root already: `sudo` is dropped (it may not even be installed), as sudo would run it as root.
  const r = spawnSync('sh', ['-c', cmd.replace(/^sudo /, '')], { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { code: r.status, out: r.stdout + r.stderr, secs: (Date.now() - t0) / 1000 };
}

describe('README: set-up in two commands on a fresh clone', () => {
  requireRoot();
  const cleanup: string[] = [];
  afterAll(() => { for (const d of cleanup) rmSync(d, { recursive: true, force: true }); });

  it('names exactly two commands, and .ci/run runs the second', () => {
    const cmds = installCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(cmds).toEqual(['sudo npm run first-lab', 'sudo npm run test:all']);
    expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/^npm run test:all -- /m);
  });

  it('command 1 installs, builds and passes lab:reuse, then skips everything; command 2 sets up and runs tests', () => {
    const [first, second] = installCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-readme-'));
    cleanup.push(dir);
    const clone = join(dir, 'tcplab');
    expect(run(`git clone --quiet "${ROOT}" "${clone}"`, dir).code).toBe(0);
    expect(existsSync(join(clone, 'node_modules'))).toBe(false);

    // As `sudo` would run it for uid 65534: what it makes in the clone and the lab's pcaps are theirs.
    const a = run(first!, clone, { SUDO_UID: '65534', SUDO_GID: '65534' });
    expect(a.code, a.out.slice(-3000)).toBe(0);
    for (const f of ['node_modules', 'build/Release/tcplab.node', 'dist/src/cli.js', 'tcplab-out', 'tcplab-out/reuse-reuse0.pcapng']) expect([f, statSync(join(clone, f)).uid]).toEqual([f, 65534]);
    expect(a.out).toContain('added '); // npm ci
    expect(a.out).toMatch(/verdict: PASS \s*\(7 case\(s\)/);
    for (const f of ['node_modules/.tcplab-lock', 'build/Release/tcplab.node', 'dist/src/cli.js', 'tcplab-out/reuse-reuse0.pcapng']) expect(existsSync(join(clone, f)), f).toBe(true);

    const again = run('sh scripts/setup.sh', clone);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toContain('setup: node_modules up to date');
    expect(again.out).toContain('setup: addon up to date');
    expect(again.out).toContain('setup: dist/ up to date');
    expect(again.out).not.toContain('apt-get install');
    expect(again.secs).toBeLessThan(10);

    const b = run(`${second!} -- test/unit/seq.test.ts`, clone, { TCPLAB_SETUP_GUESTS: '0' });
    expect(b.code, b.out.slice(-3000)).toBe(0);
    expect(b.out).toContain('setup: node_modules up to date');
    expect(existsSync(join(clone, 'build-cmake', 'Release', 'tcplab.node')), 'the cmake-js build').toBe(true);
    expect(b.out).toContain('setup-test: guests skipped');
    expect(b.out).toMatch(/Test Files\s+.*1 passed/);
  }, 900_000);
});
