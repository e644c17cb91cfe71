#!/bin/sh
# Builds the tcplab QEMU guest into .cache/guest (gitignored; override with TCPLAB_CACHE):
#   vmlinuz      Debian bookworm's Linux 6.1 kernel (linux-image-6.1.0-*-amd64, downloaded with apt once)
#   initramfs    busybox-static + the virtio drivers from the same package + guest/peer (cc -static)
#   release      the kernel release (uname -r in the guest), for StackInfo
# Needs: apt (with a package list: apt-get update), dpkg-deb, busybox-static, a C compiler, gzip.
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

busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || { echo "guest/build.sh: busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }

if [ ! -f peer ] || [ "$here/peer.c" -nt peer ]; then
  ${CC:-cc} -static -O2 -Wall -o peer.tmp "$here/peer.c" && mv peer.tmp peer
fi

if [ ! -f initramfs ] || [ peer -nt initramfs ] || [ "$here/init" -nt initramfs ] || [ vmlinuz -nt initramfs ]; then
  rm -rf root && mkdir -p root/bin root/proc root/sys root/dev root/lib/modules root/tmp
  cp "$busybox" root/bin/busybox
  cp modules/*.ko root/lib/modules/
  cp peer root/peer
  cp "$here/init" root/init
  chmod 755 root/init root/peer root/bin/busybox
  (cd root && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > ../initramfs.tmp)
  mv initramfs.tmp initramfs
  rm -rf root
fi
echo "guest: $cache (kernel $(cat release), $(du -h initramfs | cut -f1) initramfs)"
