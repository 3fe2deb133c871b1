#!/usr/bin/env bash
# Long graphs, whole processes: a chain of neg nodes of 2,500 to 200,000
# nodes, loaded by `bnstep graph` (parsing, sorting, running), and of 2,500 to
# 9,999 nodes checked by `check-gradients` (auto: local mode). Both should
# take a flat time per node as the chain doubles; the callback parser grew it
# with the file (1.2 MB took 26 s), and a check that carried every node's move
# to the output grew it with the chain (47 s at 9,999 nodes).
# Usage: bench/long_graphs.sh [BNSTEP]
set -euo pipefail
bnstep=${1:-build/bnstep}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chain() {
  python3 - "$1" "$dir/chain.json" <<'PY'
import json, sys
n = int(sys.argv[1])
nodes = [{"name": f"n{i}", "op": "neg", "inputs": ["x" if i == 1 else f"n{i-1}"]} for i in range(1, n + 1)]
json.dump({"title": "chain", "leaves": [{"name": "x", "kind": "param", "shape": [1], "fill": 1}],
           "nodes": nodes, "output": {"node": f"n{n}", "upstream": {"fill": 1}}}, open(sys.argv[2], "w"))
PY
}
timed() {  # LABEL N COMMAND...
  local label=$1 n=$2
  shift 2
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  python3 -c "n=$n; t=$end-$start; print(f'{\"$label\":16} {n:>7} nodes  {t:7.3f} s  {t/n*1e6:7.2f} us per node')"
}
for n in 25000 50000 100000 200000; do
  chain "$n"
  timed "load (graph)" "$n" "$bnstep" graph "$dir/chain.json" --max-nodes 1000000
done
for n in 2500 5000 9999; do
  chain "$((n - 1))"
  timed "check-gradients" "$n" "$bnstep" check-gradients "$dir/chain.json"
done
