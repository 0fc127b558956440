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
python3 - "$W" "$S" "$N" "$tmp" <<'PY2'
import os, shutil, statistics, subprocess, sys, time
w, s, n, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def timed(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
env = dict(os.environ, WEFT_HOME=f"{tmp}/home")
r = []
for _ in range(n):
    shutil.rmtree(f"{tmp}/home", ignore_errors=True)
    a = timed([w, "run", f"{s}.yaml"], env)
    b = timed(["make", "-s", "-j2", "-f", f"Makefile.{s}"])
    r.append((a, b))
wm = statistics.median(x for x, _ in r); mm = statistics.median(y for _, y in r)
print("%s: weft %.3f s, make -j2 %.3f s, ratio %.2f (median of pair ratios %.2f, %d pairs)"
      % (s, wm, mm, wm / mm, statistics.median(x / y for x, y in r), len(r)))
PY2
