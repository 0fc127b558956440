/* audit.c — what makes the audit log tamper-evident: the chain walk of
 * `weft audit verify` and the JSON lines of `weft audit export` (the
 * canonical form of an entry and its hash are util/audit_chain.c).
 * Storage (append inside the transition's transaction, the head record) is
 * the store backend's job.
 *
 * Verification walks entries in seq order expecting 1, 2, 3, ... and checks
 * for each: the seq is the expected one (else an entry was deleted or moved),
 * prev_hash equals the previous entry's hash (else the chain was cut or
 * reordered), and the recomputed hash equals the stored one (else the entry
 * was edited). Finally the head record must name the last entry and its hash
 * (else the tail was removed). The first failing position is reported. What
 * this cannot detect: someone who rewrites the whole chain from some entry
 * on AND the head consistently (that needs the head anchored outside the
 * database; see docs/internals/audit.md). */
#include "audit/audit.h"
#include "audit/xcheck.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/wtime.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- verify ---- */

#define STOP 1 /* a callback's "stop here", distinct from WEFT_E* codes */

struct walk {
  int64_t expected;     /* seq the next entry must have */
  char prev[SHA256_HEX_LEN + 1];
  int64_t bad;
  struct buf msg;
  /* with store_verify_scan: the head, the checkpoints, the store check */
  const struct store_audit *head;
  const struct audit_checkpoint *cps;
  size_t n_cps;
  bool chain_done;
  struct xcheck *xc;
};

static int verify_entry(void *ctx, const struct store_audit *e)
{
  struct walk *w = ctx;
  char h[SHA256_HEX_LEN + 1];
  if (e->seq != w->expected) {
    w->bad = w->expected;
    if (e->seq > w->expected)
      buf_printf(&w->msg, "audit entry %" PRId64 " is missing (the next one is %" PRId64 ")",
                 w->expected, e->seq);
    else
      buf_printf(&w->msg, "audit entry %" PRId64 " is out of order", e->seq);
    return STOP;
  }
  if (!e->prev_hash || strcmp(e->prev_hash, w->prev) != 0) {
    w->bad = e->seq;
    buf_printf(&w->msg,
               "audit entry %" PRId64 " does not follow entry %" PRId64
               " (its prev_hash differs): entries were removed, reordered or rewritten",
               e->seq, e->seq - 1);
    return STOP;
  }
  audit_entry_hash(e->seq, e->at, e->run_id, e->kind ? e->kind : "", e->data, e->prev_hash, h);
  if (!e->hash || strcmp(h, e->hash) != 0) {
    w->bad = e->seq;
    buf_printf(&w->msg, "audit entry %" PRId64 " was modified (its hash does not match)", e->seq);
    return STOP;
  }
  for (size_t i = 0; i < w->n_cps; i++)
    if (w->cps[i].seq == e->seq && strcmp(w->cps[i].hash, e->hash)) {
      w->bad = e->seq;
      buf_printf(&w->msg,
                 "audit entry %" PRId64 " is not the one checkpoint %s recorded (hash %.12s..., "
                 "now %.12s...): the chain was rewritten from entry %" PRId64 " or earlier",
                 e->seq, w->cps[i].at, w->cps[i].hash, e->hash, e->seq);
      return STOP;
    }
  memcpy(w->prev, e->hash, sizeof w->prev);
  w->expected++;
  return 0;
}

/* After the last entry: the head record, then the checkpoints past the end. */
static int chain_end(struct walk *w, const struct store_audit *head)
{
  int64_t last = w->expected - 1;
  if (!head->hash && last > 0) {
    w->bad = last;
    buf_printf(&w->msg, "the audit log's head record is missing (last entry %" PRId64 ")", last);
  } else if (head->seq > last) {
    w->bad = last + 1;
    buf_printf(&w->msg,
               "audit entries %" PRId64 "..%" PRId64 " are missing (the head records %" PRId64 ")",
               last + 1, head->seq, head->seq);
  } else if (head->seq < last) {
    w->bad = head->seq + 1;
    buf_printf(&w->msg, "audit entry %" PRId64 " is past the recorded head %" PRId64,
               head->seq + 1, head->seq);
  } else if (last > 0 && strcmp(head->hash, w->prev) != 0) {
    w->bad = last;
    buf_printf(&w->msg, "audit entry %" PRId64 " does not match the head record", last);
  }
  for (size_t i = 0; !w->bad && i < w->n_cps; i++)
    if (w->cps[i].seq > last) {
      w->bad = last + 1;
      buf_printf(&w->msg,
                 "the audit log ends at entry %" PRId64 " but checkpoint %s recorded entry %" PRId64
                 ": entries were removed (the tail cut, or the log emptied or replaced)",
                 last, w->cps[i].at, w->cps[i].seq);
    }
  w->chain_done = true;
  return w->bad ? STOP : 0;
}

