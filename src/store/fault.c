/* fault.c — a fault-injecting store for tests: wraps another store and makes
 * chosen write calls fail, so the runtime's "commit before effect" and its
 * recovery paths can be tested without breaking a disk.
 *
 * Every op is forwarded to the inner store. Write calls (begin, commit, puts,
 * claims, inbox post/take, audit append, token put/revoke/touch, deploy put, run key set, schedule put/delete, run trigger put) are counted; after `after` of them
 * succeed, the next `count` ones (-1: all) fail with `rc` without reaching
 * the inner store, except that a failing commit rolls the inner transaction
 * back first, as a real failed commit leaves nothing behind. Reads always
 * pass. Not meant for production: there is no locking and no config file. */
#include "store/store.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

struct fault {
  struct store base;
  struct store *inner;
  long after;   /* writes left before failures start; -1: disabled */
  long count;   /* failures left once started; -1: unlimited */
  int rc;
  long writes;  /* writes seen */
  long step_rows; /* step rows handed to step_put and step_put_many */
  bool faulted; /* the last write failed by injection */
};

static struct fault *F(struct store *s) { return (struct fault *)s; }

/* true when this write must fail */
static bool hit(struct fault *f)
{
  f->writes++;
  f->faulted = false;
  if (f->after < 0)
    return false;
  if (f->after > 0) {
    f->after--;
    return false;
  }
  if (f->count == 0)
    return false;
  if (f->count > 0)
    f->count--;
  f->faulted = true;
  return true;
}

#define INNER (F(s)->inner)
#define WRITE(call)                                                                      \
  do {                                                                                   \
    if (hit(F(s)))                                                                       \
      return F(s)->rc;                                                                   \
    return call;                                                                         \
  } while (0)

static void f_close(struct store *s)
{
  store_close(INNER);
  free(s->home);
  free(s);
}

static const char *f_errmsg(struct store *s)
{
  return F(s)->faulted ? "store: injected fault" : store_errmsg(INNER);
}

static int f_begin(struct store *s) { WRITE(store_begin(INNER)); }

static int f_commit(struct store *s)
{
  if (hit(F(s))) {
    store_rollback(INNER);
    return F(s)->rc;
  }
  return store_commit(INNER);
}

static int f_rollback(struct store *s) { return store_rollback(INNER); }
static int f_defer_sync(struct store *s, char **path) { return store_defer_sync(INNER, path); }
static bool f_in_tx(struct store *s) { return store_in_tx(INNER); }

static int f_workflow_put(struct store *s, const char *name, const char *path, const char *source,
                          int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created)
{
  WRITE(store_workflow_put(INNER, name, path, source, now, hash_out, created));
}

static int f_workflow_get(struct store *s, const char *hash, struct store_workflow *out)
{
  return store_workflow_get(INNER, hash, out);
}

static int f_run_put(struct store *s, const struct store_run *r) { WRITE(store_run_put(INNER, r)); }

static int f_run_get(struct store *s, const char *id, struct store_run *out)
{
  return store_run_get(INNER, id, out);
}

static int f_run_list(struct store *s, const struct store_run_filter *fl, struct store_run **out,
                      size_t *n)
{
  return store_run_list(INNER, fl, out, n);
}

static int f_run_list_active(struct store *s, struct store_run **out, size_t *n)
{
  return INNER->ops->run_list_active(INNER, out, n);
}

static int f_run_claim(struct store *s, const char *id, int pid, int64_t start, int64_t now)
{
  WRITE(store_run_claim(INNER, id, pid, start, now));
}

static int f_run_release(struct store *s, const char *id) { WRITE(store_run_release(INNER, id)); }

static int f_heartbeat(struct store *s, int pid, int64_t start, int64_t now)
{
  WRITE(store_heartbeat(INNER, pid, start, now));
}

static int f_step_put(struct store *s, const struct store_step *x)
{
  F(s)->step_rows++;
  WRITE(store_step_put(INNER, x));
}

