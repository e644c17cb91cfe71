// lab:rfc1337 run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:rfc1337 (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('rfc1337', ['--no-pcap'], 2);
    // The exact-seq RST kills the TIME-WAIT only with tcp_rfc1337=0; the off-window ones never do.
    expect(check('rfc1337-0', 'rst-exact').observed).toBe('gone');
    expect(check('rfc1337-1', 'rst-exact').observed).toBe('TIME-WAIT');
    for (const id of ['rst-far', 'rst-minus1', 'rst-plus1']) expect(check('rfc1337-0', id).observed).toBe('TIME-WAIT');
  }, 90_000);
});
