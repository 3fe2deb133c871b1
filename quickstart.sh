#!/usr/bin/env bash
# bnstep on a fresh Debian 12 machine, in one command:
#   ./quickstart.sh            install what is missing, build, run `bnstep run batchnorm`
#   ./quickstart.sh test       the same set-up, then the whole test suite through ctest: a short fuzz
#                              run, the tests under AddressSanitizer and UndefinedBehaviorSanitizer,
#                              then the tests as built
#   ./quickstart.sh run ARGS   the same set-up, then `bnstep ARGS`
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")"

packages=(g++ cmake make ninja-build pkg-config libcli11-dev libfmt-dev nlohmann-json3-dev doctest-dev libzip-dev libeigen3-dev libcsv-dev libgraphviz-dev)
# The test suite also fuzzes the loader with clang's libFuzzer, renders the manual page
# (groff, man), drives the completions in bash, zsh and fish, builds the Debian package,
# checks the array files against NumPy's, lays out `graph --backward` with Graphviz, and reads
# quiz --export's files with xmllint (libxml2-utils) and, for GIFT, the npm parser gift-pegjs (node),
# and opens `bnstep html`'s pages in Debian's headless chromium, driven by playwright-core (npm).
if [ "${1:-}" = test ]; then
  packages+=(clang libclang-rt-14-dev groff-base man-db zsh fish git dpkg-dev python3-numpy graphviz libxml2-utils chromium)
  # node and npm may come from elsewhere (nodesource): Debian's packages only when there is no npm at all.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi
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
# cmake --build, quiet unless it fails: Ninja prints the compiler's errors on its standard output.
build() {
  local dir=$1
  shift
  cmake --build "$dir" --parallel "$jobs" "$@" >"$dir/build.log" 2>&1 || {
    cat "$dir/build.log" >&2
    echo "quickstart: the build in $dir failed ($dir/build.log)" >&2
    exit 1
  }
}
# CI builds treat every warning as an error; a student's machine does not.
werror=OFF
[ "${CI:-}" = true ] && werror=ON
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBNSTEP_WERROR=$werror >/dev/null
fi
build build

case "${1:-}" in
  "")   exec ./build/bnstep run batchnorm ;;
  run)  shift; exec ./build/bnstep "$@" ;;
  test)
    # Pinned, installed once: the GIFT parser the quiz-export tests run (tests/tools/gift_parse.js) and
    # the browser driver of the page tests (tests/tools/page_driver.mjs), which uses Debian's chromium
    # (playwright-core downloads no browser of its own).
    if [ ! -f build/npm/node_modules/gift-pegjs/package.json ] || [ ! -f build/npm/node_modules/playwright-core/package.json ]; then
      npm install --prefix build/npm --no-audit --no-fund --silent --save-exact gift-pegjs@1.0.2 playwright-core@1.65.2 >/dev/null
    fi
    # The suite again under AddressSanitizer and UndefinedBehaviorSanitizer, built with clang
    # together with the libFuzzer target; then a short fuzz run (fuzz/README.md); then the suite as built.
    if [ ! -f build-check/CMakeCache.txt ]; then
      CXX=clang++ cmake -S . -B build-check -G Ninja -DCMAKE_BUILD_TYPE=Release -DBNSTEP_FUZZ=ON -DBNSTEP_WERROR=$werror >/dev/null
    fi
    # Only what the sanitizer run needs: the tests, the binary they run, the fuzzers.
    build build-check --target bnstep_tests bnstep bnstep_fuzz bnstep_fuzz_arrays
    # One ctest test per test file there; the tests that compare printed text only run in the
    # plain build (tests/CMakeLists.txt says which).
    ctest --test-dir build-check --output-on-failure --parallel "$jobs" >build-check/ctest.log 2>&1 || {
      cat build-check/ctest.log
      echo "quickstart: the tests failed under the sanitizers (build-check/ctest.log)" >&2
      exit 1
    }
    echo "quickstart: sanitizers: $(grep -m1 'tests passed' build-check/ctest.log)"
    mkdir -p build-check/corpus
    # The fuzz run shares the machine with the plain build's tests.
    ./build-check/fuzz/bnstep_fuzz build-check/corpus lessons tests/bad_lessons -dict=fuzz/lesson.dict \
        -max_len=1048576 -timeout=20 -rss_limit_mb=4096 \
        -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 -artifact_prefix=build-check/ >build-check/fuzz.log 2>&1 &
    fuzz_pid=$!
    # The arrays fuzzer (a student's .npz, .npy or JSON through compare), seeded with export's files.
    mkdir -p build-check/corpus-arrays
    ./build/bnstep export batchnorm -o build-check/corpus-arrays/batchnorm.npz >/dev/null
    ./build/bnstep export magnitude-pruning --with-answers -o build-check/corpus-arrays/pruning.json >/dev/null
    ./build-check/fuzz/bnstep_fuzz_arrays build-check/corpus-arrays -dict=fuzz/arrays.dict \
        -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
        -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 -artifact_prefix=build-check/arrays- \
        >build-check/fuzz-arrays.log 2>&1 &
    fuzz_arrays_pid=$!
    tests_ok=true
    ctest --test-dir build --output-on-failure --parallel "$jobs" || tests_ok=false
    if ! wait "$fuzz_pid"; then
      tail -n 40 build-check/fuzz.log
      echo "quickstart: the fuzzer found a failure; its input is saved as build-check/crash-* (see build-check/fuzz.log)" >&2
      exit 1
    fi
    if ! wait "$fuzz_arrays_pid"; then
      tail -n 40 build-check/fuzz-arrays.log
      echo "quickstart: the arrays fuzzer found a failure; its input is saved as build-check/arrays-crash-* (see build-check/fuzz-arrays.log)" >&2
      exit 1
    fi
    echo "quickstart: fuzzing: $(grep -m1 '^Done' build-check/fuzz.log), no failure"
    echo "quickstart: fuzzing the array files: $(grep -m1 '^Done' build-check/fuzz-arrays.log), no failure"
    $tests_ok ;;
  *)    echo "usage: ./quickstart.sh [test | run ARGS...]" >&2; exit 2 ;;
esac
