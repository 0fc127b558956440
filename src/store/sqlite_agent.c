/* sqlite_agent.c — agent transcripts in the SQLite backend (table
 * agent_turns, migration 3): what exec/agent.c records after each model reply
 * and each tool result, so that a resumed agent step replays them instead of
 * calling the model again. */
#include "store/sqlite_int.h"
#include "util/err.h"

#include <stdlib.h>

int sq_turn_put(struct store *s, const char *run_id, const char *step, int index, int attempt,
                int seq, const char *data, int64_t at)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_TURN_PUT,
                             "INSERT OR REPLACE INTO agent_turns(run_id, step, idx, attempt, seq, "
                             "data, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int(st, 3, index);
  sqlite3_bind_int(st, 4, attempt);
  sqlite3_bind_int(st, 5, seq);
  sq_bind_text(st, 6, data ? data : "null");
  sqlite3_bind_int64(st, 7, at);
  rc = sq_exec(q, st, "record agent turn");
out:
  return sq_tx_end(q, own, rc);
}

struct turn_vec {
  char **v;
  size_t n, cap;
};

static int turn_row(void *ctx, sqlite3_stmt *st)
{
  struct turn_vec *tv = ctx;
  int oom = 0, rc = sq_grow((void **)&tv->v, &tv->cap, tv->n, sizeof *tv->v);
  if (rc)
    return rc;
  tv->v[tv->n] = sq_col_text(st, 0, &oom);
  if (oom || !tv->v[tv->n])
    return WEFT_ENOMEM;
  tv->n++;
  return 0;
}

static void turn_restart(void *ctx)
{
  struct turn_vec *tv = ctx;
  for (size_t i = 0; i < tv->n; i++)
    free(tv->v[i]);
  tv->n = 0;
}

int sq_turn_list(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 char ***data, size_t *n)
{
  struct sq *q = sq_of(s);
  struct turn_vec tv = {0};
  *data = NULL;
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_TURN_LIST,
                             "SELECT data FROM agent_turns WHERE run_id = ?1 AND step = ?2 AND "
                             "idx = ?3 AND attempt = ?4 ORDER BY seq");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int(st, 3, index);
  sqlite3_bind_int(st, 4, attempt);
  int rc = sq_query(q, st, turn_row, turn_restart, &tv, "list agent turns");
  if (rc) {
    store_turns_free(tv.v, tv.n);
    return rc;
  }
  *data = tv.v;
  *n = tv.n;
  return 0;
}

void store_turns_free(char **data, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(data[i]);
  free(data);
}
