/* sse_stream.c — one client's event stream (sse_stream.h): the replay from
 * the store, then the hub's live events. */
#include "server/sse_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/dbpool.h"
#include "server/sse.h"
#include "server/sse_event.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

#define REPLAY_BATCH 256
#define REPLAY_SOFT_BYTES (1u << 20)        /* a batch stops after the entry that passes this */
#define REPLAY_MAX_BYTES (256u * 1024 * 1024) /* one entry's text at most (a run's inputs are far less) */

struct stream {
  struct sse_source src;
  struct sse_sub *sub;
  uint64_t next, upto; /* replay (next, upto] */
  bool live;           /* the replay is over: the hub's events */
  char run[48];        /* the filter, or "" */
  struct sse_wf_cache wf;
  struct buf out;      /* replay text not yet sent */
  size_t off;
};

/* Reads the next batch of the replay into st->out: up to REPLAY_BATCH
 * entries, fewer once the text passes REPLAY_SOFT_BYTES (large entries: a
 * run's inputs), at least one. */
static int replay_batch(struct stream *st)
{
  struct store_audit *v = NULL;
  size_t n = 0;
  int64_t head = 0;
  uint64_t want = st->upto - st->next;
  struct store *db = dbpool_get(st->src.pool, NULL);
  if (!db)
    return WEFT_ESTORE; /* closed (the server stops) or cannot open */
  int rc = store_audit_after(db, st->run[0] ? st->run : NULL, (int64_t)st->next,
                             want < REPLAY_BATCH ? (size_t)want : REPLAY_BATCH, &v, &n, &head);
  uint64_t next = st->upto; /* none left in the range, or past it: done */
  for (size_t i = 0; !rc && i < n; i++) {
    if (v[i].seq > (int64_t)st->upto)
      break; /* the live events have it (a run's entries skip seqs) */
    char *data = sse_event_data(&v[i], sse_wf_of(&st->wf, db, &v[i]));
    if (!data || buf_printf(&st->out, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)v[i].seq,
                            sse_event_type(v[i].kind), data))
      rc = WEFT_ENOMEM;
    free(data);
    if (v[i].seq < (int64_t)st->upto && (i + 1 == n || st->out.len >= REPLAY_SOFT_BYTES)) {
      next = (uint64_t)v[i].seq; /* more after it */
      break;
    }
  }
  dbpool_put(st->src.pool, db);
  if (!rc)
    st->next = next;
  store_audits_free(v, n);
  return rc;
}

static long stream_read(void *cls, char *buf, size_t max)
{
  struct stream *st = cls;
  for (;;) {
    if (st->off < st->out.len) {
      size_t k = st->out.len - st->off < max ? st->out.len - st->off : max;
      memcpy(buf, st->out.p + st->off, k);
      st->off += k;
      return (long)k;
    }
    buf_reset(&st->out);
    st->off = 0;
    if (st->live)
      break;
    if (sse_sub_ended(st->sub))
      return -1; /* the server stops */
    if (st->next >= st->upto) { /* replayed up to upto: live, or more to replay */
      st->live = sse_sub_catch_up(st->sub, &st->upto);
      continue;
    }
    if (replay_batch(st))
      return -1; /* the client reconnects with the last id it got */
  }
  buf_free(&st->out);
  return (long)sse_sub_read(st->sub, buf, max);
}

static void stream_free(void *cls)
{
  struct stream *st = cls;
  sse_sub_release(st->sub);
  sse_wf_cache_free(&st->wf);
  buf_free(&st->out);
  free(st);
}

/* a decimal id from 0 to INT64_MAX (the store's seqs); false when s is not
 * one */
static bool parse_id(const char *s, uint64_t *out)
{
  if (!s || !*s || strlen(s) > 19)
    return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (uint64_t)(*p - '0'); /* 19 digits cannot wrap a uint64 */
  }
  if (v > (uint64_t)INT64_MAX)
    return false;
  *out = v;
  return true;
}

void sse_stream_answer(const struct sse_source *src, const struct httpd_req *rq, struct httpd_resp *rs)
{
  char q[128];
  uint64_t after = 0;
  bool replay = false;
  const char *last = httpd_header(rq, "Last-Event-ID");
  const char *a = httpd_query(rq, "after", q, sizeof q);
  if (last && *last) {
    if (!parse_id(last, &after)) {
      httpd_error(rs, APIERR_BAD_REQUEST, "Last-Event-ID must be an event id (a number); got \"%.40s\"", last);
      return;
    }
    replay = true;
  } else if (a) {
    if (!parse_id(a, &after)) {
      httpd_error(rs, APIERR_BAD_REQUEST, "after= must be an event id (a number), e.g. after=120");
      return;
    }
    replay = true;
  }
  struct stream *st = calloc(1, sizeof *st);
  if (!st) {
    httpd_error(rs, APIERR_INTERNAL, "out of memory");
    return;
  }
  st->src = *src;
  buf_init(&st->out, REPLAY_MAX_BYTES);
  const char *run = httpd_query(rq, "run", q, sizeof q);
  if (run) {
    struct store_run r = {0};
    struct store *db = dbpool_get(src->pool, NULL);
    int rc = !db ? WEFT_ESTORE : *run ? store_run_get(db, run, &r) : WEFT_ENOTFOUND;
    if (db)
      dbpool_put(src->pool, db);
    if (rc || !r.id || strlen(r.id) >= sizeof st->run) {
      if (rc == WEFT_EAMBIGUOUS)
        httpd_error(rs, APIERR_BAD_REQUEST, "run=%.40s matches more than one run; give more of its id", run);
      else if (rc == WEFT_ENOTFOUND || rc == 0)
        httpd_error(rs, APIERR_NOT_FOUND, "no run %.40s (weft runs lists them)", run);
      else
        httpd_error(rs, APIERR_UNAVAILABLE, "cannot read the store; try again");
      store_run_clear(&r);
      free(st);
      return;
    }
    snprintf(st->run, sizeof st->run, "%s", r.id);
    store_run_clear(&r);
  }
  const char *filter = st->run[0] ? st->run : NULL;
  st->sub = replay ? sse_subscribe_from(src->hub, rq->conn, filter, after, &st->upto)
                   : sse_subscribe(src->hub, rq->conn, filter);
  if (!st->sub) {
    httpd_error(rs, APIERR_UNAVAILABLE, "the server is stopping");
    free(st);
    return;
  }
  st->live = !replay;
  st->next = after;
  /* a first line at once: the client sees the answer's headers without
   * waiting for the first event */
  buf_puts(&st->out, ": weft live events\n\n");
  rs->status = 200;
  rs->ctype = "text/event-stream";
  rs->stream_read = stream_read;
  rs->stream_free = stream_free;
  rs->stream_cls = st;
}
