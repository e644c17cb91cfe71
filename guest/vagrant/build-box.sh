#!/bin/sh
# Builds a libvirt Vagrant box of Debian 12 offline (only the Debian mirror is needed) for machines where
# the public debian/bookworm64 box cannot be downloaded:
#   .cache/vagrant/tcplab-bookworm.box          tar of metadata.json + box.img (qcow2, ext4 without
#                                              partitions: root=/dev/vda) for `vagrant box add`
#   .cache/vagrant/tcplab-bookworm/vmlinuz       the box's kernel and initramfs: no bootloader in the
#   .cache/vagrant/tcplab-bookworm/initrd.img    image, the Vagrantfile boots them directly
#                                              (lv.kernel/lv.initrd/lv.cmd_line when TCPLAB_BOX=tcplab-bookworm)
#   .cache/vagrant/npm-cache/                   npm cache of package-lock.json, for `npm ci --offline`
#                                              in the VM (the Vagrantfile syncs it to /var/cache/tcplab-npm)
# Inside: systemd, systemd-networkd (DHCP on eth0, the management NIC; Vagrant writes eth1's static
# address), sshd, the vagrant user with Vagrant's public insecure key and passwordless sudo, the
# hostname in /etc/hosts, resolv.conf at the management network's dnsmasq, and what the provision
# script needs without the internet: this machine's Node (>= 20, with its headers for node-gyp), a
# compiler, python3, iproute2, nftables, tcpdump, tshark, rsync.
# Idempotent: nothing is rebuilt when the box's inputs (this script, the Node version, the lockfile)
# are unchanged; the rootfs is a scratch directory under .cache, removed at the end (also on error).
# Usage: sh guest/vagrant/build-box.sh [--force]     (root; debootstrap, e2fsprogs, qemu-utils)
# Env: DEBIAN_MIRROR, TCPLAB_MGMT_NET (default 198.18.248.0/24, must match the Vagrantfile's).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
NAME=tcplab-bookworm
OUT="$here/.cache/vagrant"
ROOT="$OUT/$NAME.rootfs"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
MGMT=${TCPLAB_MGMT_NET:-198.18.248.0/24}
DNS=$(echo "${MGMT%/*}" | awk -F. '{ print $1"."$2"."$3"."$4+1 }')
SIZE_G=8
force=${1:-}

[ "$(id -u)" = 0 ] || { echo "build-box.sh: run as root" >&2; exit 1; }
for c in debootstrap mkfs.ext4 qemu-img node npm; do
  command -v $c >/dev/null || { echo "build-box.sh: $c is missing (apt-get install debootstrap e2fsprogs qemu-utils)" >&2; exit 1; }
done
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
  { echo "build-box.sh: this machine's Node is $(node --version); the box takes it, and the project needs >= 20" >&2; exit 1; }
dpkg -L nodejs >/dev/null 2>&1 || { echo "build-box.sh: Node must come from a Debian package (nodejs) to be copied into the box" >&2; exit 1; }

mkdir -p "$OUT/debs" "$OUT/$NAME"
stamp=$( { cat "$0"; node --version; echo "$MGMT $MIRROR"; } | sha256sum | cut -c1-16)
lockstamp=$(sha256sum "$here/package-lock.json" | cut -c1-16)

# --- npm cache for the lockfile (cheap; redone when the lockfile changes) ---------------------------
if [ "$(cat "$OUT/npm-cache.stamp" 2>/dev/null)" != "$lockstamp" ] || [ -n "$force" ]; then
  t0=$(date +%s)
  tmp=$(mktemp -d "$OUT/tcplab-npm.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  cp "$here/package.json" "$here/package-lock.json" "$tmp/"
  rm -rf "$OUT/npm-cache"
  # --ignore-scripts: only the tarballs and packuments are wanted; the VM builds the addon itself.
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --cache "$OUT/npm-cache" >/dev/null)
  # What `npm ci --offline` in the VM will ask for must all be in it: check here, offline.
  rm -rf "$tmp/node_modules"
  (cd "$tmp" && npm ci --offline --ignore-scripts --no-audit --no-fund --cache "$OUT/npm-cache" >/dev/null)
  rm -rf "$tmp"
  trap - EXIT INT TERM
  echo "$lockstamp" > "$OUT/npm-cache.stamp"
  echo "build-box: npm cache $(du -sh "$OUT/npm-cache" | cut -f1) in $(( $(date +%s) - t0 )) s"
fi

if [ -z "$force" ] && [ -f "$OUT/$NAME.box" ] && [ "$(cat "$OUT/$NAME.stamp" 2>/dev/null)" = "$stamp" ] &&
   [ -f "$OUT/$NAME/vmlinuz" ] && [ -f "$OUT/$NAME/initrd.img" ]; then
  echo "build-box: $OUT/$NAME.box is up to date"
  exit 0
fi

