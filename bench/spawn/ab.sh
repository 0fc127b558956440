#!/bin/sh
# ab.sh — paired comparison of the executor against make -j2 on a busy
# machine: alternate one `make -j2` run and one `spawn_bench proc N 2` run,
# PAIRS times, and report the median of the per-pair ratios proc/make (load
# drift hits both halves of a pair alike). Usage: bench/spawn/ab.sh [N] [PAIRS] [MODE]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${1:-1000}
PAIRS=${2:-9}
MODE=${3:-proc}
work=$(mktemp -d /tmp/spawn-bench-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root/src" -o "$work/spawn_bench" "$here/spawn_bench.c" \
  "$root"/src/exec/proc.c "$root"/src/exec/proc_async.c "$root"/src/exec/proc_spawn.c "$root"/src/exec/proc_watch.c \
  "$root"/src/exec/proc_group.c "$root"/src/exec/proc_mask.c "$root"/src/exec/outputs.c \
  "$root"/src/util/buf.c "$root"/src/util/err.c "$root"/src/util/wtime.c -luv -ljansson -lpthread
{
  printf 'all:'; i=1; while [ $i -le "$N" ]; do printf ' t%d' $i; i=$((i + 1)); done
  printf '\n.PHONY: all'; i=1; while [ $i -le "$N" ]; do printf ' t%d' $i; i=$((i + 1)); done
  printf '\n'; i=1; while [ $i -le "$N" ]; do printf 't%d:\n\t@true\n' $i; i=$((i + 1)); done
} > "$work/Makefile"
p=1
while [ $p -le "$PAIRS" ]; do
  s=$(date +%s%N); make -s -j2 -f "$work/Makefile" -C "$work" >/dev/null; e=$(date +%s%N)
  mk=$(( (e - s) / 1000 ))
  s=$(date +%s%N); "$work/spawn_bench" "$MODE" "$N" 2 >/dev/null; e=$(date +%s%N)
  pr=$(( (e - s) / 1000 ))
  echo "$mk $pr" | awk '{printf "pair: make %.0f ms, %s %.0f ms, ratio %.3f\n", $1/1000, "'"$MODE"'", $2/1000, $2/$1}'
  p=$((p + 1))
done | tee "$work/pairs"
awk '{print $NF}' "$work/pairs" | sort -n | awk '{a[NR]=$1} END {printf "median ratio %s/make-j2: %.3f (%d pairs)\n", "'"$MODE"'", a[int((NR+1)/2)], NR}'
