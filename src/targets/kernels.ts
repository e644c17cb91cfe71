// Any Linux kernel as a QEMU target. The catalogue: Debian's kernels by series, each from the suite that
// ships it (5.10 bullseye, 6.1 bookworm, 6.12 trixie, whatever sid ships, experimental's release candidate),
// the newest package matching a name pattern, never a pinned build. guest/build.sh fetches one through a
// private apt state per suite (<cache>/apt-suites/<suite>; the system's apt sources stay as they are) and
// builds its guest into <cache>/guest/<target id>/ (bookworm's 6.1 keeps <cache>/guest itself), where
// the target keeps its own snapshot. And kernelTarget(): a user-built bzImage or PVH vmlinux, checked up
// front, its guest cached by the kernel file's hash.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, type Dirent } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseVersion } from '../lab/kernel.js';
import { packageRoot } from '../wire/native.js';
import { buildGuest, guestBuilt, guestDir, QemuTarget, qemuUnavailable } from './qemu.js';
import type { TargetFactory } from './target.js';

export type DebianSuite = 'bullseye' | 'bookworm' | 'trixie' | 'sid' | 'experimental';

export interface KernelSpec {
  /** Target id: linux-<major.minor>-qemu, or linux-rc-qemu for experimental's release candidate. */
  readonly id: string;
  /** major.minor; for the rc only once it is fetched. */
  readonly series: string | undefined;
  readonly suite: DebianSuite;
  /** Package-name regex (apt-cache search --names-only); the newest match is taken. */
  readonly pattern: string;
  /** The Debian version must match this too (experimental: '~rc'). */
  readonly versionRe?: string;
  /** The guest dir (guest/build.sh's output). */
  readonly dir: string;
  /** guest/build.sh's arguments that build it. */
  readonly buildArgs: readonly string[];
  readonly built: boolean;
  /** Of the built guest: Debian package(s), Debian version, uname -r. */
  readonly packages?: string;
  readonly debianVersion?: string;
  readonly release?: string;
}

/** A catalogue entry or a user-built kernel as a stack factory. */
export interface KernelFactory extends TargetFactory {
  /** Its guest is built (kernel cached, initramfs made): it starts without fetching anything. */
  readonly built: boolean;
  readonly dir: string;
  /** What the up-front check could not tell (custom kernels), printed once when it starts. */
  readonly warnings: readonly string[];
  /** The catalogue entry (absent for user-built kernels). */
  readonly spec?: KernelSpec;
  start(): Promise<QemuTarget>;
}

const SID_AT_WRITING = '7.2'; // the series sid shipped when this was written: the id when nothing tells better

const FIXED: ReadonlyArray<{ series: string; suite: DebianSuite; pattern: string }> = [
  { series: '5.10', suite: 'bullseye', pattern: '^linux-image-5\\.10\\.0-[0-9]+-amd64$' },
  { series: '6.1', suite: 'bookworm', pattern: '^linux-image-6\\.1\\.0-[0-9]+-amd64$' },
  { series: '6.12', suite: 'trixie', pattern: '^linux-image-6\\.12\\.[0-9]+\\+deb13-amd64$' },
];
// sid's own builds (7.2.13+deb14-amd64), not the rt/cloud flavours.
const SID_PATTERN = '^linux-image-[0-9]+\\.[0-9]+\\.[0-9]+\\+deb[0-9]+-amd64$';
// experimental names its rc packages by series only (linux-image-7.3-amd64, version 7.3~rc7-1~exp1).
const RC_PATTERN = '^linux-image-[0-9]+\\.[0-9]+-amd64$';
const RC_VERSION = '~rc';

