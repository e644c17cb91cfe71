// lab:abort run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:abort (root)', () => {
  requireRoot();
  it('passes on this kernel: SO_LINGER {1, 0} and unread data both turn close() into an RST at snd_nxt', () => {
    const { check } = runLabChecked('abort', ['--no-pcap'], 2);
    for (const c of ['linger0', 'unread-data']) {
      expect(check(c, 'first').observed).toBe('RST');
      expect(check(c, 'rst-seq').observed).toBe('snd_nxt');
    }
  }, 60_000);
});
