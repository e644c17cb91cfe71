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
# TCPLAB_SETUP_GUESTS=0 leaves the guests out (test/integration/readme.test.ts: a nested clone must not
# rebuild the outer run's guests; .ci/run runs this script whole).
if [ "${TCPLAB_SETUP_GUESTS:-1}" = 0 ]; then
  echo "setup-test: guests skipped (TCPLAB_SETUP_GUESTS=0)"
else
  sh guest/ci-setup.sh
fi
echo "setup-test: ready"