static int f_step_reserve(struct store *s, const char *run_id, const char *step, int index,
                          int attempt)
{
  WRITE(store_step_reserve(INNER, run_id, step, index, attempt));
}
static int f_step_put_many(struct store *s, const struct store_step *v, size_t n)
{
  F(s)->step_rows += (long)n;
  WRITE(store_step_put_many(INNER, v, n));
}

static int f_step_get(struct store *s, const char *run, const char *step, int index,
                      struct store_step *out)
{
  return store_step_get(INNER, run, step, index, out);
}

static int f_step_list(struct store *s, const char *run, const char *step, struct store_step **out,
                       size_t *n)
{
  return store_step_list(INNER, run, step, out, n);
}

static int f_step_list_waiting(struct store *s, struct store_step **out, size_t *n)
{
  return store_step_list_waiting(INNER, out, n);
}

static int f_attempt_put(struct store *s, const struct store_attempt *a)
{
  WRITE(store_attempt_put(INNER, a));
}

static int f_attempt_list(struct store *s, const char *run, const char *step, int index,
                          struct store_attempt **out, size_t *n)
{
  return store_attempt_list(INNER, run, step, index, out, n);
}

static int f_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id)
{
  WRITE(store_inbox_post(INNER, m, id));
}

static int f_inbox_take(struct store *s, const char *const *runs, size_t n_runs, bool events,
                        int64_t now, struct store_inbox **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  WRITE(store_inbox_take(INNER, runs, n_runs, events, now, out, n));
}

static int f_event_list(struct store *s, int64_t after, size_t limit, struct store_inbox **out,
                        size_t *n)
{
  return store_event_list(INNER, after, limit, out, n);
}

static int f_decision_put(struct store *s, const struct store_decision *d, int64_t *id)
{
  WRITE(store_decision_put(INNER, d, id));
}

static int f_decision_list(struct store *s, const char *run, const char *step, int index,
                           struct store_decision **out, size_t *n)
{
  return store_decision_list(INNER, run, step, index, out, n);
}

static int f_audit_append(struct store *s, int64_t at, const char *run, const char *kind,
                          const char *data, int64_t *seq)
{
  WRITE(store_audit_append(INNER, at, run, kind, data, seq));
}

static int f_audit_append_canon(struct store *s, int64_t at, const char *run, const char *kind,
                                const char *canon, int64_t *seq)
{
  WRITE(INNER->ops->audit_append_canon(INNER, at, run, kind, canon, seq));
}

static int f_audit_scan(struct store *s, const char *run, struct store_audit *head,
                        store_audit_cb cb, void *ctx)
{
  return store_audit_scan(INNER, run, head, cb, ctx);
}

static int f_turn_put(struct store *s, const char *run, const char *step, int index,
                      int attempt, int seq, const char *data, int64_t at)
{
  WRITE(store_turn_put(INNER, run, step, index, attempt, seq, data, at));
}

static int f_turn_list(struct store *s, const char *run, const char *step, int index,
                       int attempt, char ***data, size_t *n)
{
  return store_turn_list(INNER, run, step, index, attempt, data, n);
}

static int f_verify_scan(struct store *s, struct store_audit *head, store_verify_cb cb,
                         void *ctx)
{
  return store_verify_scan(INNER, head, cb, ctx);
}

static int f_run_delete(struct store *s, const char *run_id)
{
  WRITE(store_run_delete(INNER, run_id));
}

static int f_step_counts_put(struct store *s, const char *run, const char *step,
                             const char *counts)
{
  WRITE(store_step_counts_put(INNER, run, step, counts));
}

static int f_step_count(struct store *s, const char *run, const char *step, char **counts)
{
  return store_step_count(INNER, run, step, counts);
}

static int f_step_page(struct store *s, const char *run, const char *step, enum store_page which,
                       size_t limit, struct store_step **out, size_t *n)
{
  return store_step_page(INNER, run, step, which, limit, out, n);
}

static int f_token_put(struct store *s, const struct store_token *t)
{
  WRITE(store_token_put(INNER, t));
}

static int f_token_get(struct store *s, const char *id, struct store_token *out)
{
  return store_token_get(INNER, id, out);
}

static int f_token_by_hash(struct store *s, const char *hash, struct store_token *out)
{
  return store_token_by_hash(INNER, hash, out);
}

