// lab:keepalive run as a user runs it (the CLI, as root), checked through its JSON report.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:keepalive (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nothing is left behind', () => {
    const { check } = runLabChecked('keepalive', ['--no-pcap'], 4);
    expect(check('short-client-closes', 'time-wait').observed).toBe('20/0');
    expect(check('short-server-closes', 'time-wait').observed).toBe('0/20');
    expect(check('keepalive-client-closes', 'connections').observed).toBe('1/20');
    expect(check('keepalive-server-idle-timeout', 'first-fin').observed).toBe('client 0, server 1');
  }, 90_000);
});
