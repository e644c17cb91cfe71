// Peer processes and kill-test children run compiled JS (dist/); rebuild it when src is newer.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function ensureBuilt(): void {
  const out = join(root, 'dist/src/peer/main.js');
  const stale = !existsSync(out) || ['src/peer', 'src/testbed'].some((d) => newest(join(root, d)) > statSync(out).mtimeMs);
  if (stale) {
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
    } catch {
      // tsc exits non-zero on type errors elsewhere but still emits; the existence check below decides
    }
  }
  if (!existsSync(out)) throw new Error('could not build dist/ (run `npm run build:ts`)');
}
