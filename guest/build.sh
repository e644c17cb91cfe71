#!/bin/sh
# Builds the tcplab QEMU guest into .cache/guest (gitignored; override with TCPLAB_CACHE):
#   vmlinuz      Debian bookworm's Linux 6.1 kernel (linux-image-6.1.0-*-amd64, downloaded with apt once)
#   vmlinux      the same kernel unpacked (an ELF with a PVH entry note): QEMU boots it directly, which saves
#                the ~7 s the bzImage spends decompressing itself under TCG (when it cannot be made: vmlinuz)
#   initramfs    busybox-static + the virtio drivers from the same package + guest/peer (cc -static) + /reseed
#                (re-seeds the RNG of a guest restored from a snapshot); an uncompressed cpio
#   release      the kernel release (uname -r in the guest), for StackInfo
# Snapshots of the booted guest (snapshot-<key>, src/targets/qemu-snapshot.ts) are made here by the target.
# Needs: apt (with a package list: apt-get update), dpkg-deb, busybox-static, a C compiler, xz, readelf.
# Set TCPLAB_KERNEL_PKG to pin a package (default: the newest linux-image-6.1.0-N-amd64 apt knows).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${TCPLAB_CACHE:-$root/.cache}/guest
mkdir -p "$cache"
cd "$cache"

if [ ! -f vmlinuz ] || [ ! -d modules ]; then
  pkg=${TCPLAB_KERNEL_PKG:-$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)}
  [ -n "$pkg" ] || { echo "guest/build.sh: apt knows no linux-image-6.1.0-*-amd64 (run apt-get update; Debian bookworm sources needed)" >&2; exit 1; }
  rm -rf dl && mkdir dl
  (cd dl && apt-get download "$pkg" >/dev/null 2>&1 || apt-get download "$pkg")
  dpkg-deb -x dl/*.deb dl/x
  rel=$(ls dl/x/lib/modules)
  rm -rf modules && mkdir modules
  k=dl/x/lib/modules/$rel/kernel
  for m in drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_legacy_dev \
           drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/core/failover \
           drivers/net/net_failover drivers/net/virtio_net drivers/char/virtio_console; do
    if [ -f "$k/$m.ko" ]; then cp "$k/$m.ko" modules/
    elif [ -f "$k/$m.ko.xz" ]; then xz -dc "$k/$m.ko.xz" > "modules/$(basename $m).ko"
    else echo "guest/build.sh: $m.ko missing from $pkg" >&2; exit 1; fi
  done
  cp dl/x/boot/vmlinuz-"$rel" vmlinuz.tmp && mv vmlinuz.tmp vmlinuz
  echo "$rel" > release
  echo "$pkg" > package
  rm -rf dl
fi

# vmlinux: the bzImage's payload (setup_sects at 0x1f1, payload_offset and _length at 0x248, 0x24c), unpacked;
# kept only when it has the PVH entry note (Xen note type 18) QEMU needs to boot an ELF kernel.
if [ ! -f vmlinux ] || [ vmlinuz -nt vmlinux ]; then
  rm -f vmlinux
  setup=$(od -An -tu1 -j497 -N1 vmlinuz | tr -d ' ')
  poff=$(od -An -tu4 -j584 -N4 vmlinuz | tr -d ' ')
  plen=$(od -An -tu4 -j588 -N4 vmlinuz | tr -d ' ')
  start=$(( (setup + 1) * 512 + poff + 1 ))
  # The payload ends with the unpacked size (4 bytes, which xz calls trailing garbage): the check that it is whole.
  size=$(tail -c +"$start" vmlinuz | head -c "$plen" | tail -c 4 | od -An -tu4 | tr -d ' ')
  tail -c +"$start" vmlinuz | head -c "$plen" | xz -dcq > vmlinux.tmp 2>/dev/null || true
  if [ "$(wc -c < vmlinux.tmp)" = "$size" ] && readelf -n vmlinux.tmp 2>/dev/null | grep -q 'Xen.*0x00000012'; then
    mv vmlinux.tmp vmlinux
  else
    rm -f vmlinux.tmp
    echo "guest/build.sh: no PVH-bootable vmlinux in vmlinuz (the bzImage is booted instead: slower)" >&2
  fi
fi

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
[ -x "$busybox" ] || { echo "guest/build.sh: busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }

if [ ! -f peer ] || [ "$here/peer.c" -nt peer ]; then
  ${CC:-cc} -static -O2 -Wall -o peer.tmp "$here/peer.c" && mv peer.tmp peer
fi

if [ ! -f initramfs ] || [ peer -nt initramfs ] || [ reseed -nt initramfs ] || [ "$here/init" -nt initramfs ] ||
   [ "$here/build.sh" -nt initramfs ] || [ vmlinuz -nt initramfs ]; then
  rm -rf root && mkdir -p root/bin root/proc root/sys root/dev root/lib/modules root/tmp
  cp "$busybox" root/bin/busybox
  cp modules/*.ko root/lib/modules/
  cp peer root/peer
  cp reseed root/reseed
  cp "$here/init" root/init
  chmod 755 root/init root/peer root/reseed root/bin/busybox
  # Uncompressed: the kernel unpacks a plain cpio faster than it inflates one under TCG.
  (cd root && find . | "$busybox" cpio -o -H newc 2>/dev/null > ../initramfs.tmp)
  mv initramfs.tmp initramfs
  rm -rf root
fi
echo "guest: $cache (kernel $(cat release)$([ -f vmlinux ] && echo ', PVH vmlinux' || true), $(du -h initramfs | cut -f1) initramfs)"
