/* audit.c — what makes the audit log tamper-evident: the canonical form of
 * an entry and its hash, the chain walk of `weft audit verify`, and the JSON
 * lines of `weft audit export`. Storage (append inside the transition's
 * transaction, the head record) is the store backend's job.
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
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/wtime.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_MAX_DATA (16u << 20)

int audit_canonical(const char *json, char **out)
{
  *out = NULL;
  if (!json) {
    *out = strdup("null");
    return *out ? 0 : WEFT_ENOMEM;
  }
  json_error_t e;
  json_t *v = json_loads(json, JSON_DECODE_ANY, &e);
  if (!v)
    return WEFT_EPARSE;
  *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
  json_decref(v);
  if (!*out)
    return WEFT_ENOMEM;
  if (strlen(*out) > AUDIT_MAX_DATA) {
    free(*out);
    *out = NULL;
    return WEFT_ELIMIT;
  }
  return 0;
}

int audit_canonical_json(const json_t *v, char **out)
{
  *out = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)
           : strdup("null");
  if (!*out)
    return WEFT_ENOMEM;
  if (strlen(*out) > AUDIT_MAX_DATA) {
    free(*out);
    *out = NULL;
    return WEFT_ELIMIT;
  }
  return 0;
}

static void field(struct sha256 *c, const char *s)
{
  char len[32];
  if (!s) {
    sha256_update(c, "~,", 2);
    return;
  }
  size_t n = strlen(s);
  int k = snprintf(len, sizeof len, "%zu:", n);
  sha256_update(c, len, (size_t)k);
  sha256_update(c, s, n);
  sha256_update(c, ",", 1);
}

void audit_entry_hash(int64_t seq, int64_t at, const char *run, const char *kind,
                      const char *data, const char *prev_hash, char out[SHA256_HEX_LEN + 1])
{
  struct sha256 c;
  char num[32];
  sha256_init(&c);
  sha256_update(&c, "weft-audit-1\n", 13);
  snprintf(num, sizeof num, "%" PRId64, seq);
  field(&c, num);
  snprintf(num, sizeof num, "%" PRId64, at);
  field(&c, num);
  field(&c, run);
  field(&c, kind);
  field(&c, data);
  field(&c, prev_hash);
  sha256_final_hex(&c, out);
}

/* ---- verify ---- */

#define STOP 1 /* a callback's "stop here", distinct from WEFT_E* codes */

struct walk {
  int64_t expected;     /* seq the next entry must have */
  char prev[SHA256_HEX_LEN + 1];
  int64_t bad;
  struct buf msg;
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
               " (its prev_hash differs): entries were removed or reordered",
               e->seq, e->seq - 1);
    return STOP;
  }
  audit_entry_hash(e->seq, e->at, e->run_id, e->kind ? e->kind : "", e->data, e->prev_hash, h);
  if (!e->hash || strcmp(h, e->hash) != 0) {
    w->bad = e->seq;
    buf_printf(&w->msg, "audit entry %" PRId64 " was modified (its hash does not match)", e->seq);
    return STOP;
  }
  memcpy(w->prev, e->hash, sizeof w->prev);
  w->expected++;
  return 0;
}

int audit_verify(struct store *s, int64_t *first_bad_seq, char **msg)
{
  struct walk w = {.expected = 1, .prev = AUDIT_GENESIS};
  struct store_audit head = {0};
  buf_init(&w.msg, 4096);
  *first_bad_seq = 0;
  if (msg)
    *msg = NULL;
  int rc = store_audit_scan(s, NULL, &head, verify_entry, &w);
  if (rc < 0) {
    buf_printf(&w.msg, "%s", store_errmsg(s));
    goto out;
  }
  if (rc == STOP) {
    rc = WEFT_ECORRUPT;
    goto out;
  }
  int64_t last = w.expected - 1;
  if (!head.hash && last > 0) {
    w.bad = last;
    buf_printf(&w.msg, "the audit log's head record is missing (last entry %" PRId64 ")", last);
  } else if (head.seq > last) {
    w.bad = last + 1;
    buf_printf(&w.msg,
               "audit entries %" PRId64 "..%" PRId64 " are missing (the head records %" PRId64 ")",
               last + 1, head.seq, head.seq);
  } else if (head.seq < last) {
    w.bad = head.seq + 1;
    buf_printf(&w.msg, "audit entry %" PRId64 " is past the recorded head %" PRId64, head.seq + 1,
               head.seq);
  } else if (last > 0 && strcmp(head.hash, w.prev) != 0) {
    w.bad = last;
    buf_printf(&w.msg, "audit entry %" PRId64 " does not match the head record", last);
  }
  rc = w.bad ? WEFT_ECORRUPT : 0;
out:
  if (rc == WEFT_ECORRUPT)
    *first_bad_seq = w.bad;
  if (msg && w.msg.len)
    *msg = buf_take(&w.msg);
  buf_free(&w.msg);
  store_audit_clear(&head);
  return rc;
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
