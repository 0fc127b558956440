#!/usr/bin/env bash
# test.sh — the whole test suite, the command README.md gives and CI runs:
#   1. installs missing packages (scripts/setup.sh --deps),
#   2. a warnings-as-errors build and every ctest entry (unit + CLI end-to-end),
#   3. the same suite again under ASan+UBSan,
#   4. the binary under valgrind on real commands (scripts/valgrind.sh),
#   5. the fuzz targets for a bounded time (WEFT_FUZZ_SECONDS, default 20 each).
# WEFT_TEST_QUICK=1 skips 3 to 5.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh --deps
# the browser tests' npm packages (tests/ui: playwright-core, axe-core), as locked
if [ ! -d tests/ui/node_modules ] || [ tests/ui/package-lock.json -nt tests/ui/node_modules ]; then
  (cd tests/ui && npm ci --no-audit --no-fund)
fi

jobs=$(nproc)
echo "== build (-Werror)"
bash scripts/fresh_build_dir.sh build-test build-asan build-fuzz
cmake -S . -B build-test -DWEFT_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"
echo "== tests"
# A test that fails is run once more (--repeat until-pass:2): CI machines are
# shared and noisy, and one timing-sensitive failure must not hide the rest.
# A second failure fails the suite; a test that needed the second run is
# listed at the end ("passed on its second run") and is a flake to fix.
ctest_flaky() {
  local log=$1; shift
  local rc=0
  ctest --output-on-failure -j"$jobs" --repeat until-pass:2 "$@" 2>&1 | tee "$log" || rc=$?
  if [ "$rc" = 0 ]; then
    grep -E "Test +#[0-9]+: .*(Failed|Timeout|Exception)" "$log" \
      | sed 's/^/passed on its second run (a flake to fix): /' || true
  fi
  return "$rc"
}
(cd build-test && ctest_flaky ctest.log)

if [ "${WEFT_TEST_QUICK:-0}" != 1 ]; then
  echo "== tests under ASan+UBSan"
  cmake -S . -B build-asan -DWEFT_WERROR=ON -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest_flaky ctest.log)

  echo "== valgrind (memcheck) on the real binary"
  bash scripts/valgrind.sh build-test/weft

  if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    echo "== fuzz (bounded)"
    CC=clang cmake -S . -B build-fuzz -DWEFT_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
    for t in $targets; do cmake --build build-fuzz -j"$jobs" --target "$t"; done
    secs=${WEFT_FUZZ_SECONDS:-20}
    for f in build-fuzz/fuzz_*; do
      [ -x "$f" ] || continue
      name=$(basename "$f")
      mkdir -p "build-fuzz/corpus-$name"
      seeds=""; [ -d "tests/fuzz/seeds/$name" ] && seeds="tests/fuzz/seeds/$name"
      echo "-- $name for ${secs}s"
      "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        "build-fuzz/corpus-$name" $seeds >"build-fuzz/$name.log" 2>&1 \
        || { tail -40 "build-fuzz/$name.log"; echo "fuzz target $name failed"; exit 1; }
    done
  fi
fi
echo "== all tests passed"
