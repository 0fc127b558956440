/* pg_int.h — internals shared by the PostgreSQL backend's files (pg*.c).
 *
 * struct pg is the backend's handle; it extends struct store. Statements go
 * through libpq's synchronous API (PQexecParams, text parameters: binary
 * safe for every string weft stores except NUL bytes, which C strings cannot
 * hold anyway). A statement's parameters are collected in a struct pgp.
 *
 * Writes go through pg_tx_begin()/pg_tx_end() exactly as the SQLite backend's
 * sq_tx_begin/sq_tx_end: inside the caller's transaction they join it,
 * outside they open their own. Every write transaction takes one
 * transaction-scoped advisory lock (PG_WRITE_LOCK) first, so writers are
 * serialised like SQLite's BEGIN IMMEDIATE: the audit chain, run claims,
 * deploy versions and inbox takes keep their read-then-write semantics.
 * Nothing here is used outside src/store/. */
#ifndef WEFT_STORE_PG_INT_H
#define WEFT_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "store/store.h"

/* Advisory lock keys (pg_advisory_lock takes a bigint): "weft" + purpose. */
#define PG_MIGRATE_LOCK "33607012935794689" /* 0x77656674000001: session lock, migrations */
#define PG_WRITE_LOCK "33607012935794690"   /* 0x77656674000002: every writer's transaction */

#define PG_MAXP 24        /* parameters of one statement */
#define PG_FETCH 1000     /* rows per FETCH of a streaming scan */
#define PG_MAX_ROWS ((size_t)1 << 26)

struct pg {
  struct store base;
  PGconn *conn;
  bool in_tx; /* a transaction is open (the caller's or our own) */
  /* the audit chain head, cached during one write transaction (pg_audit.c) */
  bool head_valid, head_dirty;
  int64_t head_seq;
  char head_hash[SHA256_HEX_LEN + 1];
  int cursor_seq; /* names of streaming cursors */
  char err[512];
};

/* The parameters of one statement: text values, NULL for SQL NULL. */
struct pgp {
  int n;
  const char *v[PG_MAXP];
  char num[PG_MAXP][24];
};

static inline struct pg *pg_of(struct store *s) { return (struct pg *)s; }

void pgp_text(struct pgp *p, const char *s);
void pgp_int(struct pgp *p, int64_t v);
void pgp_time(struct pgp *p, int64_t ms); /* 0: NULL */
void pgp_bool(struct pgp *p, bool b);

/* Records a message (printf-style) and returns rc. */
int pg_failf(struct pg *g, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs sql with p (may be NULL). 0 and *res (caller PQclear; res may be NULL
 * to discard it) on success; else a WEFT_E* code with the message recorded
 * ("store: what: postgres's message"), and *sqlstate (may be NULL) gets the
 * five-character SQLSTATE ("" when none). */
int pg_exec(struct pg *g, const char *sql, const struct pgp *p, const char *what,
            PGresult **res);
int pg_exec_state(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                  PGresult **res, char sqlstate[6]);
/* Rows changed by a write (PQcmdTuples). */
int64_t pg_changes(PGresult *r);

/* Opens a write transaction unless one is open; *own says whether this call
 * opened it (and so must end it with pg_tx_end). */
int pg_tx_begin(struct pg *g, bool *own);
/* When own: commits if rc == 0, else rolls back. Returns rc, or the commit's
 * failure. */
int pg_tx_end(struct pg *g, bool own, int rc);
/* A read snapshot for scans: when no transaction is open, opens a REPEATABLE
 * READ READ ONLY one (*opened true); pg_snap_end ends it. */
int pg_snap_begin(struct pg *g, bool *opened);
void pg_snap_end(struct pg *g, bool opened);

/* Streaming reads inside a transaction: a cursor fetched PG_FETCH rows at a
 * time (memory does not grow with the table). */
struct pg_cursor {
  struct pg *g;
  char name[32];
  PGresult *res; /* the current batch */
  int row, nrows;
  bool done, open;
};
int pg_cursor_open(struct pg *g, struct pg_cursor *c, const char *sql, const struct pgp *p);
/* Moves to the next row: 1 (c->res/c->row are on it), 0 at the end, or < 0. */
int pg_cursor_next(struct pg_cursor *c);
void pg_cursor_close(struct pg_cursor *c);

/* Column readers: NULL text and NULL numbers read as NULL and 0. */
char *pg_col_text(PGresult *r, int row, int col, int *oom); /* malloc'd copy or NULL */
const char *pg_col_str(PGresult *r, int row, int col);      /* borrowed or NULL */
/* Runs sql and hands back its rows as an array of `size`-byte elements,
 * each filled by from(r, row, elem) (0 or a WEFT_E* code); on failure the
 * elements filled so far are freed with free_all(array, m) and nothing is
 * returned. *out and *n are the caller's (free with free_all). */
int pg_rows(struct pg *g, const char *sql, const struct pgp *p, const char *what, size_t size,
            int (*from)(PGresult *r, int row, void *elem), void (*free_all)(void *v, size_t n),
            void **out, size_t *n);
int64_t pg_col_i64(PGresult *r, int row, int col);
static inline int pg_col_int(PGresult *r, int row, int col) { return (int)pg_col_i64(r, row, col); }
static inline bool pg_col_null(PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) != 0;
}
/* Grows *v (elements of size elem) to hold n + 1; WEFT_ELIMIT past PG_MAX_ROWS. */
int pg_grow(void **v, size_t *cap, size_t n, size_t elem);

