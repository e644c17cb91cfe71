#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan/tcplab.node.
# The whole addon is instrumented and loaded into node with libasan preloaded (see .ci/sanitize): that covers
# the N-API layers too. The codec itself (segment_repr.cc, wire_view.h) is also fuzzed without node by
# libFuzzer (native/fuzz/parse_fuzz.cc, .ci/fuzz-native). The sources are binding.gyp's list, so a new .cc
# is picked up here too.
# Needs: g++ with libasan/libubsan (Debian: g++ pulls libgcc-12-dev, which has libasan8 and libubsan1),
# node headers (/usr/include/node from Debian's nodejs package, npm's nodedir, or node-gyp's cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
CXX=${CXX:-g++}
out=build/asan  # under build/ (ignored); node-gyp rebuild wipes it, so .ci/sanitize builds it after
mkdir -p "$out"

nodeinc=""
for d in "$(node -p 'process.config.variables.node_prefix')/include/node" /usr/include/node \
         "${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}/include/node" \
         "$HOME/.cache/node-gyp/$(node -p 'process.versions.node')/include/node"; do
  if [ -f "$d/node_api.h" ]; then nodeinc=$d; break; fi
done
[ -n "$nodeinc" ] || { echo "native/fuzz/build.sh: node headers (node_api.h) not found; run npx node-gyp install" >&2; exit 1; }
napiinc=$(node -p "require('node-addon-api').include_dir")
mapfile -t srcs < <(node -e "
  const fs=require('fs'); const g=JSON.parse(fs.readFileSync('binding.gyp','utf8').replace(/#.*$/mg,''));
  for (const s of g.targets[0].sources) console.log(s);")

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# -O1 -g: readable stacks; NAPI_CPP_EXCEPTIONS as in binding.gyp
$CXX -std=c++17 -shared -fPIC -O1 -g $san -Wall -Wextra -Wno-unused-parameter \
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_GYP_MODULE_NAME=tcplab \
  -I"$nodeinc" -I"$napiinc" "${srcs[@]}" -o "$out/tcplab.node"

# The standalone part: checksum.cc has no N-API, so it also gets a plain sanitized harness.
$CXX -std=c++17 -O1 -g $san -Inative native/fuzz/checksum_fuzz.cc native/checksum.cc -o "$out/checksum_fuzz"
# The canary: must be reported by ASan when run (see .ci/sanitize).
$CXX -std=c++17 -shared -fPIC -O0 -g $san -I"$nodeinc" native/fuzz/canary.cc -o "$out/canary.node"
echo "built $out/tcplab.node, $out/canary.node and $out/checksum_fuzz ($CXX, $san)"