function cacheRoot(): string {
  return process.env.TCPLAB_CACHE ?? join(packageRoot(), '.cache');
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const cmpSeries = (a: string, b: string) => {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
};

/** The newest package of `suite` matching `pattern` per the private apt lists, if build.sh has made them. */
function aptNewest(suite: DebianSuite, pattern: string, versionRe?: string): { name: string; version: string } | undefined {
  const d = join(cacheRoot(), 'apt-suites', suite);
  if (!existsSync(join(d, 'sources.list'))) return undefined;
  const o = ['-o', `Dir::Etc::sourcelist=${d}/sources.list`, '-o', 'Dir::Etc::sourceparts=-', '-o', `Dir::State::Lists=${d}/lists`, '-o', `Dir::Cache=${d}/cache`, '-o', 'Dir::State::status=/dev/null'];
  const names = spawnSync('apt-cache', [...o, 'search', '--names-only', pattern], { encoding: 'utf8' });
  if (names.status !== 0) return undefined;
  const found = names.stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  if (found.length === 0) return undefined;
  const show = spawnSync('apt-cache', [...o, 'show', '--no-all-versions', ...found], { encoding: 'utf8' });
  const pkgs = [...(show.stdout ?? '').matchAll(/^Package: (\S+)\n(?:.*\n)*?Version: (\S+)/gm)].map((m) => ({ name: m[1]!, version: m[2]! }));
  return pkgs
    .filter((p) => !versionRe || new RegExp(versionRe).test(p.version))
    .sort((a, b) => cmpSeries(a.version.replace(/~.*/, ''), b.version.replace(/~.*/, '')) || a.version.localeCompare(b.version))
    .pop();
}

/** The series sid's entry stands for: its built guest's, else what sid ships per the private lists, else SID_AT_WRITING. */
function sidSeries(root: string): string {
  const built = listDirs(root)
    .map((n) => /^linux-(\d+\.\d+)-qemu$/.exec(n)?.[1])
    .filter((s): s is string => !!s && readText(join(root, `linux-${s}-qemu`, 'suite')) === 'sid' && guestBuilt(join(root, `linux-${s}-qemu`)))
    .sort(cmpSeries);
  if (built.length) return built.at(-1)!;
  const apt = aptNewest('sid', SID_PATTERN);
  return (apt && /^(\d+\.\d+)/.exec(apt.version)?.[1]) ?? SID_AT_WRITING;
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function spec(base: Omit<KernelSpec, 'built' | 'packages' | 'debianVersion' | 'release'>): KernelSpec {
  const built = guestBuilt(base.dir);
  if (!built) return { ...base, built };
  const packages = readText(join(base.dir, 'package'));
  const debianVersion = readText(join(base.dir, 'version'));
  const release = readText(join(base.dir, 'release'));
  return { ...base, built, ...(packages ? { packages } : {}), ...(debianVersion ? { debianVersion } : {}), ...(release ? { release } : {}) };
}

/** The catalogue as it stands now (sid's series and the rc's version follow what is built or listed). */
export function kernelCatalogue(): KernelSpec[] {
  const root = guestDir();
  const out: KernelSpec[] = [];
  for (const k of FIXED) {
    const id = `linux-${k.series}-qemu`;
    // 6.1 keeps the guest cache's top level, where it always was (and where lwip-peer and older snapshots live).
    const dir = k.series === '6.1' ? root : join(root, id);
    const buildArgs = k.series === '6.1' ? [] : ['--suite', k.suite, '--pattern', k.pattern, '--out', dir];
    out.push(spec({ id, series: k.series, suite: k.suite, pattern: k.pattern, dir, buildArgs }));
  }
  const sid = sidSeries(root);
  const sidDir = join(root, `linux-${sid}-qemu`);
  // Built: refresh that guest (initramfs, peer); else whatever sid ships, into the dir of its series.
  const sidOut = guestBuilt(sidDir) ? sidDir : join(root, 'linux-@SERIES@-qemu');
  out.push(spec({ id: `linux-${sid}-qemu`, series: sid, suite: 'sid', pattern: SID_PATTERN, dir: sidDir, buildArgs: ['--suite', 'sid', '--pattern', SID_PATTERN, '--out', sidOut] }));
  const rcDir = join(root, 'linux-rc-qemu');
  const rcSeries = readText(join(rcDir, 'release'))?.match(/^(\d+\.\d+)/)?.[1];
  out.push(spec({ id: 'linux-rc-qemu', series: guestBuilt(rcDir) ? rcSeries : undefined, suite: 'experimental', pattern: RC_PATTERN, versionRe: RC_VERSION, dir: rcDir, buildArgs: ['--suite', 'experimental', '--pattern', RC_PATTERN, '--version-re', RC_VERSION, '--out', rcDir] }));
  return out;
}

/** '5.10.223-1' -> '5.10.223', '7.3~rc7-1~exp1' -> '7.3-rc7'. */
function upstreamOf(debianVersion: string): string {
  return debianVersion.replace(/-[^-]*$/, '').replace(/~(rc\d+)/, '-$1');
}

function titleOf(k: KernelSpec): string {
  const pkg = k.packages?.split(' ').find((p) => p.startsWith('linux-image-'));
  if (k.suite === 'experimental') {
    return k.debianVersion
      ? `Linux ${upstreamOf(k.debianVersion)} (Debian experimental's release candidate, ${pkg ?? k.release}) in QEMU/TCG`
      : "Linux release candidate (Debian experimental's; the version is known once fetched) in QEMU/TCG";
  }
  if (k.debianVersion) return `Linux ${upstreamOf(k.debianVersion)} (Debian ${k.suite}'s ${pkg ?? k.release}) in QEMU/TCG`;
  return `Linux ${k.series} (Debian ${k.suite}'s kernel) in QEMU/TCG`;
}

function catalogueFactory(k: KernelSpec): KernelFactory {
  return {
    id: k.id,
    title: titleOf(k),
    built: k.built,
    dir: k.dir,
    warnings: [],
    spec: k,
    unavailable: async () => {
      const why = await qemuUnavailable(k.dir);
      if (why || k.built) return why;
      if (k.suite === 'experimental' && existsSync(join(cacheRoot(), 'apt-suites', 'experimental', 'sources.list')) && !aptNewest('experimental', RC_PATTERN, RC_VERSION)) {
        return 'Debian experimental has no release candidate now';
      }
      return undefined;
    },
    start: async () => {
      // What is built now (another start or ci-setup may have built it since this factory was made).
      let now = kernelCatalogue().find((c) => c.suite === k.suite)!;
      if (k.suite === 'sid' && !now.built) {
        // sid may have moved on since the id was picked: build, then start what was built.
        const why = await qemuUnavailable(now.dir);
        if (why) throw new Error(`${now.id}: ${why}`);
        await buildGuest(now.buildArgs).catch((e: Error) => {
          throw new Error(`${now.id}: guest/build.sh ${now.buildArgs.join(' ')} failed: ${e.message}`);
        });
        now = kernelCatalogue().find((c) => c.suite === 'sid')!;
      }
      return QemuTarget.start({ id: now.id, guestDir: now.dir, buildArgs: now.buildArgs });
    },
  };
}

/** Stack factories of the catalogue: 5.10, 6.1, 6.12, sid's, the rc. */
export function kernelFactories(): KernelFactory[] {
  return kernelCatalogue().map(catalogueFactory);
}

/** The catalogue kernels whose guests are built: they start without a download (the "every Linux version available" set). */
export function builtKernelFactories(): KernelFactory[] {
  return kernelFactories().filter((f) => f.built);
}

// ---- user-built kernels (--kernel FILE [--modules DIR]) ----

export class KernelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelFileError';
  }
}

