#!/bin/sh
# Runs a command (runsc) with /proc/sys/net hidden, inside the caller's private mount namespace
# (run me under `unshare -m --propagation private`). Debian's runsc (2022) decides that it runs in the
# root network namespace when /proc/sys/net/core/rmem_default exists, which on current kernels it does
# in every namespace, and then refuses sandbox networking. /proc/sys becomes a tmpfs holding only
# vm, kernel and fs (runsc reads vm/mmap_min_addr and others).
set -e
# /mnt: exists everywhere; the mount stays in this private mount namespace, nothing is left behind.
d=/mnt
mount -t tmpfs tcplab-sys "$d"
for x in vm kernel fs; do
  mkdir "$d/$x"
  mount --bind "/proc/sys/$x" "$d/$x"
done
mount --rbind "$d" /proc/sys
exec "$@"
