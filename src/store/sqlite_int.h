/* sqlite_int.h — internals shared by the SQLite backend's files (sqlite*.c).
 *
 * struct sq is the backend's handle; it extends struct store. It caches one
 * prepared statement per enum sq_stmt_id slot (prepared on first use with the
 * SQL given at the call site, kept until close). All writes go through
 * sq_tx_begin()/sq_tx_end(): inside the caller's transaction they just join
 * it, outside they take BEGIN IMMEDIATE themselves, retrying while busy.
 * Reads go through sq_query(), which restarts a query that hit SQLITE_BUSY.
 * Nothing here is used outside src/store/. */
#ifndef WEFT_STORE_SQLITE_INT_H
#define WEFT_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store/store.h"

enum sq_stmt_id {
  SQ_BEGIN_IMMEDIATE,
  SQ_BEGIN_DEFERRED,
  SQ_COMMIT,
  SQ_ROLLBACK,
  SQ_WF_INSERT,
  SQ_WF_GET,
  SQ_RUN_PUT,
  SQ_RUN_GET_EXACT,
  SQ_RUN_GET_PREFIX,
  SQ_RUN_LIST,
  SQ_RUN_LIST_CHILDREN, /* sq_run_list with parent_id: through the runs_parent index */
  SQ_RUN_ACTIVE,
  SQ_RUN_OWNER,
  SQ_RUN_CLAIM,
  SQ_RUN_RELEASE,
  SQ_HEARTBEAT,
  SQ_STEP_PUT,
  SQ_STEP_GET,
  SQ_STEP_RESERVE,
  SQ_STEP_LIST_RUN,
  SQ_STEP_LIST_STEP,
  SQ_STEP_LIST_WAITING,
  SQ_STEP_COUNTS_PUT,
  SQ_STEP_COUNT,
  SQ_STEP_PAGE_ALL,
  SQ_STEP_PAGE_FAILED,
  SQ_STEP_PAGE_NOT_FAILED,
  SQ_ATTEMPT_PUT,
  SQ_ATTEMPT_LIST,
  SQ_INBOX_POST,
  SQ_INBOX_PEEK,
  SQ_INBOX_TAKE,
  SQ_EVENT_LIST,
  SQ_DECISION_PUT,
  SQ_DECISION_LIST_RUN,
  SQ_DECISION_LIST_STEP,
  SQ_AUDIT_HEAD,
  SQ_AUDIT_MAXSEQ,
  SQ_AUDIT_INSERT,
  SQ_AUDIT_SET_HEAD,
  SQ_AUDIT_SCAN_ALL,
  SQ_AUDIT_SCAN_RUN,
  SQ_TURN_PUT,
  SQ_TURN_LIST,
  SQ_TOKEN_PUT,
  SQ_TOKEN_GET_EXACT,
  SQ_TOKEN_GET_PREFIX,
  SQ_TOKEN_BY_HASH,
  SQ_TOKEN_LIST_ALL,
  SQ_TOKEN_LIST_USER,
  SQ_TOKEN_REVOKE,
  SQ_TOKEN_TOUCH,
  SQ_DEPLOY_NEWEST,
  SQ_DEPLOY_HAS_WF,
  SQ_DEPLOY_INSERT,
  SQ_DEPLOY_LIST_NAME,
  SQ_DEPLOY_LIST_ALL,
  SQ_RUN_KEY_SET,
  SQ_RUN_BY_KEY,
  SQ_SCHED_LIST_WF,
  SQ_SCHED_LIST,
  SQ_SCHED_PUT,
  SQ_SCHED_DELETE,
  SQ_RUN_TRIGGER_PUT,
  SQ_RUN_TRIGGER_GET,
  SQ_AUDIT_AFTER,
  SQ_AUDIT_AFTER_RUN,
  SQ_INBOX_PENDING,
  SQ_RUNEV_PUT,
  SQ_RUNEV_PENDING,
  SQ_RUNEV_CLAIM,
  SQ_RUNEV_CLAIMED,
  SQ_MUTEX_TAKE,
  SQ_MUTEX_GET,
  SQ_MUTEX_FREE,
  SQ_MUTEX_STEAL,
  SQ_RUN_GROUP_SET,
  SQ_GROUP_COUNT,
  SQ_GROUP_ACTIVE,
  SQ_GROUP_WAITING,
  SQ_NOTICE_PUT,
  SQ_NOTICE_DUE,
  SQ_NOTICE_NEXT,
  SQ_NOTICE_UPDATE,
  SQ_NSTMT
};

