#!/usr/bin/env bash
# bnstep on a fresh Debian 12 machine, in one command:
#   ./quickstart.sh            install what is missing, build, run `bnstep run batchnorm`
#   ./quickstart.sh test       the same set-up, then the whole test suite through ctest
#   ./quickstart.sh run ARGS   the same set-up, then `bnstep ARGS`
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")"

packages=(g++ cmake make libcli11-dev libfmt-dev nlohmann-json3-dev doctest-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "quickstart: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build --parallel "$jobs" -- --no-print-directory >/dev/null

case "${1:-}" in
  "")   exec ./build/bnstep run batchnorm ;;
  run)  shift; exec ./build/bnstep "$@" ;;
  test) exec ctest --test-dir build --output-on-failure --parallel "$jobs" ;;
  *)    echo "usage: ./quickstart.sh [test | run ARGS...]" >&2; exit 2 ;;
esac
