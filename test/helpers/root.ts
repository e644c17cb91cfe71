// Root-only tests never skip: without root they fail with the reason, so CI cannot go green silently.
import { beforeAll } from 'vitest';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Call at the top of a describe() whose tests need root (namespaces, raw sockets, nftables). */
export function requireRoot(): void {
  beforeAll(() => {
    if (!isRoot()) {
      throw new Error('this test needs root (network namespaces, raw sockets): run `sudo npm test`');
    }
  });
}
