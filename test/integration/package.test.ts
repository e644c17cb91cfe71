// The package as another project meets it: `npm pack` (which puts the prebuilt N-API addon in
// prebuilds/linux-x64), the tarball installed into an empty TypeScript project outside the repo,
// docs/api.md's example compiled with tsc --strict against the declarations and run (root: it builds a
// testbed), first on the prebuilt addon, then built from source on install (--build-from-source, the
// fallback node-gyp-build takes when the prebuilt one does not load). Also what the tarball holds.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireRoot } from '../helpers/root.js';

const ROOT = join(import.meta.dirname, '..', '..');

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (exit ${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

describe('npm pack, install and import from a TypeScript project', () => {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds what a user needs and nothing of the tests', () => {
    const files = (JSON.parse(sh('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT)) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'binding.gyp', 'native/addon.cc', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'dist/labs/index.js', 'schema/report.schema.json', 'docs/api.md']) expect(files).toContain(f);
    expect(files.filter((f) => /^(test|dist\/test|dist-test|bench|dist\/bench|guest|\.ci|native\/fuzz)\/|\.log$|\.map$|\.tgz$|^build/.test(f))).toEqual([]);
  });

  it('compiles docs/api.md example under tsc --strict and runs it against a TIME-WAIT', () => {
    // What `npm pack` runs (prepack, prepare) minus the rebuild of dist/, which pretest made already and
    // which other test files are running from.
    sh('npm', ['run', 'build:prebuilt', '--silent'], ROOT);
    const tgz = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], ROOT).trim().split('\n').pop()!;
    const proj = join(dir, 'consumer');
    execFileSync('mkdir', ['-p', proj]);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', lib: ['ES2022', 'esnext.disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out' },
      files: ['main.ts'],
    }));
    copyFileSync(join(ROOT, 'docs', 'api-example.ts'), join(proj, 'main.ts'));
    // The example in docs/api.md is this very file.
    expect(readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8')).toContain(readFileSync(join(ROOT, 'docs', 'api-example.ts'), 'utf8').trim());
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    sh('npm', ['install', join(dir, tgz), `typescript@${pkg.devDependencies.typescript}`, `@types/node@${pkg.devDependencies['@types/node']}`], proj);
    const installed = join(proj, 'node_modules', 'tcplab');
    expect(existsSync(join(installed, 'prebuilds', 'linux-x64', 'tcplab.node')), 'the prebuilt addon is in the tarball').toBe(true);
    expect(existsSync(join(installed, 'build')), 'the prebuilt addon loaded, so nothing was compiled').toBe(false);
    sh(join(proj, 'node_modules', '.bin', 'tsc'), ['-p', '.'], proj);
    const answer = /^TIME-WAIT answered S\. \(seq \d+, ack \d+\)\n$/;
    expect(sh(process.execPath, [join(proj, 'out', 'main.js')], proj)).toMatch(answer);
    // From source: what node-gyp-build does when the prebuilt binary does not load here.
    sh('npm', ['rebuild', 'tcplab', '--build-from-source'], proj);
    expect(existsSync(join(installed, 'build', 'Release', 'tcplab.node')), 'the addon was built on install').toBe(true);
    expect(sh(process.execPath, [join(proj, 'out', 'main.js')], proj)).toMatch(answer);
    // The CLI of the installed package.
    expect(sh(join(proj, 'node_modules', '.bin', 'tcplab'), ['--version'], proj)).toMatch(/^tcplab \d+\.\d+\.\d+\n$/);
  }, 300_000);
});