struct sq {
  struct store base;
  sqlite3 *db;
  sqlite3_stmt *stmt[SQ_NSTMT];
  bool in_tx;      /* a transaction is open (the caller's or our own) */
  /* The audit chain head, cached for the duration of one write transaction:
   * appends update it here and tx_commit writes the head row once, just
   * before COMMIT (sqlite_audit.c). Invalid outside a transaction, since
   * another process may append between two of ours. */
  bool head_valid, head_dirty;
  int64_t head_seq;
  char head_hash[SHA256_HEX_LEN + 1];
  /* WAL growth ahead of SQLite (sqlite.c, wal_grow): set by defer_sync */
  char *wal_path;
  int wal_fd;      /* opened on first use; -1 */
  bool wal_grow;   /* the WAL is not at WAL_PREALLOC yet */
  char err[512];
};

/* Caps on arrays returned by list functions (over: WEFT_ELIMIT). */
#define SQ_MAX_ROWS ((size_t)1 << 26)
/* How long a writer keeps retrying a busy database before WEFT_EBUSY. */
#define SQ_BUSY_GIVEUP_MS (5 * 60 * 1000)
#define SQ_BUSY_TIMEOUT_MS 2000

static inline struct sq *sq_of(struct store *s) { return (struct sq *)s; }

/* Records a message "what: sqlite's message" and maps the SQLite code to a
 * WEFT_E* code, which it returns. */
int sq_fail(struct sq *q, int sqlite_rc, const char *what);
/* Records a message (printf-style) and returns rc. */
int sq_failf(struct sq *q, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The cached statement for id (prepared from sql on first use), reset and with
 * bindings cleared; NULL on failure (message recorded). */
sqlite3_stmt *sq_stmt(struct sq *q, enum sq_stmt_id id, const char *sql);
/* Steps a write statement to completion (SQLITE_DONE or rows ignored) and
 * resets it. Inside a write transaction busy cannot happen. */
int sq_exec(struct sq *q, sqlite3_stmt *st, const char *what);
/* Opens a write transaction unless one is open; *own says whether this call
 * opened it (and so must end it with sq_tx_end). */
int sq_tx_begin(struct sq *q, bool *own);
/* When own: commits if rc == 0, else rolls back. Returns rc, or the commit's
 * failure. */
int sq_tx_end(struct sq *q, bool own, int rc);
/* Runs a read: steps st, calling row(ctx, st) per row; when SQLite says busy,
 * calls restart(ctx) (may be NULL), waits and starts over. Resets st. */
int sq_query(struct sq *q, sqlite3_stmt *st, int (*row)(void *ctx, sqlite3_stmt *st),
             void (*restart)(void *ctx), void *ctx, const char *what);
/* Sleeps a little before retry number attempt; false when started_ms is
 * longer ago than SQ_BUSY_GIVEUP_MS. */
bool sq_backoff(int attempt, int64_t started_ms);

/* Binding and reading helpers: NULL text and 0 times are SQL NULL. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *s);
int sq_bind_time(sqlite3_stmt *st, int i, int64_t ms);
char *sq_col_text(sqlite3_stmt *st, int i, int *oom); /* malloc'd copy or NULL */
/* Grows *v (elements of size elem) to hold n + 1; WEFT_ELIMIT past SQ_MAX_ROWS. */
int sq_grow(void **v, size_t *cap, size_t n, size_t elem);

/* The migrations, oldest first (sqlite_schema.c). Append-only. */
extern const char *const sq_migrations[];
extern const int sq_n_migrations;

/* Op implementations, by file. */
int sq_workflow_put(struct store *s, const char *name, const char *path, const char *source,
                    int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created);
int sq_workflow_get(struct store *s, const char *hash, struct store_workflow *out);
int sq_run_put(struct store *s, const struct store_run *r);
int sq_run_get(struct store *s, const char *id_or_prefix, struct store_run *out);
int sq_run_list(struct store *s, const struct store_run_filter *f, struct store_run **out,
                size_t *n);
int sq_run_list_active(struct store *s, struct store_run **out, size_t *n);
int sq_run_claim(struct store *s, const char *run_id, int pid, int64_t start, int64_t now);
int sq_run_release(struct store *s, const char *run_id);
int sq_heartbeat(struct store *s, int pid, int64_t start, int64_t now);
int sq_step_put(struct store *s, const struct store_step *st);
int sq_step_put_many(struct store *s, const struct store_step *v, size_t n);
int sq_step_reserve(struct store *s, const char *run_id, const char *step, int index, int attempt);
int sq_step_get(struct store *s, const char *run_id, const char *step, int index,
                struct store_step *out);
int sq_step_list(struct store *s, const char *run_id, const char *step, struct store_step **out,
                 size_t *n);
int sq_step_list_waiting(struct store *s, struct store_step **out, size_t *n);
int sq_step_counts_put(struct store *s, const char *run_id, const char *step, const char *counts);
int sq_step_count(struct store *s, const char *run_id, const char *step, char **counts);
int sq_step_page(struct store *s, const char *run_id, const char *step, enum store_page which,
                 size_t limit, struct store_step **out, size_t *n);
int sq_attempt_put(struct store *s, const struct store_attempt *a);
int sq_attempt_list(struct store *s, const char *run_id, const char *step, int index,
                    struct store_attempt **out, size_t *n);
int sq_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id_out);
int sq_inbox_take(struct store *s, const char *const *run_ids, size_t n_runs, bool events,
                  int64_t now, struct store_inbox **out, size_t *n);
