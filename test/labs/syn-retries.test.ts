// lab:syn-retries run as a user runs it (the CLI, as root): this kernel (6.5+, linear timeouts) and a 5.10 guest (none).
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:syn-retries (root)', () => {
  requireRoot();
  it('on this kernel: 1 s then doubling without linear timeouts; 1 s, 1 s, 1 s, 2 s with two of them', () => {
    const { check } = runLabChecked('syn-retries', ['--no-pcap', '--jobs', '2'], 2);
    expect(check('exponential', 'syns').observed).toBe(3);
    expect(check('linear', 'syns').observed).toBe(5);
    expect(check('linear', 'gap-2').observed as number).toBeLessThan(1200);
    expect(check('linear', 'gap-4').observed as number).toBeGreaterThan(1800);
  }, 60_000);
  it('on linux-5.10-qemu (no tcp_syn_linear_timeouts): both cases back off exponentially', () => {
    const { cases, check } = runLabChecked('syn-retries', ['--no-pcap', '--target', 'linux-5.10-qemu'], 2);
    expect(cases.find((c) => c.id === 'linear')!.sysctls['client:net.ipv4.tcp_syn_linear_timeouts']).toMatch(/^absent/);
    expect(check('linear', 'syns').observed).toBe(3);
    expect(check('linear', 'gap-2').observed as number).toBeGreaterThan(1800);
  }, 90_000);
});