export interface KernelFileCheck {
  file: string;
  kind: 'bzImage' | 'vmlinux';
  /** uname -r as the image states it, when it does. */
  release?: string;
  /** Where built-in drivers were looked up: a .config or a modules.builtin. */
  builtinSource?: string;
  warnings: string[];
}

/** The drivers the guest cannot do without (guest/init's control port and eth0): module name -> CONFIG_ symbol. */
const NEEDED: ReadonlyArray<[string, string]> = [
  ['virtio_pci', 'CONFIG_VIRTIO_PCI'],
  ['virtio_net', 'CONFIG_VIRTIO_NET'],
  ['virtio_console', 'CONFIG_VIRTIO_CONSOLE'],
];
/** Must be built in (no module can provide them before the initramfs runs). */
const BUILTIN_NEEDED = ['CONFIG_BLK_DEV_INITRD', 'CONFIG_DEVTMPFS', 'CONFIG_INET', 'CONFIG_UNIX98_PTYS'] as const;

function readHead(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const got = readSync(fd, b, 0, len, off);
  return b.subarray(0, got);
}

/** Whether an ELF file has the PVH entry note (name "Xen", type 18) QEMU needs to boot it directly. */
export function hasPvhNote(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const h = readAt(fd, 0, 64);
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const phoff = word(h, is64 ? 0x20 : 0x1c);
    const phentsize = u16(h, is64 ? 0x36 : 0x2a);
    const phnum = u16(h, is64 ? 0x38 : 0x2c);
    for (let i = 0; i < phnum && i < 256; i++) {
      const ph = readAt(fd, phoff + i * phentsize, phentsize);
      if (ph.length < phentsize || u32(ph, 0) !== 4 /* PT_NOTE */) continue;
      const off = word(ph, is64 ? 0x08 : 0x04);
      const size = word(ph, is64 ? 0x20 : 0x10);
      const notes = readAt(fd, off, Math.min(size, 1 << 20));
      for (let p = 0; p + 12 <= notes.length; ) {
        const [namesz, descsz, type] = [u32(notes, p), u32(notes, p + 4), u32(notes, p + 8)];
        const name = notes.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
        if (name === 'Xen' && type === 18) return true;
        p += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
      }
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/** The release a bzImage states (kernel_version at 0x20e: an offset, less 0x200, of 'RELEASE (user@host) #1 ...'). */
function bzImageRelease(file: string, head: Buffer): string | undefined {
  const p = head.readUInt16LE(0x20e);
  if (p === 0) return undefined;
  const fd = openSync(file, 'r');
  try {
    const s = readAt(fd, p + 0x200, 256).toString('latin1');
    return /^(\d+\.\d+\S*)/.exec(s)?.[1];
  } finally {
    closeSync(fd);
  }
}

/** The release in a vmlinux's banner ('Linux version RELEASE (...'). */
function vmlinuxRelease(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = statSync(file).size;
    const chunk = 8 << 20;
    for (let off = 0; off < size; off += chunk - 256) {
      const s = readAt(fd, off, chunk).toString('latin1');
      const m = /Linux version (\d+\.\d+[^\s\0]*) \(/.exec(s);
      if (m) return m[1];
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Module files under dir by name (virtio_net -> path), at most a few levels of a kernel tree or lib/modules. */
function findModules(dir: string, names: readonly string[]): Map<string, string> {
  const want = new Set(names);
  const found = new Map<string, string>();
  const walk = (d: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (depth < 8 && !e.name.startsWith('.')) walk(join(d, e.name), depth + 1);
        continue;
      }
      const m = /^(.+)\.ko(?:\.(?:xz|zst|gz))?$/.exec(e.name);
      const n = m?.[1]?.replace(/-/g, '_');
      if (n && want.has(n) && !found.has(n)) found.set(n, join(d, e.name));
    }
  };
  walk(dir, 0);
  return found;
}

/**
 * Checks a user-built kernel before anything boots: a bzImage ('HdrS' at 0x202) or an ELF vmlinux with the
 * PVH note, with virtio_pci, virtio_net and virtio_console built in or in the modules dir. Built-in drivers
 * are looked up in the modules dir's modules.builtin, else the kernel tree's (the tree: FILE's directory, or
 * <tree> for <tree>/arch/x86/boot/bzImage) modules.builtin or .config. When none of them is there, what
 * cannot be told is a warning. Throws KernelFileError naming the file and the fix.
 */
export function checkKernelFile(file: string, opts: { modules?: string } = {}): KernelFileCheck {
  const path = resolve(file);
  const fix = 'pass a built kernel: <tree>/arch/x86/boot/bzImage or <tree>/vmlinux';
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new KernelFileError(`--kernel ${file}: no such file (${fix})`);
  }
  if (st.isDirectory()) throw new KernelFileError(`--kernel ${file}: is a directory, not a kernel image (${fix})`);
  if (!st.isFile()) throw new KernelFileError(`--kernel ${file}: not a regular file (${fix})`);
  const head = readHead(path, 4096);
  let kind: KernelFileCheck['kind'];
  let release: string | undefined;
  if (head.length >= 0x210 && head.subarray(0x202, 0x206).toString('latin1') === 'HdrS') {
    kind = 'bzImage';
    release = bzImageRelease(path, head);
  } else if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
    if (!hasPvhNote(path)) {
      throw new KernelFileError(
        `--kernel ${file}: an ELF file without a PVH entry note (Xen ELF note type 18), so QEMU cannot boot it directly: ` +
          'pass the bzImage (<tree>/arch/x86/boot/bzImage) instead, or build the kernel with CONFIG_PVH=y',
      );
    }
    kind = 'vmlinux';
    release = vmlinuxRelease(path);
  } else {
    throw new KernelFileError(`--kernel ${file}: not a Linux kernel image (no bzImage header 'HdrS' at 0x202, not an ELF file): ${fix}`);
  }

  const warnings: string[] = [];
  let tree = dirname(path);
  if (tree.endsWith('/arch/x86/boot')) tree = tree.slice(0, -'/arch/x86/boot'.length);
  let mods: Map<string, string> = new Map();
  let builtinSource: string | undefined;
  let builtin: (name: string, sym: string) => 'y' | 'm' | 'n' | undefined = () => undefined;
  if (opts.modules !== undefined) {
    const md = resolve(opts.modules);
    if (!existsSync(md) || !statSync(md).isDirectory()) throw new KernelFileError(`--modules ${opts.modules}: not a directory (pass the kernel tree after 'make modules', or lib/modules/<release>)`);
    mods = findModules(md, NEEDED.map(([n]) => n));
    const mb = [join(md, 'modules.builtin'), ...listDirs(join(md, 'lib', 'modules')).map((r) => join(md, 'lib', 'modules', r, 'modules.builtin'))].find(existsSync);
    if (mb) builtinSource = mb;
  }
  builtinSource ??= [join(tree, 'modules.builtin'), join(tree, '.config')].find(existsSync);
  if (builtinSource?.endsWith('.config')) {
    const config = readFileSync(builtinSource, 'utf8');
    builtin = (_n, sym) => {
      const m = new RegExp(`^${sym}=([ym])$`, 'm').exec(config);
      return m ? (m[1] as 'y' | 'm') : 'n';
    };
    for (const sym of BUILTIN_NEEDED) {
      if (!new RegExp(`^${sym}=y$`, 'm').test(config)) throw new KernelFileError(`--kernel ${file}: ${sym} is not =y in ${builtinSource}: the guest needs it built in (enable it and rebuild)`);
    }
  } else if (builtinSource) {
    const list = readFileSync(builtinSource, 'utf8').replace(/-/g, '_');
    builtin = (n) => (new RegExp(`(^|/)${n}\\.ko$`, 'm').test(list) ? 'y' : undefined);
  }
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const [n, sym] of NEEDED) {
    if (mods.has(n)) continue;
    const b = builtin(n, sym);
    if (b === 'y') continue;
    if (b === undefined) unknown.push(n);
    else missing.push(b === 'm' ? `${n} is a module (${sym}=m) but no ${n}.ko is in ${opts.modules ?? '(no --modules given)'}` : `${sym} is not set`);
  }
  if (missing.length) {
    throw new KernelFileError(
      `--kernel ${file}: the guest needs virtio_pci, virtio_net and virtio_console: ${missing.join('; ')} (per ${builtinSource}): ` +
        'build them in (=y), or pass --modules <tree> after make modules',
    );
  }
  if (unknown.length) {
    warnings.push(
      `--kernel ${file}: cannot tell whether ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} built in (no .config or modules.builtin next to it${opts.modules ? ' or in --modules' : ''}, ` +
        `and no such module${opts.modules ? ` in ${opts.modules}` : ' (no --modules)'}): booting anyway; a guest without them fails with 'no virtio control port'`,
    );
  }
  return { file: path, kind, ...(release ? { release } : {}), ...(builtinSource ? { builtinSource } : {}), warnings };
}

