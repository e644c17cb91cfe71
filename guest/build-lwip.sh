#!/bin/sh
# Builds the lwIP peer (guest/peer.c with -DPEER_LWIP, linked against Debian's liblwip, whose unix port
# has the tap driver) into .cache/guest/lwip-peer. Needs: liblwip-dev, a C compiler.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${TCPLAB_CACHE:-$root/.cache}/guest
mkdir -p "$out"
[ -f /usr/include/lwip/netif/tapif.h ] || { echo "guest/build-lwip.sh: liblwip-dev is not installed (apt-get install liblwip-dev)" >&2; exit 1; }
if [ ! -x "$out/lwip-peer" ] || [ "$here/peer.c" -nt "$out/lwip-peer" ]; then
  ${CC:-cc} -DPEER_LWIP -O2 -Wall -I/usr/include/lwip -o "$out/lwip-peer.tmp" "$here/peer.c" -llwip -lpthread
  mv "$out/lwip-peer.tmp" "$out/lwip-peer"
fi
echo "$out/lwip-peer"
