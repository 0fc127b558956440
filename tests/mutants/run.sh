#!/usr/bin/env bash
# run.sh — the mutation check: plants each known bug (tests/mutants/*.diff, one
# unified diff per mutant) in a copy of HEAD, one at a time, builds it and runs
# the tests that must catch it; prints `killed` or `survived` per mutant and
# the ratio. Exit status 1 when a mutant survived, 2 when one does not apply
# or does not build (a mutant must compile: only a failing test kills it).
#
#   bash tests/mutants/run.sh                 # every mutant
#   bash tests/mutants/run.sh cycle_ignores_parent_edge start_before_commit
#
# Each .diff starts with comment lines before the diff itself (patch skips
# them):   # mutant: WHAT BUG IT PLANTS
#          # killed by: FILE TEST (the test that must fail)
#          # tests: CTEST_REGEX   (the ctest entries to run; none: all of them)
# The copy is `git archive HEAD` (commit first: uncommitted changes are not
# in it; the .diff files are read from this tree), in a temporary folder with
# one build folder reused by every mutant (-j$WEFT_MUTANTS_JOBS, default 2).
# WEFT_MUTANTS_FULL=1 runs every ctest entry for every mutant (slow).
# WEFT_MUTANTS_KEEP=1 keeps the folder. Not part of scripts/test.sh: see
# docs/internals/testing.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
jobs=${WEFT_MUTANTS_JOBS:-2}
t0=$(date +%s)

if [ $# -gt 0 ]; then
  diffs=()
  for n in "$@"; do
    f=tests/mutants/${n%.diff}.diff
    [ -f "$f" ] || { echo "run.sh: no mutant $f" >&2; exit 2; }
    diffs+=("$f")
  done
else
  diffs=(tests/mutants/*.diff)
fi
[ -e "${diffs[0]}" ] || { echo "run.sh: no tests/mutants/*.diff" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-mutants.XXXXXX")
if [ "${WEFT_MUTANTS_KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
fi
tree=$work/tree
build=$work/build
mkdir -p "$tree"
git archive HEAD | tar -x -C "$tree"
echo "== copy of $(git rev-parse --short HEAD) in $work"

header() { # header FILE KEY: the value of a `# KEY:` line
  sed -n "s/^# $2: *//p" "$1" | head -1
}

echo "== build (unmutated)"
cmake -S "$tree" -B "$build" -DWEFT_WERROR=ON >"$work/cmake.log" 2>&1 \
  || { tail -20 "$work/cmake.log"; echo "run.sh: cmake failed" >&2; exit 2; }
cmake --build "$build" -j"$jobs" >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; echo "run.sh: the unmutated tree does not build" >&2; exit 2; }

# the tests the mutants name must pass without them, or a kill means nothing
regexes=()
for f in "${diffs[@]}"; do
  r=$(header "$f" tests)
  if [ -z "$r" ] || [ "${WEFT_MUTANTS_FULL:-0}" = 1 ]; then regexes=(); break; fi
  regexes+=("$r")
done
union=$(IFS='|'; echo "${regexes[*]:-}")
echo "== tests (unmutated): ${union:-all}"
if ! (cd "$build" && ctest ${union:+-R "$union"} -j"$jobs" --timeout 300 >"$work/base.log" 2>&1); then
  grep -E "Failed|\*\*\*" "$work/base.log" | head -20
  echo "run.sh: tests fail without any mutant" >&2
  exit 2
fi

killed=0 survived=0 broken=0 n=0
for f in "${diffs[@]}"; do
  name=$(basename "$f" .diff)
  n=$((n + 1))
  what=$(header "$f" mutant)
  regex=$(header "$f" tests)
  [ "${WEFT_MUTANTS_FULL:-0}" = 1 ] && regex=
  if ! patch -s -p1 -d "$tree" --no-backup-if-mismatch <"$f" >"$work/$name.patch.log" 2>&1; then
    echo "broken   $name: does not apply to HEAD ($(head -1 "$work/$name.patch.log"))"
    broken=$((broken + 1))
    continue
  fi
  if ! cmake --build "$build" -j"$jobs" >"$work/$name.build.log" 2>&1; then
    echo "broken   $name: does not build (see $work/$name.build.log)"
    broken=$((broken + 1))
  elif (cd "$build" && ctest ${regex:+-R "$regex"} -j"$jobs" --timeout 300 \
          >"$work/$name.test.log" 2>&1); then
    echo "survived $name: $what (ran: ${regex:-all}; expected killer: $(header "$f" 'killed by'))"
    survived=$((survived + 1))
  else
    fails=$(sed -n 's/^[[:space:]]*[0-9][0-9]* - \([^ ]*\) (.*/\1/p' "$work/$name.test.log" \
              | tr '\n' ' ')
    echo "killed   $name: by ${fails% }"
    killed=$((killed + 1))
  fi
  patch -s -R -p1 -d "$tree" --no-backup-if-mismatch <"$f" >/dev/null
done
echo "== $killed/$n killed, $survived survived, $broken broken in $(( $(date +%s) - t0 )) s"
[ "$broken" -eq 0 ] || exit 2
[ "$survived" -eq 0 ] || exit 1
