// lab:tw-reuse-delay run as a user runs it (the CLI, as root): this kernel and a 7.2 guest have the
// sysctl; a 6.12 guest has the older second-boundary rule.
import { describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:tw-reuse-delay (root)', () => {
  requireRoot();
  it('on this kernel: reuse after 100, 1000 and 3000 ms from the FIN', () => {
    const { check } = runLabChecked('tw-reuse-delay', ['--no-pcap'], 3);
    for (const d of [100, 1000, 3000]) {
      expect(check(`delay-${d}`, 'refused-before').observed).toBe('EADDRNOTAVAIL');
      // The kernel's moment lies between the last refusal and the reusing SYN.
      expect(check(`delay-${d}`, 'refused-not-after').observed as number).toBeLessThanOrEqual(d + 5);
      expect(check(`delay-${d}`, 'reuse-not-before').observed as number).toBeGreaterThanOrEqual(d - 5);
    }
  }, 60_000);
  it('on linux-7.2-qemu (has the sysctl) and linux-6.12-qemu (reuse within the next second)', () => {
    const seven = runLabChecked('tw-reuse-delay', ['--no-pcap', '--target', 'linux-7.2-qemu'], 3);
    expect(seven.check('delay-3000', 'reuse-not-before').observed as number).toBeGreaterThanOrEqual(2995);
    expect(seven.check('delay-3000', 'refused-not-after').observed as number).toBeLessThanOrEqual(3005);
    const twelve = runLabChecked('tw-reuse-delay', ['--no-pcap', '--target', 'linux-6.12-qemu', '--case', 'delay-3000'], 1);
    // Asked for 3000 ms, the 6.12 kernel (no such sysctl) stops refusing within the next second.
    expect(twelve.cases[0]!.checks.find((k) => k.id === 'reuse-not-before')).toBeUndefined();
    const refused = twelve.cases[0]!.checks.find((k) => k.id === 'refused-not-after');
    if (refused) expect(refused.observed as number).toBeLessThanOrEqual(1005);
  }, 90_000);
});
