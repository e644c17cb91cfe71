#!/bin/sh
# Checks guest/vagrant/provision-debian.sh without Vagrant: a Debian 12 debootstrap chroot gets the
# checkout at /vagrant, the provision script runs in it (Node 20, compiler, tools, npm ci, build), then
# lab:timewait-syn runs inside it on this machine's kernel. Needs root, debootstrap and ~1.5 GB.
# Usage: sudo sh guest/vagrant/check-provision-chroot.sh [DIR]   (DIR default /tmp/tcplab-deb, reused)
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
R=${1:-/tmp/tcplab-deb}
[ -x "$R/bin/sh" ] || debootstrap --variant=minbase bookworm "$R" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$R/vagrant"
tar -C "$here" --exclude=./node_modules --exclude=./build --exclude=./build-cmake --exclude=./dist --exclude=./.cache \
  --exclude=./.git --exclude=./tcplab-out -cf - . | tar -C "$R/vagrant" -xf -
cp /etc/resolv.conf "$R/etc/resolv.conf"
# Behind a TLS-intercepting proxy the chroot needs this machine's CA bundle for the npm registry.
ca=
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] || [ -n "$(npm config get cafile 2>/dev/null | grep -v '^null$' || true)" ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$R/usr/local/share/tcplab-host-ca.crt"
  ca="npm_config_cafile=/usr/local/share/tcplab-host-ca.crt NODE_EXTRA_CA_CERTS=/usr/local/share/tcplab-host-ca.crt"
fi
inroot() {
  unshare -m --propagation private sh -c "mount --bind $R $R && mount -t proc proc $R/proc && mount --rbind /dev $R/dev &&
    mount -t sysfs sys $R/sys && mount -t tmpfs tmp $R/tmp && mount -t tmpfs run $R/run &&
    chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root $ca sh -c '$1'"
}
inroot 'sh /vagrant/guest/vagrant/provision-debian.sh'
inroot 'cd /vagrant && npm run lab:timewait-syn -- --no-pcap'
