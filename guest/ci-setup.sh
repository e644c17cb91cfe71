#!/bin/sh
# CI/developer setup for the targets (src/targets): installs the Debian packages they need when missing
# and builds the QEMU guest (kernel fetched once into .cache/guest) and the lwIP peer. Idempotent.
#   qemu-system-x86  linux-6.1-qemu (TCG)      busybox-static  the guest's userland
#   runsc            gvisor                     slirp4netns     slirp
#   liblwip-dev      lwip                       gcc, libc6-dev  guest/peer.c (static and lwIP builds)
#   openssh-server/-client  ssh:NAME targets' end-to-end test, which runs its own sshd inside a
#                    testbed namespace (under systemd, Debian also starts the system's sshd on install)
#   xz-utils, binutils (readelf)  the unpacked PVH kernel (guest/build.sh; without them: slower cold boots)
# The first QEMU target start builds the guest snapshot (.cache/guest/snapshot-*, one cold boot); later
# starts restore it in well under a second.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=""
for p in qemu-system-x86:qemu-system-x86_64 busybox-static:/bin/busybox runsc:runsc slirp4netns:slirp4netns \
         liblwip-dev:/usr/include/lwip/netif/tapif.h gcc:cc openssh-server:/usr/sbin/sshd openssh-client:ssh \
         xz-utils:xz binutils:readelf; do
  pkg=${p%%:*}; what=${p#*:}
  case "$what" in
    /*) [ -e "$what" ] || need="$need $pkg" ;;
    *) command -v "$what" >/dev/null 2>&1 || need="$need $pkg" ;;
  esac
done
# guest/build.sh looks the kernel package up with apt-cache: the lists must be there.
update=
[ -n "$need" ] && update=1
[ -f .cache/guest/vmlinuz ] || apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | grep -q . || update=1
[ -z "$update" ] || apt-get update -qq
[ -z "$need" ] || apt-get install -y -qq --no-install-recommends $need >/dev/null
sh guest/build.sh
sh guest/build-lwip.sh >/dev/null
