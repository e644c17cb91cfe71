#!/bin/sh
# `npm pack` (prepack): the N-API addon prebuilt into prebuilds/linux-x64 (prebuildify), shipped in the
# tarball; node-gyp-build loads it on install and builds from source when it does not load. Built in a
# copy of the sources so that build/ (loaded by running tests and labs) is never removed under them.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d /tmp/tcplab-prebuild-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -rp package.json binding.gyp native "$tmp/"
ln -s "$root/node_modules" "$tmp/node_modules"
(cd "$tmp" && "$root/node_modules/.bin/prebuildify" --napi --strip --target "node@$(node -p process.versions.node)" >/dev/null)
rm -rf prebuilds && cp -rp "$tmp/prebuilds" prebuilds
echo "prebuild: $(find prebuilds -name '*.node')"
