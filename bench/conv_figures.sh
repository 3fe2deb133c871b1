#!/usr/bin/env bash
# The headline figures of the convolution kernels: forward, input gradient,
# weight gradient and forward+backward of the realistic layer
#   x (8, 32, 56, 56), w (64, 32, 3, 3), padding 1
# in a Release build of its own (build-bench/, or $BUILD_DIR), REPS runs each.
#   bench/conv_figures.sh                 the standard 3x3 layer
#   bench/conv_figures.sh all             also the depthwise and pointwise layers
#   REPS=10 bench/conv_figures.sh         more repetitions
set -euo pipefail
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build-bench}
reps=${REPS:-5}
filter='^conv_.*/standard'
[ "${1:-}" = all ] && filter='^conv_'

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBNSTEP_BUILD_TESTS=OFF -DBNSTEP_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target bnstep_bench --parallel "$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"./$build/bench/bnstep_bench" --benchmark_filter="$filter" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true --benchmark_format=console 2>/dev/null | tee "$out"

# One line per benchmark from the median and cv rows:
#   name  wall ms  CPU ms (calling thread)  GFLOP/s (on wall time: the kernels use several threads)  cv of the wall time
echo
echo "median of $reps runs; GFLOP/s = 2 * multiply-adds / wall time; cv = stddev/mean of the wall time"
awk '
  /_median / || /_cv / {
    name = $1; sub(/_(median|cv)$/, "", name)
    if ($1 ~ /_median$/) {
      wall[name] = $2; cpu[name] = $4; unit[name] = $3
      for (i = 1; i <= NF; i++) if ($i ~ /^FLOPS=/) { f = $i; sub(/^FLOPS=/, "", f); flops[name] = f }
      order[++n] = name
    } else cv[name] = $2 "%"
  }
  END {
    printf "%-36s %10s %10s %10s %8s\n", "benchmark", "wall", "CPU", "GFLOP/s", "cv(wall)"
    for (k = 1; k <= n; k++) {
      name = order[k]; f = flops[name]; g = f + 0
      if (f ~ /G\/s$/) g = g; else if (f ~ /M\/s$/) g = g / 1000; else if (f ~ /T\/s$/) g = g * 1000; else g = g / 1e9
      printf "%-36s %7s %s %7s %s %10.2f %8s\n", name, wall[name], unit[name], cpu[name], unit[name], g, cv[name]
    }
  }' "$out"
