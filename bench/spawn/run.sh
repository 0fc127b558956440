#!/bin/sh
# run.sh — build spawn_bench and compare ways of starting 1,000 `true`
# against `make -j2` (see README.md). Usage: bench/spawn/run.sh [N] [RUNS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${1:-1000}
RUNS=${2:-7}
work=$(mktemp -d /tmp/spawn-bench-run-XXXXXX)
trap 'rm -rf "$work"' EXIT

cc -std=c11 -O2 -D_GNU_SOURCE -I"$root/src" -o "$work/spawn_bench" "$here/spawn_bench.c" \
  "$root"/src/exec/proc.c "$root"/src/exec/proc_async.c "$root"/src/exec/proc_spawn.c "$root"/src/exec/proc_watch.c \
  "$root"/src/exec/proc_group.c "$root"/src/exec/proc_mask.c "$root"/src/exec/outputs.c "$root"/src/util/buf.c \
  "$root"/src/util/err.c "$root"/src/util/wtime.c -luv -ljansson -lpthread

# make: N phony targets with explicit rules (make skips pattern rules for
# phony targets) whose recipe is `true` (make runs it without a shell)
{
  printf 'all:'
  i=1; while [ $i -le "$N" ]; do printf ' t%d' $i; i=$((i + 1)); done
  printf '\n.PHONY: all'
  i=1; while [ $i -le "$N" ]; do printf ' t%d' $i; i=$((i + 1)); done
  printf '\n'
  i=1; while [ $i -le "$N" ]; do printf 't%d:\n\t@true\n' $i; i=$((i + 1)); done
} > "$work/Makefile"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ms_of() { # runs "$@", prints wall ms
  s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))
}

printf '%-15s %8s %10s %10s\n' mode inflight median_ms us/proc
for j in 1 2; do
  r=$(for k in $(seq "$RUNS"); do ms_of make -s -j$j -f "$work/Makefile" -C "$work"; done | median)
  printf '%-15s %8s %10s %10s\n' "make -j$j" $j "$r" $((r * 1000 / N))
  for m in uv posix posix-sigchld proc proc-sigchld; do
    r=$(for k in $(seq "$RUNS"); do "$work/spawn_bench" $m "$N" $j | sed 's/.*: \([0-9.]*\) ms.*/\1/'; done | median)
    printf '%-15s %8s %10s %10s\n' "$m" $j "$r" "$(echo "$r $N" | awk '{printf "%d", $1*1000/$2}')"
  done
done
