/* test_server_docs.c — server: the OpenAPI document against the route table
 * (a route missing from either side fails), the table's own consistency, and
 * the metrics registry's text format. The text format is also parsed by
 * python3-prometheus-client in tests/cli/test_metrics_format.py. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/api_routes.h"
#include "server/metrics.h"
#include "server/openapi.h"

static void lower(const char *s, char *out)
{
  for (; *s; s++)
    *out++ = (char)(*s | 0x20);
  *out = 0;
}

Test(openapi, every_route_is_documented_and_nothing_else)
{
  json_t *doc = openapi_document(api_routes, api_route_docs, api_routes_count);
  cr_assert(doc);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
  json_t *paths = json_object_get(doc, "paths");
  size_t ops = 0;
  const char *path;
  json_t *item;
  json_object_foreach(paths, path, item) {
    const char *method;
    json_t *op;
    json_object_foreach(item, method, op) {
      ops++;
      int found = 0;
      for (size_t i = 0; i < api_routes_count; i++) {
        char m[16];
        lower(api_routes[i].method, m);
        if (!strcmp(api_routes[i].pattern, path) && !strcmp(m, method)) {
          found = 1;
          cr_assert_str_eq(json_string_value(json_object_get(op, "operationId")), api_routes[i].op);
          cr_assert_str_eq(json_string_value(json_object_get(op, "x-weft-role")), role_name(api_routes[i].role));
          /* open and signature routes say they need no token */
          json_t *sec = json_object_get(op, "security");
          if (api_routes[i].role == ROLE_NONE || api_routes[i].role == ROLE_SIGNATURE)
            cr_assert(json_is_array(sec) && json_array_size(sec) == 0, "%s %s", method, path);
          else
            cr_assert_null(sec);
          /* each {param} of the path is a required path parameter */
          size_t want = 0;
          for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{'))
            want++;
          size_t got = 0, k;
          json_t *prm;
          json_array_foreach(json_object_get(op, "parameters"), k, prm)
            got += !strcmp(json_string_value(json_object_get(prm, "in")), "path");
          cr_assert_eq(got, want, "%s %s", method, path);
        }
      }
      cr_assert(found, "documented but not routed: %s %s", method, path);
    }
  }
  cr_assert_eq(ops, api_routes_count, "routes without documentation");
  json_decref(doc);
}

Test(openapi, the_table_has_no_duplicates_and_every_contract_route)
{
  static const char *const contract[] = {
      "GET /healthz", "GET /readyz", "GET /metrics", "GET /api/v1/openapi.json", "GET /api/v1/workflows",
      "POST /api/v1/workflows", "GET /api/v1/workflows/{name}", "POST /api/v1/workflows/{name}/runs",
      "GET /api/v1/runs", "GET /api/v1/runs/{id}", "GET /api/v1/runs/{id}/graph", "GET /api/v1/runs/{id}/logs/{step}",
      "POST /api/v1/runs/{id}/cancel", "POST /api/v1/runs/{id}/retry", "GET /api/v1/approvals",
      "POST /api/v1/runs/{id}/steps/{step}/approve", "POST /api/v1/runs/{id}/steps/{step}/reject",
      "POST /api/v1/events", "POST /api/v1/hooks/{name}", "GET /api/v1/events/stream", "GET /api/v1/audit",
      "GET /api/v1/audit/verify", "GET /api/v1/runs/{id}/evidence", "GET /api/v1/schedules", "GET /api/v1/tokens",
      "POST /api/v1/tokens", "DELETE /api/v1/tokens/{id}"};
  for (size_t c = 0; c < sizeof contract / sizeof *contract; c++) {
    int n = 0;
    for (size_t i = 0; i < api_routes_count; i++) {
      char key[128];
      snprintf(key, sizeof key, "%s %s", api_routes[i].method, api_routes[i].pattern);
      n += !strcmp(key, contract[c]);
    }
    cr_assert_eq(n, 1, "%s appears %d times", contract[c], n);
  }
  for (size_t i = 0; i < api_routes_count; i++)
    for (size_t j = i + 1; j < api_routes_count; j++)
      cr_assert(strcmp(api_routes[i].method, api_routes[j].method) || strcmp(api_routes[i].pattern, api_routes[j].pattern),
                "duplicate route %s %s", api_routes[i].method, api_routes[i].pattern);
}

