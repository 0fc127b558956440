#!/usr/bin/env bash
# bench_validate.sh — how long `weft validate` takes (wall time, peak RSS).
#
# Generates three workflows into a temp dir and validates each with the weft
# binary ($WEFT_BIN, default build/weft), best of 5 runs:
#   100 steps with 200 expressions   target < 60 ms
#   10,000 steps (a chain; each step also reads the first step) target < 1 s, < 100 MB
#   a 2 KB alias bomb                target: rejected in < 50 ms
# Not part of the test run. Usage: bench/bench_validate.sh [path/to/weft]
set -euo pipefail
BIN=${1:-${WEFT_BIN:-build/weft}}
[ -x "$BIN" ] || { echo "no weft binary at $BIN (build it or pass its path)" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

python3 - "$T" <<'PY'
import sys
d = sys.argv[1]
with open(d + "/w100.yaml", "w") as f:
    f.write("name: bench-100\ninputs:\n  n: {type: integer, default: 1}\nsteps:\n")
    f.write("  s0: {run: echo}\n")
    for i in range(1, 100):
        f.write("  s%d:\n    needs: [s%d]\n" % (i, i - 1))
        f.write("    if: .steps.s%d.status == \"succeeded\" and (.inputs.n | . > %d)\n" % (i - 1, i))
        f.write("    command: [echo, \"${{ .steps.s0.outputs.x // %d }}\"]\n" % i)
with open(d + "/w10000.yaml", "w") as f:
    f.write("name: bench-10000\nsteps:\n  s0: {run: echo}\n")
    for i in range(1, 10000):
        f.write("  s%d: {needs: s%d, command: [echo, \"${{ .steps.s0.status }}\"]}\n" % (i, i - 1))
with open(d + "/bomb.yaml", "w") as f:
    f.write("name: lol\nx-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
    for i in range(1, 24):
        f.write("x-%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 8)))
    f.write("steps:\n  a: {set: {x: *a23}}\n")
PY

run() { # file, expected exit code
  local best=999999 rss=0 cpu=999999
  for _ in 1 2 3 4 5; do
    local out
    /usr/bin/time -o "$T/time" -f "%e %M %U %S" "$BIN" validate "$1" >/dev/null 2>&1 || true
    out=$(tail -1 "$T/time")
    local ms kb c
    ms=$(awk '{printf "%d", $1 * 1000}' <<<"$out")
    kb=$(awk '{print $2}' <<<"$out")
    c=$(awk '{printf "%d", ($3 + $4) * 1000}' <<<"$out")
    (( ms < best )) && best=$ms
    (( c < cpu )) && cpu=$c
    (( kb > rss )) && rss=$kb
  done
  printf "%-14s %6s bytes  best %5d ms wall  %5d ms cpu  peak RSS %6d KB\n" \
    "$(basename "$1")" "$(stat -c %s "$1")" "$best" "$cpu" "$rss"
}
echo "weft validate, best of 5 (/usr/bin/time has 10 ms resolution; load: $(cut -d' ' -f1 /proc/loadavg)):"
run "$T/w100.yaml"
run "$T/w10000.yaml"
run "$T/bomb.yaml"
"$BIN" validate "$T/bomb.yaml" 2>&1 | head -1 || true
