/* metrics_probe.c — a test tool: prints a metrics registry with awkward
 * label values in the text format, for tests/cli/test_metrics_format.py to
 * parse with python3-prometheus-client (an independent parser). */
#include <stdio.h>

#include "server/metrics.h"

int main(void)
{
  struct metrics *m = metrics_new();
  static const char *const wl[] = {"workflow", "kind", "status", NULL};
  static const double b[] = {0.001, 0.01, 0.1, 1, 10};
  int steps = metrics_family(m, "weft_steps_total", "Steps that ended,\nby kind.", METRIC_COUNTER, wl, NULL, 0);
  int dur = metrics_family(m, "weft_step_duration_seconds", "Step attempt durations.", METRIC_HISTOGRAM,
                           (const char *const[]){"kind", NULL}, b, 5);
  int act = metrics_family(m, "weft_runs_active", "Runs active now.", METRIC_GAUGE, NULL, NULL, 0);
  metrics_inc(m, steps, (const char *const[]){"etl", "run", "succeeded"}, 41);
  metrics_inc(m, steps, (const char *const[]){"etl", "run", "succeeded"}, 1);
  metrics_inc(m, steps, (const char *const[]){"a \"quoted\" \\ name\nwith newline", "http", "failed"}, 2);
  metrics_inc(m, steps, (const char *const[]){"ünïcode", "set", "skipped"}, 0.5);
  for (int i = 0; i < 100; i++)
    metrics_observe(m, dur, (const char *const[]){"run"}, i / 50.0);
  metrics_set(m, act, NULL, 3);
  struct buf o;
  buf_init(&o, 1 << 20);
  metrics_render(m, &o);
  fputs(o.p, stdout);
  buf_free(&o);
  metrics_free(m);
  return 0;
}