static int verify_row(void *ctx, const struct store_vrow *r)
{
  struct walk *w = ctx;
  if (r->type == STORE_V_ENTRY) {
    int rc = verify_entry(w, r->entry);
    return rc ? rc : xc_row(w->xc, r);
  }
  if (!w->chain_done && chain_end(w, w->head))
    return STOP;
  return xc_row(w->xc, r);
}

int audit_verify_head(struct store *s, const struct audit_checkpoint *cps, size_t n_cps,
                      int64_t *first_bad_seq, char **msg, struct store_audit *head_out)
{
  struct store_audit head = {0};
  struct walk w = {.expected = 1, .prev = AUDIT_GENESIS, .cps = cps, .n_cps = n_cps,
                   .head = &head};
  buf_init(&w.msg, 4096);
  *first_bad_seq = 0;
  if (msg)
    *msg = NULL;
  int rc;
  if (s->ops->version >= 3 && s->ops->verify_scan) {
    /* the scan fills head before its first row */
    if (!(w.xc = xc_new())) {
      rc = WEFT_ENOMEM;
      goto out;
    }
    rc = store_verify_scan(s, &head, verify_row, &w);
  } else {
    rc = store_audit_scan(s, NULL, &head, verify_entry, &w);
  }
  if (rc < 0) {
    if (!w.msg.len)
      buf_printf(&w.msg, "%s", store_errmsg(s));
    goto out;
  }
  if (rc == STOP || (w.xc && xc_problem(w.xc))) {
    if (!w.bad && w.xc && xc_problem(w.xc))
      buf_printf(&w.msg, "%s", xc_problem(w.xc)); /* the store and the log disagree */
    rc = WEFT_ECORRUPT;
    goto out;
  }
  if (!w.chain_done)
    chain_end(&w, &head);
  rc = w.bad ? WEFT_ECORRUPT : 0;
out:
  if (rc == WEFT_ECORRUPT)
    *first_bad_seq = w.bad;
  if (msg && w.msg.len)
    *msg = buf_take(&w.msg);
  buf_free(&w.msg);
  xc_free(w.xc);
  if (head_out && rc == 0)
    *head_out = head;
  else
    store_audit_clear(&head);
  return rc;
}

int audit_verify_with(struct store *s, const struct audit_checkpoint *cps, size_t n_cps,
                      int64_t *first_bad_seq, char **msg)
{
  return audit_verify_head(s, cps, n_cps, first_bad_seq, msg, NULL);
}

int audit_verify(struct store *s, int64_t *first_bad_seq, char **msg)
{
  return audit_verify_with(s, NULL, 0, first_bad_seq, msg);
}

/* ---- export ---- */

struct exp {
  FILE *f;
  int err;
};

static int export_entry(void *ctx, const struct store_audit *e)
{
  struct exp *x = ctx;
  char at[32];
  wt_fmt_rfc3339(e->at, at);
  json_t *data = e->data ? json_loads(e->data, JSON_DECODE_ANY, NULL) : json_null();
  if (!data)
    data = json_string(e->data); /* not JSON (tampered): show it as text */
  json_t *o = json_pack("{s:I, s:s, s:I, s:s?, s:s?, s:o, s:s?, s:s?}", "seq", (json_int_t)e->seq,
                        "at", at, "at_ms", (json_int_t)e->at, "run", e->run_id, "kind", e->kind,
                        "data", data ? data : json_null(), "prev_hash", e->prev_hash, "hash",
                        e->hash);
  if (!o) {
    x->err = WEFT_ENOMEM;
    return STOP;
  }
  /* entries naming a person say how that identity was established: by the
   * operating system ("verified"), or claimed with --as ("asserted") */
  if (json_is_object(data) && (json_object_get(data, "by") || json_object_get(data, "started_by")))
    json_object_set_new(o, "identity",
                        json_string(json_is_string(json_object_get(data, "asserted_by"))
                                      ? "asserted"
                                      : "verified"));
  int rc = json_dumpf(o, x->f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_decref(o);
  if (rc || fputc('\n', x->f) == EOF) {
    x->err = WEFT_EIO;
    return STOP;
  }
  return 0;
}

int audit_export(struct store *s, const char *run, FILE *f)
{
  struct exp x = {f, 0};
  int rc = store_audit_scan(s, run, NULL, export_entry, &x);
  if (rc == STOP)
    rc = x.err;
  if (rc == 0 && fflush(f) != 0)
    rc = WEFT_EIO;
  return rc;
}
