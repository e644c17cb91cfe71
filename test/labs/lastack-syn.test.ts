// lab:lastack-syn run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:lastack-syn (root)', () => {
  requireRoot();
  it('passes on this kernel: challenge ACK from LAST-ACK, the RST clears it, the resent SYN connects', () => {
    const { check } = runLabChecked('lastack-syn', ['--no-pcap'], 1);
    expect(check('reuse-syn', 'last-ack').observed).toBe('LAST-ACK');
    expect(check('reuse-syn', 'answer').observed).toBe('ACK');
    expect(check('reuse-syn', 'after-rst').observed).toBe('gone');
    expect(check('reuse-syn', 'client-outcome').observed).toBe('connected after RST + SYN again');
  }, 60_000);
});
