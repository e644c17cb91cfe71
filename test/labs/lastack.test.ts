// lab:lastack run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:lastack (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('lastack', ['--no-pcap'], 4);
    expect(check('normal', 'answer').observed).toBe('ACK');
    expect(check('max-tw-buckets', 'answer').observed).toBe('RST');
    expect(check('rfc1337-rst', 'answer').observed).toBe('RST');
    expect(check('rfc1337-rst', 'app-sees').observed).toBe('ECONNRESET');
  }, 90_000);
});
