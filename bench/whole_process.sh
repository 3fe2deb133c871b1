#!/usr/bin/env bash
# Whole-process timings of bnstep with hyperfine (Debian package `hyperfine`):
# what a student or a teacher waits for, start to exit, output discarded.
#   bench/whole_process.sh                 Release build in build-bench/ (or $BUILD_DIR), then the timings
#   RUNS=50 bench/whole_process.sh         more runs per command (default 30)
#   EXPORT=figures.md bench/whole_process.sh   also write hyperfine's Markdown table
# The baseline is a trivial C++ program (it prints one line through iostream),
# compiled here with the same compiler, as usual (dynamically linked): the cost
# of starting and exiting a C++ process on this machine. bnstep itself links as
# a static PIE (BNSTEP_STATIC), so the same program linked -static-pie is timed
# too: the floor no C++ program goes below.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
runs=${RUNS:-30}
command -v hyperfine >/dev/null || { echo "whole_process.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }

[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBNSTEP_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target bnstep --parallel "$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null
bnstep="$PWD/$build/bnstep"

trivial="$build/bench/trivial_program"
mkdir -p "$build/bench"
printf '#include <iostream>\nint main() { std::cout << "hello\\n"; }\n' >"$build/bench/trivial_program.cpp"
"${CXX:-c++}" -O2 -o "$trivial" "$build/bench/trivial_program.cpp"
"${CXX:-c++}" -O2 -static-pie -o "$trivial-static" "$build/bench/trivial_program.cpp"

# The realistic convolution: the conv2d lesson resized to an early ResNet stage.
conv_big="--set x.shape=8,32,56,56 --set w.shape=64,32,3,3 --set b.shape=64"

args=(--warmup 3 --runs "$runs" -N)
[ -n "${EXPORT:-}" ] && args+=(--export-markdown "$EXPORT")
hyperfine "${args[@]}" \
  -n "trivial C++ program" "$trivial" \
  -n "trivial C++ program, -static-pie" "$trivial-static" \
  -n "bnstep --version" "$bnstep --version" \
  -n "bnstep run batchnorm" "$bnstep run batchnorm" \
  -n "bnstep trace batchnorm --node 7" "$bnstep trace batchnorm --node 7" \
  -n "bnstep check-gradients (every built-in lesson)" "$bnstep check-gradients" \
  -n "bnstep run conv2d (x 8x32x56x56, w 64x32x3x3)" "$bnstep run conv2d $conv_big"
