// lab:tw-timer run as a user runs it (the CLI, as root), on this kernel and on a guest kernel.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

const RESTARTED = ['ack', 'ack-oow', 'fin', 'data', 'syn-paws'];
const RUNNING = ['syn-refused', 'rst'];

function expectTimers(check: ReturnType<typeof runLabChecked>['check']): void {
  for (const k of RESTARTED) expect(check('restart', `restart-${k}`).observed, k).toBe('restarted');
  for (const k of RUNNING) expect(check('restart', `restart-${k}`).observed, k).toBe('running');
  expect(check('restart', 'answer-ack').observed).toBe('nothing');
  expect(check('restart', 'answer-fin').observed).toBe('ACK');
  expect(check('restart', 'answer-rst').observed).toBe('nothing');
}

describe('lab:tw-timer (root)', () => {
  requireRoot();
  it('on this kernel: ACKs, FINs, data and PAWS-rejected SYNs restart the TIME-WAIT timer; a refused SYN and an ignored RST do not', () => {
    expectTimers(runLabChecked('tw-timer', ['--no-pcap'], 1).check);
  }, 60_000);
  it('on linux-6.12-qemu: the same', () => {
    const { report, check } = runLabChecked('tw-timer', ['--no-pcap', '--target', 'linux-6.12-qemu'], 1);
    expect(report.labs[0]!.stack.release).toMatch(/^6\.12\./);
    expectTimers(check);
  }, 90_000);
});
