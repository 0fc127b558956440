/* prog.c — the expression table of one workflow.
 *
 * Each distinct trimmed text gets one id, in order of registration; a hash
 * table (open addressing, FNV-1a, load <= 1/2) makes expr_prog_add() and the
 * lookups of expr_render() O(1). Plain paths are parsed here, once, so that
 * evaluation never re-parses them; so are the expressions of mini.c's jq
 * subset. After expr_prog_compile() only plain and mini expressions (and
 * texts already present) may still be added: anything that needs jq must be
 * part of the one compile. */
#include "expr/internal.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

uint64_t prog_hash(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void prog_trim(const char **s, size_t *len)
{
  const char *p = *s;
  size_t n = *len;
  while (n && is_space(*p))
    p++, n--;
  while (n && is_space(p[n - 1]))
    n--;
  *s = p;
  *len = n;
}

char *prog_snippet(const char *s, size_t len)
{
  enum { MAX = 120 };
  size_t n = len;
  bool cut = false;
  if (n > MAX) {
    n = MAX;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--; /* do not split a UTF-8 sequence */
    cut = true;
  }
  char *r = malloc(n + 4);
  if (!r)
    return NULL;
  for (size_t i = 0; i < n; i++)
    r[i] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
  if (cut)
    memcpy(r + n, "\xe2\x80\xa6", 3), n += 3; /* … */
  r[n] = '\0';
  return r;
}

struct expr_prog *expr_prog_new(void)
{
  struct expr_prog *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  buf_init(&p->msgs, 4096);
  return p;
}

void expr_prog_free(struct expr_prog *p)
{
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].text);
    free(p->items[i].seg);
    mini_free(p->items[i].mini);
  }
  free(p->items);
  free(p->slots);
  for (size_t i = 0; i < p->njq_states; i++)
    jq_teardown(&p->jq[i]);
  free(p->jq);
  buf_free(&p->msgs);
  free(p);
}

size_t expr_prog_count(const struct expr_prog *p) { return p->n; }

const char *expr_prog_text(const struct expr_prog *p, int id)
{
  if (id < 0 || (size_t)id >= p->n)
    return NULL;
  return p->items[id].text;
}

int prog_find(const struct expr_prog *p, const char *s, size_t len)
{
  if (!p->nslots)
    return -1;
  uint64_t h = prog_hash(s, len);
  for (size_t i = h & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
    int32_t id = p->slots[i];
    if (id < 0)
      return -1;
    const struct expr_item *it = &p->items[id];
    if (it->hash == h && it->len == len && memcmp(it->text, s, len) == 0)
      return id;
  }
}

static void slot_put(int32_t *slots, size_t nslots, uint64_t h, int32_t id)
{
  size_t i = h & (nslots - 1);
  while (slots[i] >= 0)
    i = (i + 1) & (nslots - 1);
  slots[i] = id;
}

static int grow(struct expr_prog *p)
{
  if (p->n == p->cap) {
    size_t ncap = p->cap ? p->cap * 2 : 16;
    struct expr_item *ni = realloc(p->items, ncap * sizeof *ni);
    if (!ni)
      return WEFT_ENOMEM;
    p->items = ni;
    p->cap = ncap;
  }
  if ((p->n + 1) * 2 > p->nslots) {
    size_t ns = p->nslots ? p->nslots * 2 : 32;
    int32_t *sl = malloc(ns * sizeof *sl);
    if (!sl)
      return WEFT_ENOMEM;
    memset(sl, 0xff, ns * sizeof *sl);
    for (size_t i = 0; i < p->n; i++)
      slot_put(sl, ns, p->items[i].hash, (int32_t)i);
    free(p->slots);
    p->slots = sl;
    p->nslots = ns;
  }
  return 0;
}

int expr_prog_add(struct expr_prog *p, const char *src, size_t len)
{
  int rc = 0;
  char *text = NULL;
  struct plain_seg *seg = NULL;
  struct mini_expr *mini = NULL;
  if (!src)
    src = "", len = 0;
  prog_trim(&src, &len);
  if (len > EXPR_MAX_LEN)
    return WEFT_ELIMIT;
  int id = prog_find(p, src, len);
  if (id >= 0)
    return id;
  if (p->n >= EXPR_MAX_COUNT)
    return WEFT_ELIMIT;
  size_t nseg = 0;
  enum plain_kind kind = plain_parse(src, len, NULL, 0, &nseg);
  text = malloc(len + 1);
  if (!text) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  memcpy(text, src, len);
  text[len] = '\0';
  if (kind == PLAIN_NONE) { /* the jq subset of mini.c, parsed on our own copy */
    rc = mini_parse(text, len, &mini);
    if (rc == WEFT_ENOMEM)
      goto out;
    rc = 0;
  }
  if (kind == PLAIN_NONE && !mini && (p->compiled || p->broken)) {
    rc = WEFT_ESTATE;
    goto out;
  }
  if (nseg) {
    seg = malloc(nseg * sizeof *seg);
    if (!seg) {
      rc = WEFT_ENOMEM;
      goto out;
    }
    size_t again;
    plain_parse(text, len, seg, nseg, &again); /* keys now point into text */
  }
  rc = grow(p);
  if (rc)
    goto out;
  struct expr_item *it = &p->items[p->n];
  it->text = text;
  it->len = len;
  it->hash = prog_hash(text, len);
  it->kind = kind;
  it->nseg = nseg;
  it->seg = seg;
  it->shard = -1;
  it->mini = mini;
  slot_put(p->slots, p->nslots, it->hash, (int32_t)p->n);
  if (kind == PLAIN_NONE && !mini)
    p->njq++;
  text = NULL;
  seg = NULL;
  mini = NULL;
  rc = (int)p->n++;
out:
  mini_free(mini);
  free(text);
  free(seg);
  return rc;
}
