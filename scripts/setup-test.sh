#!/bin/sh
# Everything the whole test suite needs, on top of scripts/setup.sh: the Debian packages of the tests
# (tshark, tcpdump, cmake, chromium, nginx), the cmake-js build of the addon, and the guests and other TCP
# stacks (guest/ci-setup.sh: QEMU kernels, gVisor, slirp, lwIP). Idempotent like its parts.
# `sudo npm run test:all` is this, then npm test; .ci/run runs that same command.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
. scripts/apt-need.sh
apt_need tshark:tshark tcpdump:tcpdump cmake:cmake chromium:chromium nginx-light:nginx

addon=build-cmake/Release/tcplab.node
if [ ! -f "$addon" ] || [ -n "$(find native -newer "$addon" -type f | head -1)" ]; then
  npm run build:cmake --silent >/dev/null
else
  echo "setup-test: cmake-js addon up to date"
fi
sh guest/ci-setup.sh
echo "setup-test: ready"
