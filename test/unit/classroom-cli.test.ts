// The classroom flags as a person meets them (no root): bad values name the flag and the fix.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');

function tcplab(args: readonly string[]) {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, input: '' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('run --step and serve: usage errors', () => {
  it.each([
    [['run', 'reuse', '--step-delay', 'soon'], /--step-delay: seconds from 0 to 3600.*got 'soon'/],
    [['run', 'reuse', '--step-delay', '-1'], /--step-delay: seconds from 0 to 3600/],
    [['run', 'reuse', '--step', '--jobs', '2'], /--step and --jobs: .*drop --jobs/],
    [['run', 'reuse', '--stpe'], /unknown option '--stpe' \(did you mean --step\?\)/],
    [['serve', '--port', '70000'], /serve: --port: an integer from 0 to 65535/],
    [['serve', '--grace', 'x'], /serve: --grace: seconds from 0 to 3600, got 'x'/],
    [['serve', '--target', 'nope'], /serve: .*nope/],
    [['serve', 'reuse'], /serve: unexpected argument 'reuse'/],
    [['serve', '--prot', '1'], /did you mean --port\?/],
  ])('%j', (args, message) => {
    const r = tcplab(args);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('help serve documents the flags and when it stops', () => {
    const r = tcplab(['help', 'serve']);
    expect(r.code).toBe(0);
    for (const f of ['--port', '--target', '--grace']) expect(r.out).toContain(f);
    expect(r.out).toMatch(/loopback only/);
    expect(tcplab(['help', 'run']).out).toMatch(/--step-delay S/);
  });
});