int sq_event_list(struct store *s, int64_t after_id, size_t limit, struct store_inbox **out,
                  size_t *n);
/* sqlite_runevents.c */
int sq_run_event_put(struct store *s, const struct store_inbox *m, int64_t *id_out);
int sq_run_event_pending(struct store *s, const char *run_id, const char *name, int64_t after_id,
                         size_t limit, struct store_inbox **out, size_t *n);
int sq_run_event_claim(struct store *s, int64_t id, const char *by, int64_t now, bool *won);
int sq_run_event_claimed(struct store *s, const char *run_id, const char *by, struct store_inbox *out,
                         bool *found);
int sq_mutex_take(struct store *s, const struct store_mutex *m, bool *got, struct store_mutex *holder);
int sq_mutex_free(struct store *s, const char *name, const char *run_id, const char *step, int index);
int sq_mutex_steal(struct store *s, const char *name, int pid, int64_t pstart);
int sq_decision_put(struct store *s, const struct store_decision *d, int64_t *id_out);
int sq_decision_list(struct store *s, const char *run_id, const char *step, int index,
                     struct store_decision **out, size_t *n);
int sq_audit_append(struct store *s, int64_t at, const char *run_id, const char *kind,
                    const char *data, int64_t *seq_out);
int sq_turn_put(struct store *s, const char *run_id, const char *step, int index, int attempt,
                int seq, const char *data, int64_t at);
int sq_turn_list(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 char ***data, size_t *n);
int sq_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                          const char *canon, int64_t *seq_out);
/* Writes the cached audit head (if appends changed it) into audit_head; called
 * by tx_commit before COMMIT. Always forgets the cache. */
int sq_audit_head_flush(struct sq *q);
int sq_audit_scan(struct store *s, const char *run_id, struct store_audit *head,
                  store_audit_cb cb, void *ctx);
int sq_verify_scan(struct store *s, struct store_audit *head, store_verify_cb cb, void *ctx);
int sq_run_delete(struct store *s, const char *run_id);
int sq_token_put(struct store *s, const struct store_token *t);
int sq_token_get(struct store *s, const char *id_or_prefix, struct store_token *out);
int sq_token_by_hash(struct store *s, const char *hash, struct store_token *out);
int sq_token_list(struct store *s, const char *user, struct store_token **out, size_t *n);
int sq_token_revoke(struct store *s, const char *id, int64_t now);
int sq_token_touch(struct store *s, const char *id, int64_t now);
int sq_deploy_put(struct store *s, const struct store_deployment *d, int *version, bool *created);
int sq_deploy_list(struct store *s, const char *name, struct store_deployment **out, size_t *n);
int sq_run_key_set(struct store *s, const char *run_id, const char *key);
int sq_run_by_key(struct store *s, const char *workflow, const char *key, char **run_id);
int sq_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                     struct store_schedule **out, size_t *n);
int sq_schedule_put(struct store *s, const struct store_schedule *r);
int sq_schedule_delete(struct store *s, const char *workflow, int idx);
int sq_run_trigger_put(struct store *s, const char *run_id, const char *json);
int sq_run_trigger_get(struct store *s, const char *run_id, char **json);
int sq_audit_after(struct store *s, const char *run_id, int64_t after_seq, size_t limit,
                   struct store_audit **out, size_t *n, int64_t *head_seq);
int sq_inbox_pending(struct store *s, int64_t *n);
int sq_run_group_set(struct store *s, const char *run_id, const char *group);
int sq_group_count(struct store *s, const char *group, int64_t *active, int64_t *waiting);
int sq_group_runs(struct store *s, const char *group, bool waiting, size_t limit, char ***ids, size_t *n);
int sq_notice_put(struct store *s, const struct store_notice *no, int64_t *id);
int sq_notice_due(struct store *s, int64_t now, size_t limit, struct store_notice **out, size_t *n,
                  int64_t *next_at);
int sq_notice_update(struct store *s, int64_t id, const char *status, int attempts, int64_t next_at,
                     const char *error);

#endif
