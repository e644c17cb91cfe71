#!/bin/sh
# Everything a lab needs on Debian 12 or newer with Node: the Debian packages (iproute2, nftables,
# ethtool; python3, make, g++ for the addon), node_modules (npm ci), the addon (node-gyp) and dist/.
# Idempotent: each step is skipped when what it makes is there and newer than what it is made from.
# `sudo npm run first-lab` is this, then lab:reuse.
set -eu
cd "$(dirname "$0")/.."
. scripts/apt-need.sh
apt_need iproute2:ip nftables:nft ethtool:ethtool python3:python3 make:make g++:g++

# npm ci wipes node_modules: only when package-lock.json changed since the last one (stamp: its hash).
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.tcplab-lock 2>/dev/null)" != "$lock" ]; then
  npm ci --no-audit --no-fund
  echo "$lock" > node_modules/.tcplab-lock
else
  echo "setup: node_modules up to date"
fi

# npm may skip install scripts (allowScripts): build the addon here when it is missing or stale.
addon=build/Release/tcplab.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -type f | head -1)" ]; then
  npm run build:native --silent
else
  echo "setup: addon up to date"
fi
node -e "const a=require('./$addon'); if (a.abiVersion!==1) process.exit(1)"

cli=dist/src/cli.js
if [ ! -f "$cli" ] || [ -n "$(find src labs bench schema package.json tsconfig.json tsconfig.build.json -newer "$cli" -type f | head -1)" ]; then
  npm run build:ts --silent
else
  echo "setup: dist/ up to date"
fi
# Under sudo, what this made in the clone belongs to the user who ran sudo (as a lab's pcaps and reports
# do), so that a later npm command without sudo can still replace it.
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ]; then
  for d in node_modules build dist; do [ ! -e "$d" ] || chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$d"; done
fi
echo "setup: ready ($(node dist/src/cli.js --version), node $(node --version))"
