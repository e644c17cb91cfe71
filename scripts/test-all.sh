#!/bin/sh
# The README's test command (`sudo npm run test:all`): install what the tests need, then the whole suite.
# Arguments go to vitest (e.g. --reporter=json --outputFile=F, as .ci/run passes).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup-test.sh
exec npm test -- "$@"
