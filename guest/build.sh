#!/bin/sh
# Builds a tcplab QEMU guest (gitignored cache; TCPLAB_CACHE overrides <package>/.cache):
#   vmlinuz      the kernel as packaged (a bzImage); absent for a --kernel vmlinux
#   vmlinux      the same kernel unpacked (an ELF with a PVH entry note): QEMU boots it directly, which saves
#                the ~7 s the bzImage spends decompressing itself under TCG (when it cannot be made: vmlinuz)
#   initramfs    busybox-static + the virtio drivers the kernel lacks built in (modules/, load order in
#                modules/order) + guest/peer.c (cc -static) + /reseed (re-seeds the RNG of a guest restored
#                from a snapshot); an uncompressed cpio
#   release      the kernel release (uname -r in the guest), for StackInfo
#   package, version, suite   the Debian package(s), their version and suite (package kernels only)
#   config, modules.builtin   the package kernel's .config and list of built-in modules
# Snapshots of the booted guest (snapshot-<key>, src/targets/qemu-snapshot.ts) are made there by the target.
#
#   build.sh                          Debian bookworm's 6.1 into <cache>/guest (the system's apt; as ever)
#   build.sh --suite S --pattern RE [--version-re RE] --out DIR
#                                     the newest package of suite S whose name matches RE (and whose Debian
#                                     version matches --version-re), through a private apt state in
#                                     <cache>/apt-suites/S (the system's apt sources are never touched).
#                                     @SERIES@ in DIR becomes the kernel's major.minor (sid moves on).
#   build.sh --deb FILE... --out DIR  these linux-image (or -binary/-modules/-base) packages
#   build.sh --kernel FILE [--modules DIR] --out DIR
#                                     a user-built bzImage or PVH vmlinux; drivers from DIR (a kernel tree
#                                     or lib/modules/<release>) unless built in
# Needs: apt (for packages), dpkg-deb, busybox-static, a C compiler, xz, zstd (newer kernels), readelf.
# Set TCPLAB_KERNEL_PKG to pin a package name.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
base=${TCPLAB_CACHE:-$root/.cache}
suite= pattern= version_re= out= kernel= kmods= debs=
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=$2; shift 2 ;;
    --pattern) pattern=$2; shift 2 ;;
    --version-re) version_re=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --modules) kmods=$2; shift 2 ;;
    --deb) debs="$debs $(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    *) echo "guest/build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$pattern" ] || pattern='^linux-image-6\.1\.0-[0-9]+-amd64$'
[ -n "$out" ] || out=$base/guest
me="guest/build.sh${suite:+ ($suite)}${kernel:+ ($kernel)}"
die() { echo "$me: $*" >&2; exit 1; }

# apt for suite $suite: the system's for bookworm (and no suite), else a private state of its own.
aptx() {
  if [ -z "$suite" ] || [ "$suite" = bookworm ]; then "$@"; return; fi
  d=$base/apt-suites/$suite
  cmd=$1; shift
  "$cmd" -o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$d/lists" \
    -o Dir::Cache="$d/cache" -o Dir::State::status=/dev/null "$@"
}
private_update() {
  d=$base/apt-suites/$suite
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
  # The system's Debian mirror (not its security one); Debian's own when it names none.
  m=$(apt-get indextargets --format '$(REPO_URI)' 2>/dev/null | grep -v -- -security | grep /debian/ | sort -u | head -n 1)
  echo "deb ${m:-http://deb.debian.org/debian/} $suite main" > "$d/sources.list"
  # Lists of the last day are good enough (a kernel upload a day old); a failed update keeps the old ones.
  if [ -z "$(find "$d/lists" -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null)" ]; then
    aptx apt-get update -qq >/dev/null 2>&1 || aptx apt-get update -q >&2 ||
      [ -n "$(find "$d/lists" -maxdepth 1 -name '*_Packages')" ] || die "apt-get update of Debian $suite failed (no network to the mirror?)"
  fi
}

# Picks the newest package of the pattern (by Debian version when --version-re filters), prints its name.
pick() {
  for n in $(aptx apt-cache search --names-only "$pattern" | awk '{print $1}'); do
    v=$(aptx apt-cache show --no-all-versions "$n" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
    [ -n "$v" ] || continue
    if [ -n "$version_re" ] && ! echo "$v" | grep -Eq -- "$version_re"; then continue; fi
    echo "$v $n"
  done | sort -V | tail -n 1 | cut -d' ' -f2
}

# A module file (plain or compressed) unpacked to $2.
unpack_ko() {
  case "$1" in
    *.ko) cp "$1" "$2" ;;
    *.ko.xz) xz -dc "$1" > "$2" ;;
    *.ko.zst) zstd -dcq "$1" > "$2" ;;
    *.ko.gz) gzip -dc "$1" > "$2" ;;
  esac
}