static int f_token_list(struct store *s, const char *user, struct store_token **out, size_t *n)
{
  return store_token_list(INNER, user, out, n);
}

static int f_token_revoke(struct store *s, const char *id, int64_t now)
{
  WRITE(store_token_revoke(INNER, id, now));
}

static int f_token_touch(struct store *s, const char *id, int64_t now)
{
  WRITE(store_token_touch(INNER, id, now));
}

static int f_deploy_put(struct store *s, const struct store_deployment *d, int *version,
                        bool *created)
{
  WRITE(store_deploy_put(INNER, d, version, created));
}

static int f_deploy_list(struct store *s, const char *name, struct store_deployment **out,
                         size_t *n)
{
  return store_deploy_list(INNER, name, out, n);
}

static int f_run_key_set(struct store *s, const char *run_id, const char *key)
{
  WRITE(store_run_key_set(INNER, run_id, key));
}

static int f_run_by_key(struct store *s, const char *workflow, const char *key, char **run_id)
{
  return store_run_by_key(INNER, workflow, key, run_id);
}

static int f_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                           struct store_schedule **out, size_t *n)
{
  return store_schedule_list(INNER, workflow, due_by, limit, out, n);
}

static int f_schedule_put(struct store *s, const struct store_schedule *r)
{
  WRITE(store_schedule_put(INNER, r));
}

static int f_schedule_delete(struct store *s, const char *workflow, int idx)
{
  WRITE(store_schedule_delete(INNER, workflow, idx));
}

static int f_run_trigger_put(struct store *s, const char *run_id, const char *json)
{
  WRITE(store_run_trigger_put(INNER, run_id, json));
}

static int f_run_trigger_get(struct store *s, const char *run_id, char **json)
{
  return store_run_trigger_get(INNER, run_id, json);
}

static int f_audit_after(struct store *s, const char *run, int64_t after, size_t limit,
                         struct store_audit **out, size_t *n, int64_t *head)
{
  return store_audit_after(INNER, run, after, limit, out, n, head);
}

static int f_inbox_pending(struct store *s, int64_t *n) { return store_inbox_pending(INNER, n); }
static int f_run_event_put(struct store *s, const struct store_inbox *m, int64_t *id)
{
  WRITE(store_run_event_put(INNER, m, id));
}
static int f_run_event_pending(struct store *s, const char *run, const char *name, int64_t after,
                               size_t limit, struct store_inbox **out, size_t *n)
{
  return store_run_event_pending(INNER, run, name, after, limit, out, n);
}
static int f_run_event_claim(struct store *s, int64_t id, const char *by, int64_t now, bool *won)
{
  WRITE(store_run_event_claim(INNER, id, by, now, won));
}
static int f_run_event_claimed(struct store *s, const char *run, const char *by, struct store_inbox *out,
                               bool *found)
{
  return store_run_event_claimed(INNER, run, by, out, found);
}

static int f_mutex_take(struct store *s, const struct store_mutex *m, bool *got, struct store_mutex *holder)
{
  WRITE(store_mutex_take(INNER, m, got, holder));
}
static int f_mutex_free(struct store *s, const char *name, const char *run, const char *step, int index)
{
  WRITE(store_mutex_free(INNER, name, run, step, index));
}
static int f_mutex_steal(struct store *s, const char *name, int pid, int64_t pstart)
{
  WRITE(store_mutex_steal(INNER, name, pid, pstart));
}
static int f_run_group_set(struct store *s, const char *run_id, const char *group)
{
  WRITE(store_run_group_set(INNER, run_id, group));
}
static int f_group_count(struct store *s, const char *group, int64_t *active, int64_t *waiting)
{
  return store_group_count(INNER, group, active, waiting);
}
static int f_group_runs(struct store *s, const char *group, bool waiting, size_t limit, char ***ids, size_t *n)
{
  return store_group_runs(INNER, group, waiting, limit, ids, n);
}
static int f_notice_put(struct store *s, const struct store_notice *no, int64_t *id)
{
  WRITE(store_notice_put(INNER, no, id));
}
static int f_notice_due(struct store *s, int64_t now, size_t limit, struct store_notice **out, size_t *n,
                        int64_t *next_at)
{
  return store_notice_due(INNER, now, limit, out, n, next_at);
}
static int f_notice_update(struct store *s, int64_t id, const char *status, int attempts, int64_t next_at,
                           const char *error)
{
  WRITE(store_notice_update(INNER, id, status, attempts, next_at, error));
}

