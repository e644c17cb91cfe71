// The kernel catalogue and the up-front checks of a user-built kernel (src/targets/kernels.ts): no root,
// no QEMU; synthetic kernel images (a bzImage header, ELF files without the PVH note).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkKernelFile, hasPvhNote, kernelCatalogue, KernelFileError, kernelTarget } from '../../src/targets/kernels.js';
import { upstreamVersion } from '../../src/targets/qemu.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-kernels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A bzImage's first 4 KiB as far as the checks read it: 'HdrS' at 0x202 and kernel_version at 0x20e. */
function fakeBzImage(path: string, release: string): void {
  const b = Buffer.alloc(4096);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x0e00, 0x20e); // the version string at 0x1000
  writeFileSync(path, Buffer.concat([b, Buffer.from(`${release} (dev@box) #1 SMP\0`, 'latin1')]));
}

function tree(name: string, config?: Record<string, string>): string {
  const t = join(dir, name);
  mkdirSync(join(t, 'arch/x86/boot'), { recursive: true });
  fakeBzImage(join(t, 'arch/x86/boot/bzImage'), '6.19.0-rc2-dev');
  const base = { CONFIG_BLK_DEV_INITRD: 'y', CONFIG_DEVTMPFS: 'y', CONFIG_INET: 'y', CONFIG_UNIX98_PTYS: 'y', CONFIG_VIRTIO_PCI: 'y', CONFIG_VIRTIO_NET: 'y', CONFIG_VIRTIO_CONSOLE: 'y' };
  if (config) writeFileSync(join(t, '.config'), Object.entries({ ...base, ...config }).map(([k, v]) => (v === 'n' ? `# ${k} is not set` : `${k}=${v}`)).join('\n') + '\n');
  return join(t, 'arch/x86/boot/bzImage');
}

describe('kernel catalogue', () => {
  it('has 5.10, 6.1, 6.12, sid and the rc, each with its suite and a package pattern', () => {
    const c = kernelCatalogue();
    expect(c.map((k) => k.suite)).toEqual(['bullseye', 'bookworm', 'trixie', 'sid', 'experimental']);
    expect(c.slice(0, 3).map((k) => k.id)).toEqual(['linux-5.10-qemu', 'linux-6.1-qemu', 'linux-6.12-qemu']);
    expect(c[3]!.id).toMatch(/^linux-\d+\.\d+-qemu$/);
    expect(c[4]!.id).toBe('linux-rc-qemu');
    expect(new RegExp(c[0]!.pattern).test('linux-image-5.10.0-32-amd64')).toBe(true);
    expect(new RegExp(c[0]!.pattern).test('linux-image-5.10.0-32-rt-amd64')).toBe(false);
    expect(new RegExp(c[2]!.pattern).test('linux-image-6.12.117+deb13-amd64')).toBe(true);
    expect(new RegExp(c[3]!.pattern).test('linux-image-7.2.13+deb14-amd64')).toBe(true);
    expect(new RegExp(c[3]!.pattern).test('linux-image-7.2.13+deb14-cloud-amd64')).toBe(false);
    expect(new RegExp(c[4]!.pattern).test('linux-image-7.3-amd64')).toBe(true);
    // No pinned build numbers: later uploads match too.
    expect(new RegExp(c[0]!.pattern).test('linux-image-5.10.0-99-amd64')).toBe(true);
    expect(new RegExp(c[1]!.pattern).test('linux-image-6.1.0-99-amd64')).toBe(true);
    expect(new RegExp(c[2]!.pattern).test('linux-image-6.12.999+deb13-amd64')).toBe(true);
  });
});