Test(metrics, text_format_counters_gauges_histograms_and_escaping)
{
  struct metrics *m = metrics_new();
  static const char *const wl[] = {"workflow", "status", NULL};
  static const double b[] = {0.005, 0.1, 1};
  int runs = metrics_family(m, "weft_runs_total", "Runs that ended.", METRIC_COUNTER, wl, NULL, 0);
  int active = metrics_family(m, "weft_runs_active", "Runs running now.", METRIC_GAUGE, NULL, NULL, 0);
  int dur = metrics_family(m, "weft_store_commit_seconds", "Store commits.", METRIC_HISTOGRAM, NULL, b, 3);
  metrics_inc(m, runs, (const char *const[]){"etl", "succeeded"}, 1);
  metrics_inc(m, runs, (const char *const[]){"etl", "succeeded"}, 2);
  metrics_inc(m, runs, (const char *const[]){"we\"ird\\\n", "failed"}, 1);
  metrics_set(m, active, NULL, 7);
  metrics_observe(m, dur, NULL, 0.001);
  metrics_observe(m, dur, NULL, 0.5);
  metrics_observe(m, dur, NULL, 3);
  struct buf o;
  buf_init(&o, 1 << 20);
  metrics_render(m, &o);
  cr_assert(strstr(o.p, "# TYPE weft_runs_total counter\n"));
  cr_assert(strstr(o.p, "weft_runs_total{workflow=\"etl\",status=\"succeeded\"} 3\n"), "%s", o.p);
  cr_assert(strstr(o.p, "weft_runs_total{workflow=\"we\\\"ird\\\\\\n\",status=\"failed\"} 1\n"), "%s", o.p);
  cr_assert(strstr(o.p, "weft_runs_active 7\n"));
  cr_assert(strstr(o.p, "weft_store_commit_seconds_bucket{le=\"0.005\"} 1\n"), "%s", o.p);
  cr_assert(strstr(o.p, "weft_store_commit_seconds_bucket{le=\"1\"} 2\n"));
  cr_assert(strstr(o.p, "weft_store_commit_seconds_bucket{le=\"+Inf\"} 3\n"));
  cr_assert(strstr(o.p, "weft_store_commit_seconds_sum 3.501\n"), "%s", o.p);
  cr_assert(strstr(o.p, "weft_store_commit_seconds_count 3\n"));
  cr_assert(strstr(o.p, "process_resident_memory_bytes "));
  cr_assert(strstr(o.p, "process_open_fds "));
  buf_free(&o);
  metrics_free(m);
}

Test(metrics, unbounded_labels_are_capped_in_one_overflow_series)
{
  struct metrics *m = metrics_new();
  static const char *const l[] = {"route", NULL};
  int f = metrics_family(m, "weft_http_requests_total", "Requests.", METRIC_COUNTER, l, NULL, 0);
  char v[32];
  for (int i = 0; i < METRICS_MAX_SERIES + 500; i++) {
    snprintf(v, sizeof v, "r%d", i);
    metrics_inc(m, f, (const char *const[]){v}, 1);
  }
  struct buf o;
  buf_init(&o, 1 << 22);
  metrics_render(m, &o);
  cr_assert(strstr(o.p, "weft_http_requests_total{route=\"_other\"} 500\n"), "no overflow series");
  cr_assert_null(strstr(o.p, "route=\"r2100\""));
  buf_free(&o);
  metrics_free(m);
}