static const struct store_ops fault_ops = {
  .version = STORE_OPS_VERSION,
  .name = "fault",
  .close = f_close,
  .errmsg = f_errmsg,
  .begin = f_begin,
  .commit = f_commit,
  .defer_sync = f_defer_sync,
  .rollback = f_rollback,
  .in_tx = f_in_tx,
  .workflow_put = f_workflow_put,
  .workflow_get = f_workflow_get,
  .run_put = f_run_put,
  .run_get = f_run_get,
  .run_list = f_run_list,
  .run_list_active = f_run_list_active,
  .run_claim = f_run_claim,
  .run_release = f_run_release,
  .heartbeat = f_heartbeat,
  .step_put = f_step_put,
  .step_put_many = f_step_put_many,
  .step_reserve = f_step_reserve,
  .step_get = f_step_get,
  .step_list = f_step_list,
  .step_list_waiting = f_step_list_waiting,
  .attempt_put = f_attempt_put,
  .attempt_list = f_attempt_list,
  .inbox_post = f_inbox_post,
  .inbox_take = f_inbox_take,
  .event_list = f_event_list,
  .decision_put = f_decision_put,
  .decision_list = f_decision_list,
  .audit_append = f_audit_append,
  .audit_scan = f_audit_scan,
  .turn_put = f_turn_put,
  .turn_list = f_turn_list,
  .audit_append_canon = f_audit_append_canon,
  .verify_scan = f_verify_scan,
  .run_delete = f_run_delete,
  .step_counts_put = f_step_counts_put,
  .step_count = f_step_count,
  .step_page = f_step_page,
  .token_put = f_token_put,
  .token_get = f_token_get,
  .token_by_hash = f_token_by_hash,
  .token_list = f_token_list,
  .token_revoke = f_token_revoke,
  .token_touch = f_token_touch,
  .deploy_put = f_deploy_put,
  .deploy_list = f_deploy_list,
  .run_key_set = f_run_key_set,
  .run_by_key = f_run_by_key,
  .schedule_list = f_schedule_list,
  .schedule_put = f_schedule_put,
  .schedule_delete = f_schedule_delete,
  .run_trigger_put = f_run_trigger_put,
  .run_trigger_get = f_run_trigger_get,
  .audit_after = f_audit_after,
  .inbox_pending = f_inbox_pending,
  .run_event_put = f_run_event_put,
  .run_event_pending = f_run_event_pending,
  .run_event_claim = f_run_event_claim,
  .run_event_claimed = f_run_event_claimed,
  .mutex_take = f_mutex_take,
  .mutex_free = f_mutex_free,
  .mutex_steal = f_mutex_steal,
  .run_group_set = f_run_group_set,
  .group_count = f_group_count,
  .group_runs = f_group_runs,
  .notice_put = f_notice_put,
  .notice_due = f_notice_due,
  .notice_update = f_notice_update,
};

int store_fault_wrap(struct store *inner, struct store **out)
{
  *out = NULL;
  struct fault *f = calloc(1, sizeof *f);
  if (!f)
    return WEFT_ENOMEM;
  if (inner->home && !(f->base.home = strdup(inner->home))) {
    free(f);
    return WEFT_ENOMEM;
  }
  f->base.ops = &fault_ops;
  f->inner = inner;
  f->after = -1;
  f->rc = WEFT_EIO;
  *out = &f->base;
  return 0;
}

void store_fault_set(struct store *s, long after, long count, int rc)
{
  struct fault *f = F(s);
  f->after = after;
  f->count = count;
  f->rc = rc;
}

long store_fault_writes(struct store *s) { return F(s)->writes; }
long store_fault_step_rows(struct store *s) { return F(s)->step_rows; }
