// lab:exhaustion run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:exhaustion (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('exhaustion', ['--no-pcap'], 5);
    expect(check('client-closes-first', 'connections').observed).toBe(10);
    expect(check('client-closes-first', 'errno').observed).toBe('EADDRNOTAVAIL');
    expect(check('more-tuples', 'connections').observed).toBe(40);
    for (const c of ['server-closes-first', 'tw-reuse', 'linger0']) expect(check(c, 'connections').observed).toBe(30);
  }, 90_000);
});
