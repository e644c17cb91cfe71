#!/bin/sh
# CI/developer setup for the targets (src/targets): installs the Debian packages they need when missing
# and builds the QEMU guest (kernel fetched once into .cache/guest) and the lwIP peer. Idempotent.
#   qemu-system-x86  linux-6.1-qemu (TCG)      busybox-static  the guest's userland
#   runsc            gvisor                     slirp4netns     slirp
#   liblwip-dev      lwip                       gcc, libc6-dev  guest/peer.c (static and lwIP builds)
#   openssh-server/-client  ssh:NAME targets' end-to-end test, which runs its own sshd inside a
#                    testbed namespace (under systemd, Debian also starts the system's sshd on install)
#   xz-utils, binutils (readelf)  the unpacked PVH kernel (guest/build.sh; without them: slower cold boots)
#   zstd             newer kernels' zstd payloads
# Then the other catalogue kernels (src/targets/kernels.ts: Debian's 5.10, 6.12, sid's and experimental's rc,
# each into .cache/guest/<target id>/ through a private apt state per suite) and every guest's snapshot
# (guest/build-kernels.mjs, needs the build: dist/): later starts restore in well under a second.
# Cached guests and snapshots are skipped.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=""
for p in qemu-system-x86:qemu-system-x86_64 busybox-static:/bin/busybox runsc:runsc slirp4netns:slirp4netns \
         liblwip-dev:/usr/include/lwip/netif/tapif.h gcc:cc openssh-server:/usr/sbin/sshd openssh-client:ssh \
         xz-utils:xz binutils:readelf zstd:zstd; do
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
t0=$(date +%s)
sh guest/build.sh
echo "guest: linux-6.1-qemu ready in $(( $(date +%s) - t0 )) s"
sh guest/build-lwip.sh >/dev/null
if [ -f dist/src/targets/kernels.js ]; then
  node guest/build-kernels.mjs
else
  echo "guest/ci-setup.sh: no dist/ (npm run build first): only linux-6.1-qemu was built" >&2
fi
