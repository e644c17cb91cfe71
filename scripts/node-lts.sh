#!/bin/sh
# CI step: the newest Node LTS line (NODE_LTS, default 24), from the npm registry's `node` package (the
# binary and its headers ship inside it), runs the unit tests and one root lab. The addon is built for
# that Node from its own headers (node-gyp --nodedir) and loaded through TCPLAB_ADDON; the default build
# (made with the machine's Node) must load too: node-addon-api targets N-API, whose ABI is stable.
# Idempotent: the Node package and the addon build are kept in $DIR and reused.
set -eu
cd "$(dirname "$0")/.."
LTS=${NODE_LTS:-24}
DIR=${TCPLAB_NODE_LTS_DIR:-.cache/node$LTS}
NODE=$DIR/node_modules/node/bin/node
if [ ! -x "$NODE" ] || ! "$NODE" -e "process.exit(process.versions.node.split('.')[0] === '$LTS' ? 0 : 1)"; then
  npm install --prefix "$DIR" --no-audit --no-fund --no-save "node@$LTS"
fi
HEADERS=$(cd "$(dirname "$(find "$DIR/node_modules" -path '*/include/node/node_api.h' | head -1)")/../.." && pwd)
# An LTS release names its line (process.release.lts); on the day of writing 26.x was not one yet.
lts_name=$("$NODE" -p 'process.release.lts || ""')
[ -n "$lts_name" ] || { echo "node-lts: $("$NODE" --version) is not an LTS release: set NODE_LTS" >&2; exit 1; }
echo "node-lts: $("$NODE" --version) LTS $lts_name (modules ABI $("$NODE" -p process.versions.modules), N-API $("$NODE" -p process.versions.napi)), headers in $HEADERS"

# The default build, made with the machine's Node, loads unchanged.
"$NODE" -e "const a=require('./build/Release/tcplab.node'); if (a.abiVersion!==1) process.exit(1)"
echo "node-lts: build/Release/tcplab.node loads"

# A build from this Node's own headers, in a copy of the sources (build/ stays the machine's).
SRC=$DIR/addon
mkdir -p "$SRC"
cp -p binding.gyp "$SRC/"
rm -rf "$SRC/native" && cp -rp native "$SRC/native"
ln -sfn "$(pwd)/node_modules" "$SRC/node_modules"
if [ ! -f "$SRC/build/Release/tcplab.node" ] || [ -n "$(find native binding.gyp -newer "$SRC/build/Release/tcplab.node" | head -1)" ]; then
  ROOT=$(pwd); ABS_NODE=$(cd "$(dirname "$NODE")" && pwd)/node
  (cd "$SRC" && PATH="$(dirname "$ABS_NODE"):$PATH" "$ABS_NODE" "$ROOT/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$HEADERS" >/dev/null)
fi
export TCPLAB_ADDON="$(cd "$SRC" && pwd)/build/Release/tcplab.node"
"$NODE" -e "const a=require(process.env.TCPLAB_ADDON); if (a.abiVersion!==1) process.exit(1)"
echo "node-lts: addon built with node $("$NODE" --version) headers: $TCPLAB_ADDON"

"$NODE" node_modules/vitest/vitest.mjs run test/unit
"$NODE" dist/src/cli.js run timewait-syn --no-pcap >"$DIR/lab.log" 2>&1 || { tail -40 "$DIR/lab.log" >&2; exit 1; }
echo "node-lts: unit tests and lab timewait-syn passed under $("$NODE" --version)"
