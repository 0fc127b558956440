/* gen_runs.c — a bench-only generator (bench/bench_ui.py): fills a home's
 * store with N finished runs, fast, through the store API weft itself uses
 * (store_run_put in transactions of 5,000), so the runs page can be timed
 * with 100,000 runs in the store without starting 100,000 runs.
 *
 *   gen_runs HOME TEMPLATE_RUN_ID N
 *
 * Each new run is a copy of the template run (a real finished run: its
 * workflow, definition hash, inputs, trigger, user) with a fresh ULID and
 * times spread one second apart back from now, newest last; one in ten is
 * marked failed and one in fifty cancelled, so the status filter has work.
 * Only the runs rows are written (no steps): the runs page reads nothing
 * else. Not installed, not used by weft. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/ids.h"
#include "util/wtime.h"

#define BATCH 5000

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: gen_runs HOME TEMPLATE_RUN_ID N\n");
    return 2;
  }
  char *end = NULL;
  long n = strtol(argv[3], &end, 10);
  if (!*argv[3] || *end || n < 1 || n > 10000000) {
    fprintf(stderr, "weft: gen_runs: N must be 1 to 10,000,000, not %s\n", argv[3]);
    return 2;
  }
  struct store *s = NULL;
  char *err = NULL;
  if (store_open(argv[1], &s, &err) != 0) {
    fprintf(stderr, "weft: gen_runs: cannot open the store in %s: %s\n", argv[1], err ? err : "?");
    free(err);
    return 1;
  }
  int rc = 0;
  struct store_run t = {0};
  if (store_run_get(s, argv[2], &t) != 0) {
    fprintf(stderr, "weft: gen_runs: no run %s in %s: %s\n", argv[2], argv[1], store_errmsg(s));
    rc = 1;
    goto out;
  }
  int64_t now = wt_now_ms();
  char id[WEFT_ID_LEN + 1];
  for (long i = 0; i < n && !rc; i += BATCH) {
    if ((rc = store_begin(s)) != 0)
      break;
    for (long j = i; j < n && j < i + BATCH && !rc; j++) {
      int64_t at = now - (n - j) * 1000;
      ids_ulid(id, at);
      struct store_run r = t;
      r.id = id;
      r.status = j % 50 == 7 ? "cancelled" : j % 10 == 3 ? "failed" : "succeeded";
      r.created_at = r.started_at = at;
      r.finished_at = at + 250 + j % 700;
      r.owner_pid = 0;
      r.owner_start = 0;
      r.heartbeat_at = 0;
      rc = store_run_put(s, &r);
    }
    if (rc) {
      store_rollback(s);
      break;
    }
    rc = store_commit(s);
  }
  if (rc)
    fprintf(stderr, "weft: gen_runs: cannot write runs: %s\n", store_errmsg(s));
out:
  store_run_clear(&t);
  store_close(s);
  return rc ? 1 : 0;
}