/* The migrations, oldest first (pg_schema.c). Append-only. */
extern const char *const pg_migrations[];
extern const int pg_n_migrations;

/* Op implementations, by file. */
int pg_workflow_put(struct store *s, const char *name, const char *path, const char *source,
                    int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created);
int pg_workflow_get(struct store *s, const char *hash, struct store_workflow *out);
int pg_run_put(struct store *s, const struct store_run *r);
int pg_run_get(struct store *s, const char *id_or_prefix, struct store_run *out);
int pg_run_list(struct store *s, const struct store_run_filter *f, struct store_run **out,
                size_t *n);
int pg_run_list_active(struct store *s, struct store_run **out, size_t *n);
int pg_run_claim(struct store *s, const char *run_id, int pid, int64_t start, int64_t now);
int pg_run_release(struct store *s, const char *run_id);
int pg_heartbeat(struct store *s, int pid, int64_t start, int64_t now);
int pg_run_key_set(struct store *s, const char *run_id, const char *key);
int pg_run_by_key(struct store *s, const char *workflow, const char *key, char **run_id);
int pg_run_trigger_put(struct store *s, const char *run_id, const char *json);
int pg_run_trigger_get(struct store *s, const char *run_id, char **json);
int pg_step_put(struct store *s, const struct store_step *st);
int pg_step_put_many(struct store *s, const struct store_step *v, size_t n);
int pg_step_reserve(struct store *s, const char *run_id, const char *step, int index, int attempt);
int pg_step_get(struct store *s, const char *run_id, const char *step, int index,
                struct store_step *out);
int pg_step_list(struct store *s, const char *run_id, const char *step, struct store_step **out,
                 size_t *n);
int pg_step_list_waiting(struct store *s, struct store_step **out, size_t *n);
int pg_step_counts_put(struct store *s, const char *run_id, const char *step, const char *counts);
int pg_step_count(struct store *s, const char *run_id, const char *step, char **counts);
int pg_step_page(struct store *s, const char *run_id, const char *step, enum store_page which,
                 size_t limit, struct store_step **out, size_t *n);
int pg_attempt_put(struct store *s, const struct store_attempt *a);
int pg_attempt_list(struct store *s, const char *run_id, const char *step, int index,
                    struct store_attempt **out, size_t *n);
int pg_turn_put(struct store *s, const char *run_id, const char *step, int index, int attempt,
                int seq, const char *data, int64_t at);
int pg_turn_list(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 char ***data, size_t *n);
int pg_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id_out);
int pg_inbox_take(struct store *s, const char *const *run_ids, size_t n_runs, bool events,
                  int64_t now, struct store_inbox **out, size_t *n);
int pg_event_list(struct store *s, int64_t after_id, size_t limit, struct store_inbox **out,
                  size_t *n);
int pg_inbox_pending(struct store *s, int64_t *n);
int pg_decision_put(struct store *s, const struct store_decision *d, int64_t *id_out);
int pg_decision_list(struct store *s, const char *run_id, const char *step, int index,
                     struct store_decision **out, size_t *n);
int pg_audit_append(struct store *s, int64_t at, const char *run_id, const char *kind,
                    const char *data, int64_t *seq_out);
int pg_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                          const char *canon, int64_t *seq_out);
/* Writes the cached audit head (if appends changed it); called before COMMIT.
 * Always forgets the cache. */
int pg_audit_head_flush(struct pg *g);
void pg_audit_head_forget(struct pg *g);
int pg_audit_scan(struct store *s, const char *run_id, struct store_audit *head,
                  store_audit_cb cb, void *ctx);
int pg_audit_after(struct store *s, const char *run_id, int64_t after_seq, size_t limit,
                   struct store_audit **out, size_t *n, int64_t *head_seq);
int pg_verify_scan(struct store *s, struct store_audit *head, store_verify_cb cb, void *ctx);
int pg_run_delete(struct store *s, const char *run_id);
int pg_token_put(struct store *s, const struct store_token *t);
int pg_token_get(struct store *s, const char *id_or_prefix, struct store_token *out);
int pg_token_by_hash(struct store *s, const char *hash, struct store_token *out);
int pg_token_list(struct store *s, const char *user, struct store_token **out, size_t *n);
int pg_token_revoke(struct store *s, const char *id, int64_t now);
int pg_token_touch(struct store *s, const char *id, int64_t now);
int pg_deploy_put(struct store *s, const struct store_deployment *d, int *version, bool *created);
int pg_deploy_list(struct store *s, const char *name, struct store_deployment **out, size_t *n);
int pg_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                     struct store_schedule **out, size_t *n);
int pg_schedule_put(struct store *s, const struct store_schedule *r);
int pg_schedule_delete(struct store *s, const char *workflow, int idx);

#endif
