// lab:twlen run as a user runs it (the CLI, as root), checked through its JSON report. The lab is slow (its
// `length` case watches a TIME-WAIT for a minute); CI runs the fast cases only.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:twlen (root, fast cases)', () => {
  requireRoot();
  it('fin-timeout and max-tw-buckets pass, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('twlen', ['--no-pcap', '--case', 'fin-timeout', '--case', 'max-tw-buckets'], 2);
    expect(check('fin-timeout', 'fin-wait-2-length').observed as number).toBeLessThan(7);
    expect(check('max-tw-buckets', 'time-waits').observed).toBe(5);
    expect(check('max-tw-buckets', 'overflow-counter').observed).toBe(5);
  }, 90_000);
});
