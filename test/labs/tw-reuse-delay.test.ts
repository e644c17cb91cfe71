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
      expect(Math.abs((check(`delay-${d}`, 'reuse-after').observed as number) - d)).toBeLessThan(60);
    }
  }, 60_000);
  it('on linux-7.2-qemu (has the sysctl) and linux-6.12-qemu (reuse within the next second)', () => {
    const seven = runLabChecked('tw-reuse-delay', ['--no-pcap', '--target', 'linux-7.2-qemu'], 3);
    expect(Math.abs((seven.check('delay-3000', 'reuse-after').observed as number) - 3000)).toBeLessThan(60);
    const twelve = runLabChecked('tw-reuse-delay', ['--no-pcap', '--target', 'linux-6.12-qemu', '--case', 'delay-3000'], 1);
    expect(twelve.check('delay-3000', 'reuse-after').observed as number).toBeLessThan(1100);
  }, 90_000);
});
