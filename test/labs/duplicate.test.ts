// lab:duplicate run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:duplicate (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('duplicate', ['--no-pcap'], 4);
    expect(check('ts-off', 'app-reads').observed).toBe('new data + old data');
    expect(check('ts-on', 'app-reads').observed).toBe('new data only');
  }, 90_000);
});
