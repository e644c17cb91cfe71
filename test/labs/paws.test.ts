// lab:paws run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:paws (root)', () => {
  requireRoot();
  it('passes on this kernel: an older TSval is dropped by PAWS, a missing one is accepted', () => {
    const { check } = runLabChecked('paws', ['--no-pcap'], 2);
    expect(check('ts-older', 'ts-negotiated').observed).toBe(true);
    expect(check('ts-older', 'stale-data').observed).toBe('dropped');
    expect(check('ts-missing', 'stale-data').observed).toBe('accepted');
  }, 60_000);
});
