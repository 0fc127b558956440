/* runlist.c — the run list a page at a time (GET /runs): the items of
 * ops_list_runs, newest first, and an opaque cursor to the next page.
 *
 * The cursor is "r1." + base64url (no padding) of the last id shown. Run ids
 * are ULIDs (time-ordered, unique), and the next page is the runs whose id
 * sorts before it: runs started while a client pages do not shift or repeat
 * what it has not seen yet. Because ids are time-ordered, a time window
 * (since/until: when the run was created) is an id range too: until bounds
 * the page's cursor, since cuts the page and ends the paging. */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url(const unsigned char *in, size_t n, char *out)
{
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    if (i + 1 < n)
      out[o++] = B64[v >> 6 & 63];
    if (i + 2 < n)
      out[o++] = B64[v & 63];
  }
  out[o] = 0;
}

/* 0 and out (cap bytes) filled, or -1 for text that is not base64url */
static int unb64url(const char *in, unsigned char *out, size_t cap, size_t *n)
{
  size_t len = strlen(in), o = 0;
  unsigned acc = 0;
  int bits = 0;
  if (len % 4 == 1)
    return -1;
  for (size_t i = 0; i < len; i++) {
    const char *p = in[i] ? strchr(B64, in[i]) : NULL;
    if (!p)
      return -1;
    acc = acc << 6 | (unsigned)(p - B64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap)
        return -1;
      out[o++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  *n = o;
  return 0;
}

/* a ULID: 26 characters of Crockford's base32 */
static bool ulid_ok(const char *s, size_t n)
{
  if (n != WEFT_ID_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", s[i]) || !s[i])
      return false;
  return true;
}

void ops_cursor_encode(const char *id, char out[OPS_CURSOR_MAX])
{
  memcpy(out, "r1.", 3);
  b64url((const unsigned char *)id, strnlen(id, WEFT_ID_LEN), out + 3);
}

int ops_cursor_decode(const char *cursor, char id[WEFT_ID_LEN + 1])
{
  unsigned char raw[64];
  size_t n = 0;
  if (strncmp(cursor, "r1.", 3) || strlen(cursor) >= OPS_CURSOR_MAX || unb64url(cursor + 3, raw, sizeof raw, &n) ||
      !ulid_ok((char *)raw, n))
    return -1;
  memcpy(id, raw, n);
  id[n] = 0;
  return 0;
}

/* the smallest ULID of millisecond ms: ids of runs created at ms or later
 * sort at or after it (the first 10 characters are the time, big-endian) */
static void ulid_floor(int64_t ms, char out[WEFT_ID_LEN + 1])
{
  static const char C[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  uint64_t t = ms < 0 ? 0 : (uint64_t)ms;
  if (t > 0xFFFFFFFFFFFFull)
    t = 0xFFFFFFFFFFFFull;
  for (int i = 9; i >= 0; i--, t >>= 5)
    out[i] = C[t & 31];
  memset(out + 10, '0', WEFT_ID_LEN - 10);
  out[WEFT_ID_LEN] = 0;
}

enum ops_err ops_list_runs_page(const struct ops_ctx *c, const struct store_run_filter *f, size_t limit,
                                const char *cursor, json_t **out, struct ops_error *e)
{
  return ops_list_runs_window(c, f, limit, cursor, 0, 0, out, e);
}

enum ops_err ops_list_runs_window(const struct ops_ctx *c, const struct store_run_filter *f, size_t limit,
                                  const char *cursor, int64_t since_ms, int64_t until_ms, json_t **out,
                                  struct ops_error *e)
{
  *out = NULL;
  if (limit > OPS_PAGE_MAX) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "limit %zu is over the maximum of %d runs a page", limit, OPS_PAGE_MAX);
  }
  if (!limit)
    limit = OPS_PAGE_DEFAULT;
  char after[WEFT_ID_LEN + 1] = "";
  if (cursor && ops_cursor_decode(cursor, after)) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "cursor \"%.80s\" is not one this server gave; start again without it",
                    cursor);
  }
  struct store_run_filter g = f ? *f : (struct store_run_filter){0};
  g.limit = limit + 1; /* one more says whether there is a next page */
  g.before_id = cursor ? after : NULL;
  char until_id[WEFT_ID_LEN + 1], since_id[WEFT_ID_LEN + 1];
  if (until_ms > 0) { /* created at until_ms or before: ids before the floor of until_ms + 1 */
    ulid_floor(until_ms + 1, until_id);
    if (!g.before_id || strcmp(until_id, g.before_id) < 0)
      g.before_id = until_id;
  }
  json_t *runs = NULL;
  enum ops_err k = ops_list_runs(c, &g, &runs, e);
  if (k)
    return k;
  bool older = false; /* the page reached runs created before since_ms: no next page */
  if (since_ms > 0) {
    ulid_floor(since_ms, since_id);
    size_t n = json_array_size(runs);
    while (n && strcmp(json_string_value(json_object_get(json_array_get(runs, n - 1), "id")), since_id) < 0) {
      json_array_remove(runs, --n);
      older = true;
    }
  }
  json_t *next = json_null();
  if (!older && json_array_size(runs) > limit) {
    json_array_remove(runs, limit);
    const char *last = json_string_value(json_object_get(json_array_get(runs, limit - 1), "id"));
    char enc[OPS_CURSOR_MAX];
    if (last && strlen(last) == WEFT_ID_LEN) {
      ops_cursor_encode(last, enc);
      json_decref(next);
      next = json_string(enc);
    }
  }
  *out = json_pack("{s:o,s:o}", "runs", runs, "next_cursor", next);
  return *out ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}