describe('upstreamVersion', () => {
  it("reads the build string, not the compiler's Debian version", () => {
    const v61 = 'Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-10-01)';
    expect(upstreamVersion(v61, '6.1.0-57-amd64')).toBe('6.1.192');
    const rc = 'Linux version 7.3-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-15 (Debian 15.2.0-9) 15.2.0, GNU ld (GNU Binutils for Debian) 2.45) #1 SMP PREEMPT_DYNAMIC Debian 7.3~rc7-1~exp1 (2026-11-23)';
    expect(upstreamVersion(rc, '7.3-amd64')).toBe('7.3');
    expect(upstreamVersion('Linux version 6.19.0-rc2-dev (dev@box) (gcc (Debian 14.2.0-19) 14.2.0) #3 SMP', '6.19.0-rc2-dev')).toBe('6.19.0-rc2-dev');
  });
});

describe('checkKernelFile', () => {
  it('refuses a file that is not a kernel, naming it and the fix', () => {
    const f = join(dir, 'notes.txt');
    writeFileSync(f, 'not a kernel\n'.repeat(100));
    expect(() => checkKernelFile(f)).toThrow(KernelFileError);
    expect(() => checkKernelFile(f)).toThrow(`--kernel ${f}: not a Linux kernel image (no bzImage header 'HdrS' at 0x202, not an ELF file): pass a built kernel: <tree>/arch/x86/boot/bzImage or <tree>/vmlinux`);
    expect(() => kernelTarget(join(dir, 'missing'))).toThrow(/missing: no such file/);
    expect(() => kernelTarget(dir)).toThrow(/is a directory, not a kernel image/);
  });

  it('refuses an ELF without the PVH note', () => {
    expect(hasPvhNote(process.execPath)).toBe(false);
    expect(() => checkKernelFile(process.execPath)).toThrow(
      `--kernel ${process.execPath}: an ELF file without a PVH entry note (Xen ELF note type 18), so QEMU cannot boot it directly: pass the bzImage (<tree>/arch/x86/boot/bzImage) instead, or build the kernel with CONFIG_PVH=y`,
    );
  });

  it("takes a bzImage whose tree's .config builds the drivers in, and reads its release", () => {
    const c = checkKernelFile(tree('all-y', {}));
    expect(c).toMatchObject({ kind: 'bzImage', release: '6.19.0-rc2-dev', warnings: [] });
    expect(c.builtinSource).toMatch(/all-y\/\.config$/);
    const f = kernelTarget(tree('all-y2', {}));
    expect(f.id).toBe('linux-6.19-custom-qemu');
    expect(f.title).toContain('6.19.0-rc2-dev');
  });

  it('refuses a kernel whose .config makes a needed driver a module when no --modules has it, or leaves it out', () => {
    const m = tree('net-m', { CONFIG_VIRTIO_NET: 'm' });
    expect(() => checkKernelFile(m)).toThrow(/virtio_net is a module \(CONFIG_VIRTIO_NET=m\) but no virtio_net\.ko is in \(no --modules given\).*build them in \(=y\), or pass --modules <tree>/);
    // With the module in --modules (any layout: a tree, lib/modules/<release>, a flat dir of .ko files) it passes.
    const mods = join(dir, 'net-m', 'drivers/net');
    mkdirSync(mods, { recursive: true });
    writeFileSync(join(mods, 'virtio_net.ko'), '');
    expect(checkKernelFile(m, { modules: join(dir, 'net-m') }).warnings).toEqual([]);
    expect(() => checkKernelFile(tree('console-n', { CONFIG_VIRTIO_CONSOLE: 'n' }))).toThrow(/CONFIG_VIRTIO_CONSOLE is not set/);
    expect(() => checkKernelFile(tree('no-initrd', { CONFIG_BLK_DEV_INITRD: 'n' }))).toThrow(/CONFIG_BLK_DEV_INITRD is not =y/);
    expect(() => checkKernelFile(m, { modules: join(dir, 'nowhere') })).toThrow(/--modules .*nowhere: not a directory/);
  });

  it('warns (and lets it boot) when nothing tells whether the drivers are built in', () => {
    const c = checkKernelFile(tree('bare'));
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(/cannot tell whether virtio_pci, virtio_net, virtio_console are built in .*booting anyway/);
  });
});
