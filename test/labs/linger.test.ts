// lab:linger run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:linger (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('linger', ['--no-pcap'], 2);
    expect(check('linger0', 'rst-not-fin').observed).toBe('RST');
    expect(check('normal-close', 'time-wait').observed).toBe('TIME-WAIT');
    expect(check('linger0', 'data-lost').observed as number).toBeGreaterThan(0);
  }, 90_000);
});
