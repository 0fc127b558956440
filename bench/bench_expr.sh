#!/usr/bin/env bash
# bench_expr.sh — cost of the expression module (src/expr/).
#
# Builds a small C driver against libweft from BUILD (default build-bench-expr,
# configured here if missing) and prints: jq compile time for N non-plain
# expressions in one program, and evaluation rates for a plain path, a jq
# expression and a rendered template string. Not part of the test run.
# Usage: bench/bench_expr.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench-expr}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target weftlib -j2 >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/b.c" <<'C'
#include "expr/expr.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void cb(void *ud, int id, const char *m) { fprintf(stderr, "id %d: %s\n", id, m); }
int main(void) {
  int sizes[] = {1, 200, 1000, 3000, 10000};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    struct expr_prog *p = expr_prog_new();
    char buf[96];
    for (int i = 0; i < sizes[k]; i++) {
      snprintf(buf, sizeof buf, ".steps.s%d.outputs.n + %d | tostring", i, i);
      expr_prog_add(p, buf, strlen(buf));
    }
    double t0 = now();
    unsigned long c0 = expr_debug_compile_count();
    int rc = expr_prog_compile(p, cb, NULL);
    printf("compile %5d jq expressions: %7.3f s  (%lu jq_compile, rc %d)\n", sizes[k], now() - t0,
           expr_debug_compile_count() - c0, rc);
    expr_prog_free(p);
  }
  struct expr_prog *p = expr_prog_new();
  int plain = expr_prog_add(p, ".steps.a.outputs.x", 18);
  int viajq = expr_prog_add(p, ".steps.a.outputs.x + 1", 22);
  expr_prog_add(p, ".inputs.name", 12);
  expr_prog_compile(p, cb, NULL);
  json_t *ctx = json_pack("{s:{s:{s:{s:i}}}, s:{s:s}}", "steps", "a", "outputs", "x", 41, "inputs", "name", "w");
  struct expr_env env = {.success = true};
  int n = 1000000;
  double t0 = now();
  for (int i = 0; i < n; i++) { json_t *o; expr_eval(p, plain, ctx, &env, &o, NULL); json_decref(o); }
  printf("plain path eval:   %10.0f /s\n", n / (now() - t0));
  n = 100000; t0 = now();
  for (int i = 0; i < n; i++) { json_t *o; expr_eval(p, viajq, ctx, &env, &o, NULL); json_decref(o); }
  printf("jq expression eval: %9.0f /s\n", n / (now() - t0));
  n = 1000000; t0 = now();
  for (int i = 0; i < n; i++) { json_t *o; expr_render_str(p, "hello ${{ .inputs.name }}!", ctx, &env, &o, NULL); json_decref(o); }
  printf("render_str (plain): %9.0f /s\n", n / (now() - t0));
  t0 = now();
  for (int i = 0; i < n; i++) { json_t *o; expr_render_str(p, "no expression here", ctx, &env, &o, NULL); json_decref(o); }
  printf("render_str (none):  %9.0f /s\n", n / (now() - t0));
  json_decref(ctx);
  expr_prog_free(p);
  return 0;
}
C
cc -O2 -std=c11 -D_GNU_SOURCE -I "$root/src" -o "$tmp/b" "$tmp/b.c" "$build/libweft.a" \
  $(pkg-config --libs jansson) -ljq -lm
"$tmp/b"