cleanup() {
  for m in dev/pts dev proc sys; do umount "$ROOT/$m" 2>/dev/null || true; done
  rm -rf "$ROOT" "$OUT/$NAME.img.raw" "$OUT/box.img" "$OUT/metadata.json"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
rm -f "$OUT/$NAME.stamp"
t0=$(date +%s)

pkgs=systemd-sysv,dbus,udev,kmod,openssh-server,sudo,iproute2,iputils-ping,ca-certificates,rsync,less,procps,
pkgs=${pkgs}linux-image-amd64,initramfs-tools,zstd,build-essential,python3,nftables,tcpdump,tshark,ethtool,netbase
debootstrap --variant=minbase --cache-dir="$OUT/debs" --include="$pkgs" bookworm "$ROOT" "$MIRROR" > "$OUT/debootstrap.log" 2>&1 ||
  { tail -20 "$OUT/debootstrap.log" >&2; exit 1; }
t1=$(date +%s)
echo "build-box: debootstrap in $((t1 - t0)) s"

# Node: this machine's nodejs package (node, npm, npx, headers in /usr/include/node for node-gyp).
dpkg -L nodejs | while read -r f; do [ -f "$f" ] || [ -L "$f" ] && printf '%s\n' "${f#/}"; done > "$OUT/node.files"
# npm as it is now (an `npm install -g npm` replaces the package's files), whole.
[ -d /usr/lib/node_modules/npm ] && echo usr/lib/node_modules/npm >> "$OUT/node.files"
tar -C / -cf - -T "$OUT/node.files" | tar -C "$ROOT" -xf -
chroot "$ROOT" npm --version >/dev/null
rm -f "$OUT/node.files"
chroot "$ROOT" node --version >/dev/null

# The machine's identity and networking.
echo tcplab-box > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttcplab-box\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
# The libvirt management network's dnsmasq (the first address of TCPLAB_MGMT_NET).
rm -f "$ROOT/etc/resolv.conf"
echo "nameserver $DNS" > "$ROOT/etc/resolv.conf"
printf '/dev/vda\t/\text4\tdefaults,noatime\t0\t1\n' > "$ROOT/etc/fstab"
mkdir -p "$ROOT/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n\n[DHCPv4]\nUseDNS=no\nUseHostname=no\n' \
  > "$ROOT/etc/systemd/network/10-tcplab-mgmt.network"
# DEBIAN_FRONTEND etc. for the chroot commands below.
inroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
inroot systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
# Nothing that waits for the network or wakes up for apt (boots under TCG are slow enough).
inroot systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer >/dev/null 2>&1 || true
mkdir -p "$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d"

# The vagrant user: Vagrant's public insecure key (Vagrant replaces it on the first `vagrant up`).
inroot useradd -m -s /bin/bash -U vagrant
inroot usermod -p '*' root
mkdir -p "$ROOT/home/vagrant/.ssh"
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)
if [ -n "$key" ]; then cp "$key" "$ROOT/home/vagrant/.ssh/authorized_keys"
else echo 'ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key' \
  > "$ROOT/home/vagrant/.ssh/authorized_keys"; fi
chmod 700 "$ROOT/home/vagrant/.ssh"; chmod 600 "$ROOT/home/vagrant/.ssh/authorized_keys"
inroot chown -R vagrant:vagrant /home/vagrant/.ssh
printf 'Defaults:vagrant !requiretty\nvagrant ALL=(ALL) NOPASSWD: ALL\n' > "$ROOT/etc/sudoers.d/vagrant"
chmod 440 "$ROOT/etc/sudoers.d/vagrant"
# sshd: no reverse lookups, no MOTD work; host keys are generated at install (a lab box, not a server).
printf 'UseDNS no\nGSSAPIAuthentication no\nPrintMotd no\n' > "$ROOT/etc/ssh/sshd_config.d/tcplab.conf"
: > "$ROOT/etc/motd"
# The box's provenance, for docs and the lab's reports.
printf 'tcplab box %s built %s from %s\n' "$NAME" "$(date -u +%FT%TZ)" "$MIRROR" > "$ROOT/etc/tcplab-box"
inroot apt-get clean

# Kernel and initramfs out of the rootfs (virtio modules: initramfs-tools' MODULES=most has them).
kver=$(ls "$ROOT/lib/modules" | sort -V | tail -1)
cp "$ROOT/boot/vmlinuz-$kver" "$OUT/$NAME/vmlinuz"
cp "$ROOT/boot/initrd.img-$kver" "$OUT/$NAME/initrd.img"
echo "$kver" > "$OUT/$NAME/kernel-release"

# ext4 image of the rootfs (no partition table), then qcow2.
truncate -s "${SIZE_G}G" "$OUT/$NAME.img.raw"
mkfs.ext4 -q -F -L tcplab-root -d "$ROOT" "$OUT/$NAME.img.raw"
qemu-img convert -O qcow2 "$OUT/$NAME.img.raw" "$OUT/box.img"
rm -f "$OUT/$NAME.img.raw"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%s}\n' "$SIZE_G" > "$OUT/metadata.json"
tar -C "$OUT" -cf "$OUT/$NAME.box.tmp" metadata.json box.img
mv "$OUT/$NAME.box.tmp" "$OUT/$NAME.box"
echo "$stamp" > "$OUT/$NAME.stamp"
echo "build-box: $OUT/$NAME.box ($(du -h "$OUT/$NAME.box" | cut -f1), kernel $(cat "$OUT/$NAME/kernel-release")) in $(( $(date +%s) - t0 )) s"