# Collects virtio_pci, virtio_net, virtio_console and what they depend on from $1 (a module tree) into
# modules/ with modules/order (load order), skipping those built in ($2: modules.builtin, or a .config).
# $3=warn: a driver neither found nor known to be built in is a warning (a custom kernel: cannot tell).
collect_modules() {
  tree=$1 builtin=$2 strict=$3
  rm -rf modules.tmp && mkdir modules.tmp && : > modules.tmp/order
  missing=
  norm() { echo "$1" | tr - _; }
  is_builtin() {
    [ -n "$builtin" ] && [ -f "$builtin" ] || return 1
    case "$builtin" in
      *.config) c=$(echo "$1" | tr a-z A-Z); grep -q "^CONFIG_${c}=y" "$builtin" ;;
      *) tr - _ < "$builtin" | grep -Eq "(^|/)$1\.ko\$" ;;
    esac
  }
  find_ko() {
    [ -d "$tree" ] || return 0
    find "$tree" \( -name "$1.ko" -o -name "$1.ko.*" -o -name "$(echo "$1" | tr _ -).ko" -o -name "$(echo "$1" | tr _ -).ko.*" \) \
      -print 2>/dev/null | head -n 1
  }
  add() { # $1: module name; depth-first so dependencies load first
    local m f dep
    m=$(norm "$1")
    grep -qx "$m" modules.tmp/order && return 0
    case " $seen " in *" $m "*) return 0 ;; esac
    seen="$seen $m"
    f=$(find_ko "$m")
    if [ -n "$f" ]; then
      unpack_ko "$f" "modules.tmp/$m.ko"
      for dep in $(readelf -p .modinfo "modules.tmp/$m.ko" 2>/dev/null | sed -n 's/.*depends=//p' | tr , ' '); do
        add "$dep"
      done
      echo "$m" >> modules.tmp/order
    elif is_builtin "$m"; then :
    else missing="$missing $m"
    fi
  }
  seen=
  for top in virtio_pci virtio_net virtio_console; do add "$top"; done
  if [ -n "$missing" ]; then
    if [ "$strict" = warn ]; then
      echo "$me: warning: not found as modules and not known to be built in:$missing (the guest may lack its network or control port)" >&2
    else
      die "the kernel lacks$missing: neither a module in $tree nor listed in ${builtin:-its modules.builtin}"
    fi
  fi
  rm -rf modules && mv modules.tmp modules
}

