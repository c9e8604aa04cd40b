#!/usr/bin/env bash
# The quick-start demo: installs what is missing, builds jwtgate and runs its built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh build
# Only the program: the test and bench packages are not needed for the demo.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DJWTGATE_TESTS=OFF \
  -DJWTGATE_BENCH=OFF >/dev/null
cmake --build build --target jwtgate -j "$(nproc)"
exec ./build/jwtgate demo "$@"
