/* proc_mask.c — streaming secret masking (see proc_mask.h).
 *
 * Each chunk is appended to the held tail in a per-thread scratch buffer and
 * scanned left to right. At a byte that starts some secret: if a secret is
 * still possible past the end of the data (a prefix of it ends the data),
 * everything from here on is held for the next chunk; otherwise the longest
 * secret that matches here becomes "***". Bytes that start no secret are
 * copied in runs. The held tail is always shorter than the longest secret,
 * so memory is bounded by PROC_SECRET_MAX plus one piece of input. Matching
 * is naive (secrets x positions that start one): a run has few secrets, and
 * the first-byte table skips everything else. */
#include "exec/proc_mask.h"
#include "util/err.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PIECE (64u << 10) /* input is scanned in pieces of at most this */

static _Thread_local struct buf g_work, g_out;

/* The scratch buffers go with their thread: a key's destructor frees them
 * when a thread that used them ends (the server's runtime thread ends before
 * the process does). */
static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *unused)
{
  (void)unused;
  buf_free(&g_work);
  buf_free(&g_out);
  memset(&g_work, 0, sizeof g_work);
  memset(&g_out, 0, sizeof g_out);
}

static void key_init(void)
{
  pthread_key_create(&g_key, scratch_free);
}

int proc_mask_init(struct proc_mask *m, const char *const *secrets)
{
  memset(m, 0, sizeof *m);
  buf_init(&m->hold, PROC_SECRET_MAX);
  size_t n = 0;
  for (const char *const *s = secrets; s && *s; s++)
    if (**s)
      n++;
  if (!n)
    return 0;
  m->secret = calloc(n, sizeof *m->secret);
  m->len = calloc(n, sizeof *m->len);
  if (!m->secret || !m->len) {
    proc_mask_free(m);
    return WEFT_ENOMEM;
  }
  for (const char *const *s = secrets; *s; s++) {
    size_t l = strlen(*s);
    if (!l)
      continue;
    if (l > PROC_SECRET_MAX) {
      proc_mask_free(m);
      return WEFT_ELIMIT;
    }
    if (!(m->secret[m->n] = strdup(*s))) {
      proc_mask_free(m);
      return WEFT_ENOMEM;
    }
    m->len[m->n++] = l;
    m->first[(unsigned char)**s] = true;
    if (l > m->maxlen)
      m->maxlen = l;
  }
  return 0;
}

bool proc_mask_active(const struct proc_mask *m) { return m->n > 0; }

void proc_mask_free(struct proc_mask *m)
{
  for (size_t i = 0; i < m->n; i++)
    free(m->secret[i]);
  free(m->secret);
  free(m->len);
  buf_free(&m->hold);
  memset(m, 0, sizeof *m);
}

static void scratch_init(void)
{
  if (g_work.max == 0) {
    buf_init(&g_work, PROC_SECRET_MAX + PIECE);
    buf_init(&g_out, 3 * (PROC_SECRET_MAX + PIECE));
    pthread_once(&g_once, key_init);
    pthread_setspecific(g_key, &g_work); /* any non-NULL value: the destructor runs */
  }
}

/* Scans d[0..n): emits the decided part, leaves the rest in m->hold. */
static int scan(struct proc_mask *m, const char *d, size_t n, bool final, proc_mask_emit_cb emit, void *ud)
{
  int rc = 0;
  size_t i = 0, run = 0;
  buf_reset(&g_out);
  buf_reset(&m->hold);
  while (i < n) {
    if (!m->first[(unsigned char)d[i]]) {
      i++;
      continue;
    }
    size_t best = 0;
    bool partial = false;
    for (size_t k = 0; k < m->n; k++) {
      size_t l = m->len[k];
      if (n - i >= l) {
        if (l > best && memcmp(d + i, m->secret[k], l) == 0)
          best = l;
      } else if (!final && memcmp(d + i, m->secret[k], n - i) == 0) {
        partial = true;
      }
    }
    if (!partial && !best) {
      i++;
      continue;
    }
    if ((rc = buf_append(&g_out, d + run, i - run)))
      goto out;
    if (partial) {
      rc = buf_append(&m->hold, d + i, n - i);
      run = i = n;
      goto out;
    }
    if ((rc = buf_append(&g_out, "***", 3)))
      goto out;
    i += best;
    run = i;
  }
  rc = buf_append(&g_out, d + run, n - run);
out:
  if (g_out.len)
    emit(ud, g_out.p, g_out.len);
  return rc == WEFT_ELIMIT ? WEFT_ENOMEM : rc;
}

int proc_mask_feed(struct proc_mask *m, const char *d, size_t n, proc_mask_emit_cb emit, void *ud)
{
  if (!m->n) {
    if (n)
      emit(ud, d, n);
    return 0;
  }
  scratch_init();
  while (n) {
    size_t piece = n < PIECE ? n : PIECE;
    buf_reset(&g_work);
    int rc = buf_append(&g_work, m->hold.p ? m->hold.p : "", m->hold.len);
    if (!rc)
      rc = buf_append(&g_work, d, piece);
    if (!rc)
      rc = scan(m, g_work.p, g_work.len, false, emit, ud);
    if (rc)
      return rc == WEFT_ELIMIT ? WEFT_ENOMEM : rc;
    d += piece;
    n -= piece;
  }
  return 0;
}

int proc_mask_flush(struct proc_mask *m, proc_mask_emit_cb emit, void *ud)
{
  if (!m->n || !m->hold.len)
    return 0;
  scratch_init();
  buf_reset(&g_work);
  int rc = buf_append(&g_work, m->hold.p, m->hold.len);
  if (!rc)
    rc = scan(m, g_work.p, g_work.len, true, emit, ud);
  return rc == WEFT_ELIMIT ? WEFT_ENOMEM : rc;
}