# vmlinux from vmlinuz: the bzImage's payload (setup_sects at 0x1f1, payload_offset and _length at 0x248,
# 0x24c), unpacked with whatever compressed it; kept only when it has the PVH entry note (Xen note type 18)
# QEMU needs to boot an ELF kernel.
extract_vmlinux() {
  rm -f vmlinux
  setup=$(od -An -tu1 -j497 -N1 vmlinuz | tr -d ' ')
  [ "$setup" = 0 ] && setup=4
  poff=$(od -An -tu4 -j584 -N4 vmlinuz | tr -d ' ')
  plen=$(od -An -tu4 -j588 -N4 vmlinuz | tr -d ' ')
  start=$(( (setup + 1) * 512 + poff + 1 ))
  magic=$(tail -c +"$start" vmlinuz | head -c 6 | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    1f8b*) un='gzip -dcq' ;;
    fd377a585a00) un='xz -dcq' ;;
    28b52ffd*) un='zstd -dcq' ;;
    5d0000*) un='xz -dcq --format=lzma' ;;
    425a68*) un='bzip2 -dcq' ;;
    02214c18*) un='lz4 -dcq' ;;
    *) un= ;;
  esac
  if [ -z "$un" ] || ! command -v "${un%% *}" >/dev/null 2>&1; then
    echo "$me: the bzImage payload (magic $magic) cannot be unpacked here${un:+ (${un%% *} missing)}: the bzImage is booted instead (slower)" >&2
    return 0
  fi
  # The payload ends with the unpacked size (4 bytes, which xz and zstd call trailing garbage): the check that
  # the output is whole.
  size=$(tail -c +"$start" vmlinuz | head -c "$plen" | tail -c 4 | od -An -tu4 | tr -d ' ')
  tail -c +"$start" vmlinuz | head -c "$plen" | $un > vmlinux.tmp 2>/dev/null || true
  if [ "$(wc -c < vmlinux.tmp)" = "$size" ] && readelf -n vmlinux.tmp 2>/dev/null | grep -q 'Xen.*0x00000012'; then
    mv vmlinux.tmp vmlinux
  else
    rm -f vmlinux.tmp
    echo "$me: no PVH-bootable vmlinux in vmlinuz (${un%% *} payload; the bzImage is booted instead: slower)" >&2
  fi
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
# An interrupted or failed build leaves no half-made files (a download is hundreds of MB); the guest it
# had (release, vmlinuz, modules, initramfs) is only ever replaced by renames.
finish() {
  rc=$?
  rm -rf "$out/dl" "$out/modules.tmp" "$out/root" "$out"/*.tmp "$out/reseed.c"
  case "$out" in *@SERIES@*) [ $rc = 0 ] || rm -rf "$out" ;; esac
}
trap finish EXIT
trap 'exit 130' INT TERM
case "$kernel" in /*|'') ;; *) kernel=$PWD/$kernel ;; esac
case "$kmods" in /*|'') ;; *) kmods=$PWD/$kmods ;; esac
cd "$out"
if [ -n "$kernel" ]; then
  # A user-built kernel: the target (src/targets/kernels.ts) validated it; this copies and prepares it.
  [ -f "$kernel" ] || die "no such file"
  if [ ! -f release ] || [ "$kernel" -nt release ]; then
    if [ "$(od -An -c -j514 -N4 "$kernel" | tr -d ' ')" = HdrS ]; then
      cp "$kernel" vmlinuz.tmp && mv vmlinuz.tmp vmlinuz
      extract_vmlinux
      # kernel_version (0x20e): offset - 0x200 of "RELEASE (user@host) #1 ..." in the setup code
      kv=$(od -An -tu2 -j526 -N2 vmlinuz | tr -d ' ')
      rel=$(tail -c +$((kv + 512 + 1)) vmlinuz | head -c 200 | tr '\0' '\n' | head -n 1 | cut -d' ' -f1)
    else
      rm -f vmlinuz
      cp "$kernel" vmlinux.tmp && mv vmlinux.tmp vmlinux
      rel=$(grep -a -m1 -o 'Linux version [^ ]*' vmlinux | head -n 1 | cut -d' ' -f3 || true)
    fi
    tree=$(dirname "$kernel"); case "$tree" in */arch/x86/boot) tree=${tree%/arch/x86/boot} ;; esac
    builtin=
    if [ -n "$kmods" ]; then
      for b in "$kmods/modules.builtin" "$kmods"/lib/modules/*/modules.builtin; do [ -f "$b" ] && builtin=$b && break; done
    fi
    [ -n "$builtin" ] || { [ -f "$tree/modules.builtin" ] && builtin=$tree/modules.builtin; } || true
    [ -n "$builtin" ] || { [ -f "$tree/.config" ] && builtin=$tree/.config; } || true
    # Without a .config or modules.builtin nobody can tell whether a driver is built in: warn and boot.
    collect_modules "${kmods:-/nonexistent}" "$builtin" "$([ -n "$builtin" ] && echo strict || echo warn)"
    echo "${rel:-unknown}" > release
  fi
elif [ ! -f release ] || [ ! -d modules ] || [ ! -f vmlinuz ]; then
  rm -rf dl && mkdir dl
  if [ -n "$debs" ]; then
    for f in $debs; do cp "$f" dl/; done
  else
    [ -z "$suite" ] || [ "$suite" = bookworm ] || private_update
    pkg=${TCPLAB_KERNEL_PKG:-$(pick)}
    [ -n "$pkg" ] || die "Debian ${suite:-bookworm} has no package matching $pattern${version_re:+ with a version matching $version_re} (apt-get update; for bookworm the system's sources must name it)"
    (cd dl && { aptx apt-get download "$pkg" >/dev/null 2>&1 || aptx apt-get download "$pkg"; })
    # Newer Debian kernels split the image: linux-image-R is a meta package of linux-binary-R (the
    # kernel), linux-modules-R and linux-base-R (modules.builtin).
    parts=$(dpkg-deb -f dl/*.deb Depends | tr ',' '\n' | sed -n 's/^ *\(linux-\(binary\|modules\|base\)-[^ ]*\).*/\1/p')
    for p in $parts; do (cd dl && { aptx apt-get download "$p" >/dev/null 2>&1 || aptx apt-get download "$p"; }); done
  fi
  for f in dl/*.deb; do dpkg-deb -x "$f" dl/x; done
  pkgs=$(for f in dl/*.deb; do dpkg-deb -f "$f" Package; done | tr '\n' ' ')
  version=$(dpkg-deb -f "$(ls dl/*.deb | head -n 1)" Version)
  mdir=$(ls -d dl/x/lib/modules/* dl/x/usr/lib/modules/* 2>/dev/null | head -n 1)
  [ -n "$mdir" ] || die "no lib/modules in $pkgs"
  rel=$(basename "$mdir")
  kimg=
  for k in "dl/x/boot/vmlinuz-$rel" "$mdir/vmlinuz"; do [ -f "$k" ] && kimg=$k && break; done
  [ -n "$kimg" ] || die "no kernel image (boot/vmlinuz-$rel) in $pkgs"
  collect_modules "$mdir/kernel" "$mdir/modules.builtin" strict
  cp "$kimg" vmlinuz.tmp && mv vmlinuz.tmp vmlinuz
  # The kernel's .config and modules.builtin: what it has built in (tests build "custom" kernels from them).
  for c in "dl/x/boot/config-$rel" "$mdir/config"; do [ -f "$c" ] && cp "$c" config && break; done
  [ -f "$mdir/modules.builtin" ] && cp "$mdir/modules.builtin" modules.builtin
  echo "$rel" > release
  echo "$pkgs" | sed 's/ $//' > package
  echo "$version" > version
  echo "${suite:-bookworm}" > suite
  rm -rf dl
  rm -f vmlinux
fi
if [ -z "$kernel" ] && { [ ! -f vmlinux ] || [ vmlinuz -nt vmlinux ]; }; then extract_vmlinux; fi

# @SERIES@ in --out: the kernel's major.minor, known only now (sid and experimental move on).
case "$out" in
  *@SERIES@*)
    series=$(sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p' release)
    final=$(echo "$out" | sed "s/@SERIES@/$series/")
    if [ -f "$final/release" ] && [ "$(cat "$final/release")" = "$(cat release)" ]; then rm -rf "$out"
    else rm -rf "$final" && mv "$out" "$final"; fi
    out=$final
    cd "$out"
    ;;
esac

# /reseed HEX: credits the bytes to the input pool and forces a crng reseed (RNDRESEEDCRNG). Guests restored
# from one snapshot start with the same RNG state; after this, what they draw is their own.
if [ ! -f reseed ] || [ "$here/build.sh" -nt reseed ]; then
  cat > reseed.c <<'C'
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
int main(int argc, char** argv) {
  struct { struct rand_pool_info i; unsigned char b[256]; } p;
  size_t n = argc > 1 ? strlen(argv[1]) / 2 : 0;
  if (n == 0 || n > sizeof p.b) { fprintf(stderr, "usage: reseed HEX (1..256 bytes)\n"); return 2; }
  for (size_t k = 0; k < n; k++) {
    unsigned v;
    if (sscanf(argv[1] + 2 * k, "%2x", &v) != 1) { fprintf(stderr, "reseed: not hex\n"); return 2; }
    p.b[k] = (unsigned char)v;
  }
  p.i.entropy_count = (int)(n * 8);
  p.i.buf_size = (int)n;
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, &p) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0) { perror("reseed"); return 1; }
  return 0;
}
C
  ${CC:-cc} -static -O2 -Wall -o reseed.tmp reseed.c && mv reseed.tmp reseed
  rm -f reseed.c
fi

busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox-static is not installed (apt-get install busybox-static)"

if [ ! -f peer ] || [ "$here/peer.c" -nt peer ]; then
  ${CC:-cc} -static -O2 -Wall -o peer.tmp "$here/peer.c" && mv peer.tmp peer
fi

# A guest built before modules/order existed: the load order init used to have built in.
if [ -d modules ] && [ ! -f modules/order ]; then
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_console; do
    [ -f "modules/$m.ko" ] && echo "$m"
  done > modules/order
fi

if [ ! -f initramfs ] || [ peer -nt initramfs ] || [ reseed -nt initramfs ] || [ "$here/init" -nt initramfs ] ||
   [ "$here/build.sh" -nt initramfs ] || [ release -nt initramfs ]; then
  rm -rf root && mkdir -p root/bin root/proc root/sys root/dev root/lib/modules root/tmp
  cp "$busybox" root/bin/busybox
  cp modules/*.ko root/lib/modules/ 2>/dev/null || true
  cp modules/order root/lib/modules/order
  cp peer root/peer
  cp reseed root/reseed
  cp "$here/init" root/init
  chmod 755 root/init root/peer root/reseed root/bin/busybox
  # Uncompressed: the kernel unpacks a plain cpio faster than it inflates one under TCG.
  (cd root && find . | "$busybox" cpio -o -H newc 2>/dev/null > ../initramfs.tmp)
  mv initramfs.tmp initramfs
  rm -rf root
fi
echo "guest: $out (kernel $(cat release)$([ -f vmlinux ] && echo ', PVH vmlinux' || true), modules: $(tr '\n' ' ' < modules/order)$(du -h initramfs | cut -f1) initramfs)"
