#!/usr/bin/env bash
# The quick-start demo: installs what is missing, builds jwtgate and runs its built-in demo.
# Usage: scripts/demo.sh [--check] [--port N]   (the options go to `jwtgate demo`)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0" | sed 's/^# //'
  echo "  --check   send a valid, a missing and a forged token; exit 0 on 200, 401, 401"
  echo "  --port N  listen on 127.0.0.1:N (default 8080, or a free port when it is taken)"
  exit 0
fi

./scripts/install-deps.sh build
# Only the program: the test and bench packages are not needed for the demo.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DJWTGATE_TESTS=OFF \
  -DJWTGATE_BENCH=OFF >/dev/null
cmake --build build --target jwtgate -j "$(nproc)"
exec ./build/jwtgate demo "$@"
