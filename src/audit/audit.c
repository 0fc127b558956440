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
#include "audit/xcheck.h"
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

/* ---- the entry hash ----
 *
 * The serialisation is built in one buffer and hashed at once. On x86-64
 * CPUs with the SHA extensions the blocks go through SHA-NI (~10x faster
 * than util/sha256.c, which hashing ~200 bytes per transition made a quarter
 * of the runtime's CPU time); otherwise, and for entries larger than the
 * buffer, util/sha256.c. Both give the same digest (tests/unit/test_audit.c
 * compares them). */

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1


__attribute__((target("sha,sse4.1,ssse3"))) static void sha_ni_blocks(uint32_t h[8],
                                                                      const unsigned char *p,
                                                                      size_t nblocks)
{
  const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
  __m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);
  tmp = _mm_shuffle_epi32(tmp, 0xB1);        /* CDAB */
  st1 = _mm_shuffle_epi32(st1, 0x1B);        /* EFGH */
  __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
  st1 = _mm_blend_epi16(st1, tmp, 0xF0);     /* CDGH */
  for (; nblocks; nblocks--, p += 64) {
    __m128i abef = st0, cdgh = st1, w[16];
    for (int g = 0; g < 16; g++) {
      if (g < 4)
        w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), mask);
      else
        w[g] = _mm_sha256msg2_epu32(
          _mm_add_epi32(_mm_sha256msg1_epu32(w[g - 4], w[g - 3]),
                        _mm_alignr_epi8(w[g - 1], w[g - 2], 4)),
          w[g - 1]);
      __m128i m = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
      st1 = _mm_sha256rnds2_epu32(st1, st0, m);
      st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(m, 0x0E));
    }
    st0 = _mm_add_epi32(st0, abef);
    st1 = _mm_add_epi32(st1, cdgh);
  }
  tmp = _mm_shuffle_epi32(st0, 0x1B);      /* FEBA */
  st1 = _mm_shuffle_epi32(st1, 0xB1);      /* DCHG */
  st0 = _mm_blend_epi16(tmp, st1, 0xF0);   /* DCBA */
  st1 = _mm_alignr_epi8(st1, tmp, 8);      /* ABEF */
  _mm_storeu_si128((__m128i *)&h[0], st0);
  _mm_storeu_si128((__m128i *)&h[4], st1);
}

static int sha_ni_usable(void)
{
  static int known = -1;
  if (known < 0) {
    unsigned a, b, c, d;
    int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1);
    int sse = __get_cpuid(1, &a, &b, &c, &d) && (c >> 19 & 1) && (c >> 9 & 1);
    known = sha && sse && !getenv("WEFT_NO_SHA_NI");
  }
  return known;
}
#endif

void audit_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1])
{
#ifdef HAVE_SHA_NI
  if (sha_ni_usable()) {
    static const char hex[] = "0123456789abcdef";
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    unsigned char tail[128] = {0};
    size_t full = n / 64, rest = n % 64;
    sha_ni_blocks(h, p, full);
    memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    size_t tn = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
      tail[tn - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha_ni_blocks(h, tail, tn / 64);
    for (int i = 0; i < 8; i++)
      for (int k = 0; k < 4; k++) {
        unsigned char byte = (unsigned char)(h[i] >> (24 - 8 * k));
        out[8 * i + 2 * k] = hex[byte >> 4];
        out[8 * i + 2 * k + 1] = hex[byte & 15];
      }
    out[SHA256_HEX_LEN] = '\0';
    return;
  }
#endif
  sha256_hex(data, n, out);
}

/* Decimal of v at p (no terminator); returns the length. */
static size_t put_i64(char *p, int64_t v)
{
  char t[24];
  size_t n = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do
    t[n++] = (char)('0' + u % 10);
  while ((u /= 10));
  size_t k = 0;
  if (v < 0)
    p[k++] = '-';
  while (n)
    p[k++] = t[--n];
  return k;
}

/* One netstring field appended to b (or counted when b is NULL). */
static size_t field(char *b, const char *s, size_t n)
{
  if (!s) {
    if (b)
      memcpy(b, "~,", 2);
    return 2;
  }
  char len[24];
  size_t k = put_i64(len, (int64_t)n);
  if (b) {
    memcpy(b, len, k);
    b[k] = ':';
    memcpy(b + k + 1, s, n);
    b[k + 1 + n] = ',';
  }
  return k + 2 + n;
}

void audit_entry_hash(int64_t seq, int64_t at, const char *run, const char *kind,
                      const char *data, const char *prev_hash, char out[SHA256_HEX_LEN + 1])
{
  static const char magic[] = "weft-audit-1\n";
  char seqs[24], ats[24], stack[1024];
  size_t nseq = put_i64(seqs, seq), nat = put_i64(ats, at);
  size_t nrun = run ? strlen(run) : 0, nkind = kind ? strlen(kind) : 0;
  size_t ndata = data ? strlen(data) : 0, nprev = prev_hash ? strlen(prev_hash) : 0;
  size_t total = sizeof magic - 1 + field(NULL, seqs, nseq) + field(NULL, ats, nat) +
                 field(NULL, run, nrun) + field(NULL, kind, nkind) +
                 field(NULL, data, ndata) + field(NULL, prev_hash, nprev);
  char *b = total <= sizeof stack ? stack : malloc(total);
  if (!b) {
    /* out of memory for a huge entry: stream it through util/sha256.c */
    struct sha256 c;
    char num[24];
    const char *f[6] = {seqs, ats, run, kind, data, prev_hash};
    size_t nf[6] = {nseq, nat, nrun, nkind, ndata, nprev};
    sha256_init(&c);
    sha256_update(&c, magic, sizeof magic - 1);
    for (int i = 0; i < 6; i++) {
      if (!f[i]) {
        sha256_update(&c, "~,", 2);
        continue;
      }
      size_t k = put_i64(num, (int64_t)nf[i]);
      num[k++] = ':';
      sha256_update(&c, num, k);
      sha256_update(&c, f[i], nf[i]);
      sha256_update(&c, ",", 1);
    }
    sha256_final_hex(&c, out);
    return;
  }
  size_t k = 0;
  memcpy(b, magic, sizeof magic - 1);
  k += sizeof magic - 1;
  k += field(b + k, seqs, nseq);
  k += field(b + k, ats, nat);
  k += field(b + k, run, nrun);
  k += field(b + k, kind, nkind);
  k += field(b + k, data, ndata);
  k += field(b + k, prev_hash, nprev);
  audit_sha256_hex(b, k, out);
  if (b != stack)
    free(b);
}

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
