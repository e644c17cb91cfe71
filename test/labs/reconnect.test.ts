// lab:reconnect run as a user runs it (the CLI, as root), on this kernel and with a guest kernel as the server.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

function expectBothPaths(check: ReturnType<typeof runLabChecked>['check']): void {
  expect(check('fast', 'answer').observed).toBe('ACK');
  expect(check('fast', 'skipped-counter').observed).toBe(0);
  expect(check('fast', 'syns').observed).toBe(2);
  expect(check('fast', 'reconnect').observed as number).toBeLessThan(200);
  expect(check('slow', 'dupack').observed).toBe('ACK');
  expect(check('slow', 'answer').observed).toBe('nothing');
  expect(check('slow', 'skipped-counter').observed).toBe(1);
  expect(check('slow', 'syns').observed).toBe(3);
  // This machine's client: two SYN timeouts of 1 s (tcp_syn_linear_timeouts, 6.5+).
  const slow = check('slow', 'reconnect').observed as number;
  expect(slow).toBeGreaterThan(1900);
  expect(slow).toBeLessThan(2400);
}

describe('lab:reconnect (root)', () => {
  requireRoot();
  it('on this kernel: the challenge ACK gives a reconnect in ms; withheld after an out-of-window ACK, it takes two SYN timeouts', () => {
    expectBothPaths(runLabChecked('reconnect', ['--no-pcap'], 2).check);
  }, 60_000);
  it('with linux-6.12-qemu as the server: the same two paths', () => {
    const { report, check } = runLabChecked('reconnect', ['--no-pcap', '--target', 'linux-6.12-qemu'], 2);
    expect(report.labs[0]!.stack.release).toMatch(/^6\.12\./);
    expectBothPaths(check);
  }, 90_000);
});