function fileHash(file: string, extra: string): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4 << 20);
    for (let n; (n = readSync(fd, b, 0, b.length, null)) > 0; ) h.update(b.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  h.update(`\0${extra}`);
  return h.digest('hex').slice(0, 16);
}

/**
 * A user-built kernel (a bzImage, or a vmlinux with the PVH note) as a target: checked now (KernelFileError
 * names the file and the fix), its guest (initramfs with drivers from `modules`, snapshot) built on first
 * start into <cache>/guest/custom-<hash of the kernel file and the modules dir>/. Id: linux-<major.minor>-custom-qemu
 * from the release the image states, linux-custom-qemu when it states none.
 */
export function kernelTarget(file: string, opts: { modules?: string } = {}): KernelFactory {
  const check = checkKernelFile(file, opts);
  const modules = opts.modules === undefined ? undefined : resolve(opts.modules);
  const dir = join(guestDir(), `custom-${fileHash(check.file, modules ?? '')}`);
  const series = check.release && /^(\d+\.\d+)/.exec(check.release)?.[1];
  const id = series ? `linux-${series}-custom-qemu` : 'linux-custom-qemu';
  let warned = false;
  return {
    id,
    title: `Linux ${check.release ?? '(unknown release)'} (${check.kind} ${file}) in QEMU/TCG`,
    built: guestBuilt(dir),
    dir,
    warnings: check.warnings,
    unavailable: () => qemuUnavailable(dir),
    start: async () => {
      if (!warned) for (const w of check.warnings) process.stderr.write(`tcplab: warning: ${w}\n`);
      warned = true;
      return QemuTarget.start({ id, guestDir: dir, buildArgs: ['--kernel', check.file, ...(modules ? ['--modules', modules] : []), '--out', dir] });
    },
  };
}

