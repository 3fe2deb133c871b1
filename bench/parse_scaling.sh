#!/usr/bin/env bash
# Parse time against file size: lessons of 25,000 to 200,000 small node
# objects (a chain of neg), loaded by `bnstep graph`. Linear parsing keeps the
# time per node flat as the file doubles; the callback parser used before grew
# it with the file (1.2 MB took 26 s). Usage: bench/parse_scaling.sh [BNSTEP]
set -euo pipefail
bnstep=${1:-build/bnstep}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in 25000 50000 100000 200000; do
  python3 - "$n" "$dir/chain.json" <<'PY'
import json, sys
n = int(sys.argv[1])
nodes = [{"name": f"n{i}", "op": "neg", "inputs": ["x" if i == 1 else f"n{i-1}"]} for i in range(1, n + 1)]
json.dump({"title": "chain", "leaves": [{"name": "x", "kind": "param", "shape": [1], "fill": 1}],
           "nodes": nodes, "output": {"node": f"n{n}", "upstream": {"fill": 1}}}, open(sys.argv[2], "w"))
PY
  bytes=$(stat -c %s "$dir/chain.json")
  start=$(date +%s.%N)
  "$bnstep" graph "$dir/chain.json" --max-nodes 1000000 >/dev/null
  end=$(date +%s.%N)
  python3 -c "n=$n; t=$end-$start; print(f'{n:>7} nodes  {$bytes/1e6:6.1f} MB  {t:7.3f} s  {t/n*1e6:6.2f} us per node')"
done
