#!/usr/bin/env bash
# Builds jwtgate and runs every test: the release build runs the unit and integration
# tests, then a second build runs the unit tests under AddressSanitizer and UBSan.
# Usage: scripts/test.sh            (from anywhere; installs missing Debian packages first)
# JWTGATE_SKIP_NODE_TESTS=1 skips the cases that need the npm registry (docs/remote-keys.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,5p' "$0" | sed 's/^# //'
  exit 0
fi

./scripts/install-deps.sh all
if [[ ! -d ../shared/vectors ]]; then
  echo "test.sh: ../shared/vectors is absent: the Wycheproof and RFC vector cases are skipped"
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DJWTGATE_TESTS=ON \
  -DJWTGATE_BENCH=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
# A suite whose cases were skipped still passes; say which were, so that nothing is silent.
skipped=$(grep -h '^SKIP ' build/Testing/Temporary/LastTest.log || true)
if [[ -n "$skipped" ]]; then
  echo "test.sh: skipped cases:"
  echo "$skipped"
fi

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJWTGATE_SANITIZE=ON \
  -DJWTGATE_TESTS=ON -DJWTGATE_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -E '^integration/'
