#!/usr/bin/env bash
# The quick-start demo: installs what is missing, builds jwtgate and runs its built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target jwtgate -j "$(nproc)"
exec ./build/jwtgate demo "$@"
