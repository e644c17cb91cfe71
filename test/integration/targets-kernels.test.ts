// Every Linux kernel as a QEMU target (src/targets/kernels.ts): each catalogue kernel's guest (built by
// guest/ci-setup.sh) starts restored from its own snapshot and reports its version; user-built kernels
// (--kernel) boot from a Debian package's vmlinux and from its bzImage, and one without drivers fails
// fast with the reason. Needs root; a catalogue kernel that is not built fails (run sh guest/ci-setup.sh).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelCatalogue, kernelFactories, kernelTarget, type KernelSpec } from '../../src/targets/kernels.js';
import type { QemuTarget } from '../../src/targets/qemu.js';
import { requireRoot } from '../helpers/root.js';

const START_MS = 240_000; // a first start on a fresh cache also builds the snapshot (a cold boot under TCG)

/** The target answers as a host: its kernel's own sysctl and socket table over the control port. */
async function answers(t: QemuTarget): Promise<void> {
  expect(Number(await t.host.sysctl.get('net.ipv4.tcp_fin_timeout'))).toBeGreaterThan(0);
  expect((await t.host.channel.read('/proc/version')).startsWith(`Linux version ${t.stack.release} `)).toBe(true);
}

/** Starts a user-built kernel's factory: restored, the package's release and series, answering; then disposes. */
async function bootsRestored(f: ReturnType<typeof kernelTarget>, k: KernelSpec, series: [number, number], more: (t: QemuTarget) => void = () => {}): Promise<void> {
  const t = await f.start();
  try {
    more(t);
    expect(t.boot.mode, t.boot.note).toBe('restored');
    expect(t.stack.release).toBe(k.release);
    expect(t.stack.version.slice(0, 2)).toEqual(series);
    await answers(t);
  } finally {
    await t.dispose();
  }
}

function need(k: KernelSpec): void {
  if (!k.built) throw new Error(`${k.id}: no guest in ${k.dir} (run sh guest/ci-setup.sh, which builds every catalogue kernel)`);
}

describe('catalogue kernels in QEMU', () => {
  requireRoot();
  for (const k of kernelCatalogue()) {
    it(`${k.id} (Debian ${k.suite}) starts restored and reports its version`, async () => {
      if (k.id === 'linux-rc-qemu' && !k.built) {
        // The one entry that may legitimately be absent: only when experimental has no rc.
        const why = await kernelFactories().find((f) => f.id === k.id)!.unavailable();
        expect(why, `${k.id}: not built (run sh guest/ci-setup.sh)`).toBe('Debian experimental has no release candidate now');
        return;
      }
      need(k);
      const f = kernelFactories().find((x) => x.id === k.id)!;
      const t = await f.start();
      try {
        expect(t.id).toBe(k.id);
        expect(t.boot.mode, t.boot.note).toBe('restored');
        expect(t.stack.os).toBe('linux');
        expect(t.stack.release).toBe(readFileSync(join(k.dir, 'release'), 'utf8').trim());
        expect(t.stack.version.slice(0, 2).join('.')).toBe(k.series);
        // The Debian version the package states is the one the kernel reports (5.10.223-1 -> [5,10,223]).
        const deb = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(readFileSync(join(k.dir, 'version'), 'utf8'))!;
        expect(t.stack.version).toEqual([Number(deb[1]), Number(deb[2]), Number(deb[3] ?? 0)]);
        expect(f.title).toContain(`Linux ${t.stack.version[0]}.${t.stack.version[1]}`);
        await answers(t);
      } finally {
        await t.dispose();
      }
    }, START_MS);
  }
});

describe('--kernel: user-built kernels in QEMU', () => {
  requireRoot();
  const tmp = mkdtempSync(join(tmpdir(), 'tcplab-kernel-test-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const cat = () => kernelCatalogue();
  const byId = (id: string) => cat().find((k) => k.id === id)!;

  it("boots a Debian package's vmlinux (PVH ELF) with its modules", async () => {
    const k = byId('linux-5.10-qemu');
    need(k);
    // A "tree" as after make: vmlinux and .config side by side (5.10 has virtio_pci/_net/_console as modules).
    const tree = join(tmp, 'tree-5.10');
    mkdirSync(tree);
    copyFileSync(join(k.dir, 'vmlinux'), join(tree, 'vmlinux'));
    copyFileSync(join(k.dir, 'config'), join(tree, '.config'));
    expect(() => kernelTarget(join(tree, 'vmlinux'))).toThrow(/virtio_pci is a module \(CONFIG_VIRTIO_PCI=m\) but no virtio_pci\.ko/);
    const f = kernelTarget(join(tree, 'vmlinux'), { modules: join(k.dir, 'modules') });
    expect(f.id).toBe('linux-5.10-custom-qemu');
    expect(f.warnings).toEqual([]);
    await bootsRestored(f, k, [5, 10], (t) => expect(t.id).toBe('linux-5.10-custom-qemu'));
  }, START_MS);

  it("boots a bzImage made from a Debian package (zstd payload, unpacked to a PVH vmlinux), drivers per its .config", async () => {
    const k = byId('linux-6.12-qemu');
    need(k);
    const boot = join(tmp, 'tree-6.12', 'arch/x86/boot');
    mkdirSync(boot, { recursive: true });
    copyFileSync(join(k.dir, 'vmlinuz'), join(boot, 'bzImage'));
    copyFileSync(join(k.dir, 'config'), join(tmp, 'tree-6.12', '.config'));
    // 6.12: virtio_pci and virtio_console built in, virtio_net a module.
    expect(() => kernelTarget(join(boot, 'bzImage'))).toThrow(/virtio_net is a module \(CONFIG_VIRTIO_NET=m\)/);
    const f = kernelTarget(join(boot, 'bzImage'), { modules: join(k.dir, 'modules') });
    expect(f.id).toBe('linux-6.12-custom-qemu');
    await bootsRestored(f, k, [6, 12], () => expect(existsSync(join(f.dir, 'vmlinux'))).toBe(true));
  }, START_MS);

  it("a kernel without the virtio drivers fails fast with the reason, not after the boot timeout", async () => {
    const k = byId('linux-5.10-qemu');
    need(k);
    // Nothing next to it says what is built in: a warning, and it boots; its guest finds no control port.
    const bare = join(tmp, 'bare');
    mkdirSync(bare);
    copyFileSync(join(k.dir, 'vmlinux'), join(bare, 'vmlinux'));
    const f = kernelTarget(join(bare, 'vmlinux'));
    expect(f.warnings.join('\n')).toMatch(/cannot tell whether virtio_pci, virtio_net, virtio_console are built in/);
    const t0 = Date.now();
    await expect(f.start()).rejects.toThrow(/^linux-5\.10-custom-qemu: guest not ready: tcplab-guest: no virtio control port.*the kernel lacks virtio_pci, virtio_net or virtio_console/);
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, START_MS);
});
