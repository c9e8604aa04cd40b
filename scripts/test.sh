#!/usr/bin/env bash
# Builds jwtgate and runs every test: the release build runs the unit and integration
# tests, then a second build runs the unit tests under AddressSanitizer and UBSan.
# Usage: scripts/test.sh            (from anywhere; installs missing Debian packages first)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh all
if [[ ! -d ../shared/vectors ]]; then
  echo "test.sh: ../shared/vectors is absent: the Wycheproof and RFC vector cases are skipped"
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DJWTGATE_TESTS=ON \
  -DJWTGATE_BENCH=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJWTGATE_SANITIZE=ON \
  -DJWTGATE_TESTS=ON -DJWTGATE_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -E '^integration/'
