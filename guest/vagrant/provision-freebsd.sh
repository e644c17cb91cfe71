#!/bin/sh
# Provisions the FreeBSD 14 VM of the Vagrantfile: Node 20 (for the project's TypeScript parts) and
# the C peer (guest/peer.c), which is what SshHost drives on FreeBSD: the native addon is Linux-only
# (AF_PACKET, network namespaces). Run as root by `vagrant up freebsd`.
set -eu
env ASSUME_ALWAYS_YES=yes pkg bootstrap -f >/dev/null 2>&1 || true
# sudo: SshHost runs privileged commands (sysctl, arp, the peer) as `sudo -n` over the vagrant login.
pkg install -y node20 npm-node20 git sudo
cc -O2 -Wall -o /usr/local/bin/tcplab-peer /vagrant/guest/peer.c
# Labs probe this VM's own stack; keep the sysctls they read at their defaults and show them.
sysctl net.inet.tcp.msl net.inet.tcp.rfc1323 net.inet.tcp.rfc1337 || true
echo '{"id":1,"op":"ping"}' | /usr/local/bin/tcplab-peer | tail -n 1
echo "tcplab: provisioned; the peer is /usr/local/bin/tcplab-peer"
