#!/usr/bin/env bash
# Installs every Debian 12 package jwtgate needs to build, test and benchmark.
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libuv1-dev libssl-dev libsimdjson-dev libyaml-cpp-dev node-llhttp libcurl4-openssl-dev
)
test_packages=(
  doctest-dev curl python3 python3-jwt python3-cryptography python3-yaml
)
bench_packages=(
  libbenchmark-dev wrk haproxy nginx-light
)
# The OpenID provider of the remote-keys tests runs on Node.js: Debian's nodejs and npm are
# added only when no node is installed (a newer one installed otherwise is kept).
if ! command -v node >/dev/null 2>&1; then
  test_packages+=(nodejs npm)
fi

want=("${build_packages[@]}")
case "${1:-all}" in
  build) ;;
  all) want+=("${test_packages[@]}" "${bench_packages[@]}") ;;
  *) echo "usage: $0 [build|all]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The pinned oidc-provider (tests/integration/oidc/package-lock.json). The tests also run
# this themselves when node_modules is missing.
oidc_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/oidc"
# JWTGATE_SKIP_NODE_TESTS=1 (no registry here, say) skips it; those tests are then skipped.
if [[ "${JWTGATE_SKIP_NODE_TESTS:-}" == 1 ]]; then
  echo "install-deps: JWTGATE_SKIP_NODE_TESTS=1: not installing the OpenID provider" >&2
elif [[ "${1:-all}" == all && ! -f "$oidc_dir/node_modules/oidc-provider/package.json" ]]; then
  # A failure here is reported, not fatal: the build and every other test still run, and
  # the remote-keys tests fail loudly on their own when the provider is missing.
  if ! npm ci --no-audit --no-fund --prefix "$oidc_dir"; then
    echo "install-deps: warning: npm ci failed; the OpenID provider tests will fail" >&2
  fi
fi
