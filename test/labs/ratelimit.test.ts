// lab:ratelimit run as a user runs it (the CLI, as root), on this kernel and on a guest kernel.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

function expectLimits(check: ReturnType<typeof runLabChecked>['check']): void {
  for (const k of ['ack-oow', 'syn-refused', 'syn-paws']) {
    expect(check('limited', `answers-${k}`).observed, k).toBe(1);
    expect(check('limited', `skipped-${k}`).observed, k).toBe(4);
    expect(check('off', `answers-${k}`).observed, k).toBe(5);
  }
  for (const k of ['fin', 'data']) {
    expect(check('limited', `answers-${k}`).observed, k).toBe(5);
    expect(check('limited', `skipped-${k}`).observed, k).toBe(0);
  }
  // The global challenge ACK budget: 1 a second (2 if the burst straddles a second), or all five.
  expect([1, 2]).toContain(check('challenge-limit-1', 'challenge-acks').observed);
  expect(check('challenge-limit-1000', 'challenge-acks').observed).toBe(5);
}

describe('lab:ratelimit (root)', () => {
  requireRoot();
  it('on this kernel: one ACK per 500 ms for pure ACKs and SYNs, every FIN and data segment answered; none limited at 0; the global challenge ACK budget', () => {
    expectLimits(runLabChecked('ratelimit', ['--no-pcap'], 4).check);
  }, 60_000);
  it('on linux-6.12-qemu: the same', () => {
    expectLimits(runLabChecked('ratelimit', ['--no-pcap', '--target', 'linux-6.12-qemu'], 4).check);
  }, 90_000);
});
