#!/bin/bash
# ab_program.sh — paired runs of 1,000 `command: [true]` steps: weft, then
# make -j2, N times, each weft run on a fresh home; prints the medians and the
# median of the per-pair ratios. Environment variables reach weft, so a switch
# can be compared on the same binary:
#   bench/ab_program.sh build-perf/weft fanout 9
#   WEFT_NO_EARLY_START=1 bench/ab_program.sh build-perf/weft lattice 9
# SHAPE is chain, fanout or lattice (the DAGs of bench_engine.py).
set -euo pipefail
W=$(realpath "$1"); S=$2; N=${3:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$ROOT" "$tmp" "$S" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/bench")
import bench_engine as b
d, s = sys.argv[2], sys.argv[3]
needs = b.dag(s, 1000)
b.write(f"{d}/{s}.yaml", b.workflow(s, needs, 'command: ["true"]', max_parallel=2))
b.write(f"{d}/Makefile.{s}", b.makefile(needs))
PY
cd "$tmp"
for i in $(seq "$N"); do
  rm -rf "$tmp/home"
  WEFT_HOME="$tmp/home" /usr/bin/time -o t1 -f "%e" "$W" run "$S.yaml" >/dev/null 2>&1
  /usr/bin/time -o t2 -f "%e" make -s -j2 -f "Makefile.$S"
  echo "$(cat t1) $(cat t2)"
done | python3 -c "
import sys, statistics
r = [tuple(map(float, l.split())) for l in sys.stdin]
w = statistics.median(x for x, _ in r); m = statistics.median(y for _, y in r)
print('$S: weft %.3f s, make -j2 %.3f s, ratio %.2f (median of pair ratios %.2f, %d pairs)'
      % (w, m, w / m, statistics.median(x / y for x, y in r), len(r)))"
