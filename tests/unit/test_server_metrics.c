/* test_server_metrics.c — the metrics registry (src/server/metrics.c) beyond
 * what the end-to-end tests (cli/test_server_metrics.py, test_metrics_format.py)
 * reach: label values longer than the series key. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/metrics.h"
#include "util/buf.h"

/* A series is found by a key made of its label values. A first value that
 * filled the key left a negative room for the second one, and the copy of it
 * ran past the key (size_t underflow: found by gcc -O3's -Wstringop-overflow);
 * had it not, the later values would have been cut away and two series with
 * different statuses merged into one. */
Test(metrics, label_values_longer_than_the_key_are_cut_not_overflowed)
{
  struct metrics *m = metrics_new();
  cr_assert_not_null(m);
  const char *labels[] = {"workflow", "status", "kind", NULL};
  int fam = metrics_family(m, "weft_test_total", "a test counter", METRIC_COUNTER, labels, NULL, 0);
  cr_assert_geq(fam, 0);
  char longv[400];
  memset(longv, 'w', sizeof longv - 1);
  longv[sizeof longv - 1] = 0;
  const char *v1[] = {longv, "succeeded", "run", NULL};
  const char *v2[] = {longv, "failed", "run", NULL};
  metrics_inc(m, fam, v1, 1);
  metrics_inc(m, fam, v1, 2);
  metrics_inc(m, fam, v2, 1);
  struct buf out;
  buf_init(&out, 1 << 20);
  cr_assert_eq(metrics_render(m, &out), 0);
  cr_assert_not_null(strstr(out.p, "weft_test_total"));
  /* the series stay apart (each value keeps its share of the key), and
   * the long value is rendered cut to its share */
  cr_assert_not_null(strstr(out.p, "status=\"succeeded\",kind=\"run\"} 3"), "%s", out.p);
  cr_assert_not_null(strstr(out.p, "status=\"failed\",kind=\"run\"} 1"), "%s", out.p);
  cr_assert_null(strstr(out.p, longv));
  buf_free(&out);
  metrics_free(m);
}
