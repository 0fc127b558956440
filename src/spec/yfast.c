/* yfast.c — the fast path of ytree_parse(): the YAML that workflow files
 * mostly are, parsed straight into ynodes without libfyaml.
 *
 * libfyaml's event parser costs ~20,000 instructions a step of a generated
 * workflow (tokens, marks, events, each allocated and freed); this scanner
 * reads the same files in one pass over the bytes. It accepts only a strict
 * subset and declines (returns 0, and libfyaml parses the file as before)
 * at the first thing outside it, so a file it does accept gives exactly the
 * tree libfyaml's path gives (tests/unit/test_spec_yfast.c compares the two
 * on every YAML file of the tests; tests/fuzz/fuzz_yfast.c on anything):
 *
 *   - printable ASCII and newlines only (no tab, CR, control or non-ASCII
 *     byte anywhere), no `---`/`...`/`%` lines;
 *   - block mappings (`key: value`), block sequences (`- item`, also
 *     `- key: value` compact mappings), comments, blank lines;
 *   - values on one line: plain scalars, quoted scalars without escapes
 *     (no backslash, no ''), flow `[...]`/`{...}` that close on the same line;
 *   - no anchors, aliases, tags, merge keys (`<<`), block scalars (| >),
 *     multi-line scalars, `?` keys, indentless sequences, empty sequence
 *     items, duplicate keys or nesting near the depth limit.
 *
 * Errors are never reported here: anything odd declines, and libfyaml's
 * path says what is wrong. Positions, spans, types, sizes and depths are
 * set as ytree.c sets them (ycoll_pos, ytype_plain are shared). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/model.h"
#include "spec/strmap.h"
#include "spec/ytree_int.h"
#include "util/err.h"

_Static_assert(sizeof(struct ynode) <= 56, "a ynode is 56 bytes (a 1,000,000-step file has ~12 million)");

#define DECLINE 1

struct fp {
  struct ytree *t;
  const char *s;
  size_t len;
  size_t p;   /* cursor */
  size_t ls;  /* start of the cursor's line */
  int line;   /* 1-based line of the cursor */
  int ncol;   /* column (0-based) of the next content line after a block, -1 at the end */
  int level;  /* collections open */
  int rc;     /* DECLINE or WEFT_ENOMEM once something stopped the parse */
  struct ynode **stk;
  size_t n_stk, cap_stk;
};

static struct ynode *fail(struct fp *f, int rc)
{
  if (!f->rc)
    f->rc = rc;
  return NULL;
}

static inline int at(const struct fp *f, size_t i)
{
  return i < f->len ? (unsigned char)f->s[i] : -1;
}

static inline int colof(const struct fp *f)
{
  return (int)(f->p - f->ls);
}

/* end of line or of the source */
static inline bool eol(int ch)
{
  return ch == '\n' || ch == -1;
}

static inline bool blank_or_eol(int ch)
{
  return ch == ' ' || eol(ch);
}

static inline bool flow_ind(int ch)
{
  return ch == ',' || ch == '[' || ch == ']' || ch == '{' || ch == '}';
}

static void skip_spaces(struct fp *f)
{
  while (f->p < f->len && f->s[f->p] == ' ')
    f->p++;
}

/* From the end of a line's content (blanks and a comment may follow),
 * to the first content character of the next line that has one. Returns
 * its column, -1 at the end of the source, -2 (declined) for anything that
 * is not blank, a comment, or a plain line. */
static int next_content(struct fp *f)
{
  skip_spaces(f);
  int ch = at(f, f->p);
  if (ch == '#') {
    if (f->p > f->ls && f->s[f->p - 1] != ' ')
      return -2; /* `"a"#x`: no blank before the comment */
    const char *nl = memchr(f->s + f->p, '\n', f->len - f->p);
    f->p = nl ? (size_t)(nl - f->s) : f->len;
    ch = at(f, f->p);
  }
  if (ch != '\n' && ch != -1)
    return -2;
  for (;;) {
    if (f->p >= f->len)
      return -1;
    f->p++; /* the newline */
    f->ls = f->p;
    f->line++;
    skip_spaces(f);
    ch = at(f, f->p);
    if (ch == '\n')
      continue;
    if (ch == -1)
      return -1;
    if (ch == '#') {
      const char *nl = memchr(f->s + f->p, '\n', f->len - f->p);
      f->p = nl ? (size_t)(nl - f->s) : f->len;
      continue;
    }
    if (f->p == f->ls &&
        (ch == '%' || ((ch == '-' || ch == '.') && at(f, f->p + 1) == ch && at(f, f->p + 2) == ch)))
      return -2; /* a directive or a document marker */
    return colof(f);
  }
}

static struct ynode *new_node(struct fp *f)
{
  struct ynode *y = yarena_alloc(&f->t->arena, sizeof *y);
  if (!y)
    return fail(f, WEFT_ENOMEM);
  memset(y, 0, sizeof *y);
  return y;
}

/* A scalar of text [a, b) (copied), its token spanning [ta, tb) on the
 * cursor's line. */
static struct ynode *scalar(struct fp *f, size_t a, size_t b, size_t ta, size_t tb, int quote)
{
  struct ynode *y = new_node(f);
  if (!y)
    return NULL;
  char *cp = yarena_alloc(&f->t->arena, b - a + 1);
  if (!cp)
    return fail(f, WEFT_ENOMEM);
  size_t n = b - a;
  memcpy(cp, f->s + a, n);
  cp[n] = 0;
  y->s = cp;
  y->len = n;
  y->size = n + 1;
  y->line = f->line;
  y->col = (int)(ta - f->ls) + 1;
  y->src_start = ta;
  y->src_end = tb;
  y->quoted = quote != 0;
  if (quote)
    y->t = Y_STR;
  else
    ytype_plain(y);
  return y;
}

/* A quoted scalar at the cursor, on one line, without backslash escapes. */
static struct ynode *quoted(struct fp *f)
{
  int q = f->s[f->p];
  size_t a = f->p + 1, i = a;
  for (;;) {
    int ch = at(f, i);
    if (eol(ch) || (q == '"' && ch == '\\'))
      return fail(f, DECLINE);
    if (ch == q) {
      if (q == '\'' && at(f, i + 1) == '\'')
        return fail(f, DECLINE); /* '' escapes: libfyaml 0.8 mangles long runs of them */
      break;
    }
    i++;
  }
  struct ynode *y = scalar(f, a, i, a, i, q); /* the span is inside the quotes */
  f->p = i + 1;
  return y;
}

/* Can a plain scalar start at i? (the first character is not an
 * indicator; `-` only when a non-blank follows) */
static bool plain_start(const struct fp *f, size_t i, bool flow)
{
  int ch = at(f, i);
  switch (ch) {
  case -1: case '\n': case ' ':
  case ',': case '[': case ']': case '{': case '}': case '#': case '&': case '*': case '!':
  case '|': case '>': case '\'': case '"': case '%': case '@': case '`': case '?': case ':':
    return false;
  case '-': {
    int nx = at(f, i + 1);
    return !blank_or_eol(nx) && !(flow && flow_ind(nx));
  }
  default:
    return true;
  }
}

/* End of the plain scalar at the cursor (after trimming blanks); *stop is
 * where the scan stopped: end of line, ` #`, a `:` that ends a key (followed
 * by a blank), or in flow context a flow indicator or any `:`. */
static size_t plain_end(const struct fp *f, bool flow, size_t *stop)
{
  size_t i = f->p;
  for (;; i++) {
    int ch = at(f, i);
    if (eol(ch))
      break;
    if (ch == ':' && (flow || blank_or_eol(at(f, i + 1))))
      break;
    if (ch == '#' && f->s[i - 1] == ' ')
      break;
    if (flow && flow_ind(ch))
      break;
  }
  *stop = i;
  while (i > f->p && f->s[i - 1] == ' ')
    i--;
  return i;
}

/* Is the cursor at `key:` (a plain or quoted scalar, then `:` and a blank)? */
static bool at_key(const struct fp *f)
{
  int ch = at(f, f->p);
  size_t i;
  if (ch == '"' || ch == '\'') {
    i = f->p + 1;
    while (!eol(at(f, i)) && at(f, i) != ch)
      i++;
    if (at(f, i) != ch)
      return false;
    i++;
    while (at(f, i) == ' ')
      i++;
  } else {
    if (!plain_start(f, f->p, false))
      return false;
    plain_end(f, false, &i);
  }
  return at(f, i) == ':' && blank_or_eol(at(f, i + 1));
}

static int push(struct fp *f, struct ynode *y)
{
  if (f->n_stk == f->cap_stk) {
    size_t ncap = f->cap_stk ? f->cap_stk * 2 : 256;
    struct ynode **nv = realloc(f->stk, ncap * sizeof *nv);
    if (!nv)
      return f->rc = WEFT_ENOMEM;
    f->stk = nv;
    f->cap_stk = ncap;
  }
  f->stk[f->n_stk++] = y;
  return 0;
}

static bool has_dups(const struct ynode *m)
{
  if (m->n <= 16) {
    for (uint32_t i = 1; i < m->n; i++)
      for (uint32_t j = 0; j < i; j++) {
        const struct ynode *a = m->kids[2 * j], *b = m->kids[2 * i];
        if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0)
          return true;
      }
    return false;
  }
  struct strmap seen = {0};
  bool dup = false;
  for (uint32_t i = 0; i < m->n && !dup; i++) {
    const struct ynode *b = m->kids[2 * i];
    if (strmap_get(&seen, b->s, b->len) != UINT32_MAX || strmap_put(&seen, b->s, b->len, i))
      dup = true; /* (out of memory: libfyaml's path will say so) */
  }
  strmap_free(&seen);
  return dup;
}

/* A collection opens: depth budget as ytree.c's (declined well before). */
static struct ynode *open_coll(struct fp *f, bool map)
{
  if (f->level + 2 >= WF_MAX_DEPTH)
    return fail(f, DECLINE);
  struct ynode *y = new_node(f);
  if (!y)
    return NULL;
  f->level++;
  y->t = map ? Y_MAP : Y_SEQ;
  y->s = "";
  y->size = 1;
  return y;
}

/* Adds a kid's size and depth to its collection. */
static void grow(struct ynode *y, const struct ynode *k)
{
  y->size += k->size;
  if (k->depth > y->depth)
    y->depth = k->depth;
}

static struct ynode *close_coll(struct fp *f, struct ynode *y, size_t base, uint32_t k,
                                const struct fpos *first, int kline, int kcol,
                                const struct ynode *pkey)
{
  bool map = y->t == Y_MAP;
  size_t per = map ? 2 : 1;
  y->kids = yarena_alloc(&f->t->arena, (k ? k : 1) * per * sizeof *y->kids);
  if (!y->kids)
    return fail(f, WEFT_ENOMEM);
  if (k)
    memcpy(y->kids, f->stk + base, (size_t)k * per * sizeof *y->kids);
  f->n_stk = base;
  f->level--;
  y->n = k;
  if (map && has_dups(y))
    return fail(f, DECLINE);
  y->depth++;
  ycoll_pos(f->s, f->len, y, k ? first : NULL, map, kline, kcol, pkey);
  if (y->depth > WF_MAX_DEPTH || y->size > (uint64_t)f->len * WF_MAX_ALIAS_FACTOR)
    return fail(f, DECLINE);
  return y;
}

static struct ynode *flow_node(struct fp *f, int kline, int kcol, const struct ynode *pkey);

/* A flow collection at the cursor, closed on the same line. */
static struct ynode *flow_coll(struct fp *f, int kline, int kcol, const struct ynode *pkey)
{
  bool map = f->s[f->p] == '{';
  int close = map ? '}' : ']';
  struct ynode *y = open_coll(f, map);
  if (!y)
    return NULL;
  f->p++;
  size_t base = f->n_stk;
  uint32_t k = 0;
  struct fpos first = {0, 0, 0};
  skip_spaces(f);
  if (at(f, f->p) == close) {
    f->p++;
    return close_coll(f, y, base, 0, NULL, kline, kcol, pkey);
  }
  for (;;) {
    skip_spaces(f);
    struct ynode *key = NULL, *v;
    if (map) {
      int ch = at(f, f->p);
      if (ch == '"' || ch == '\'')
        key = quoted(f);
      else if (plain_start(f, f->p, true)) {
        size_t stop, e = plain_end(f, true, &stop);
        key = scalar(f, f->p, e, f->p, e, 0);
        f->p = stop;
      } else
        return fail(f, DECLINE);
      if (!key)
        return NULL;
      skip_spaces(f);
      if (at(f, f->p) != ':' || at(f, f->p + 1) != ' ')
        return fail(f, DECLINE);
      f->p += 2;
      skip_spaces(f);
      v = flow_node(f, key->line, key->col, key);
      if (!v)
        return NULL;
      if (k == 0)
        first = (struct fpos){key->line, key->col, key->src_start};
      if (push(f, key) || push(f, v))
        return NULL;
      grow(y, key);
    } else {
      v = flow_node(f, kline, kcol, NULL);
      if (!v)
        return NULL;
      if (k == 0)
        first = (struct fpos){v->line, v->col, v->src_start};
      if (push(f, v))
        return NULL;
    }
    grow(y, v);
    k++;
    skip_spaces(f);
    int ch = at(f, f->p);
    if (ch == ',') {
      f->p++;
      skip_spaces(f);
      if (at(f, f->p) == close)
        return fail(f, DECLINE); /* a trailing comma */
      continue;
    }
    if (ch != close)
      return fail(f, DECLINE);
    f->p++;
    break;
  }
  return close_coll(f, y, base, k, &first, kline, kcol, pkey);
}

/* A node inside a flow collection. */
static struct ynode *flow_node(struct fp *f, int kline, int kcol, const struct ynode *pkey)
{
  int ch = at(f, f->p);
  if (ch == '[' || ch == '{')
    return flow_coll(f, kline, kcol, pkey);
  if (ch == '"' || ch == '\'')
    return quoted(f);
  if (!plain_start(f, f->p, true))
    return fail(f, DECLINE);
  size_t stop, e = plain_end(f, true, &stop);
  struct ynode *y = scalar(f, f->p, e, f->p, e, 0);
  f->p = stop;
  return y;
}

/* A value on the rest of the cursor's line (not a block collection). */
static struct ynode *inline_node(struct fp *f, int kline, int kcol, const struct ynode *pkey)
{
  int ch = at(f, f->p);
  if (ch == '[' || ch == '{')
    return flow_coll(f, kline, kcol, pkey);
  if (ch == '"' || ch == '\'')
    return quoted(f);
  if (!plain_start(f, f->p, false))
    return fail(f, DECLINE);
  size_t stop, e = plain_end(f, false, &stop);
  if (at(f, stop) == ':')
    return fail(f, DECLINE); /* `a: b: c` */
  struct ynode *y = scalar(f, f->p, e, f->p, e, 0);
  f->p = stop;
  return y;
}

static struct ynode *block_map(struct fp *f, int ind, int kline, int kcol,
                               const struct ynode *pkey);
static struct ynode *block_seq(struct fp *f, int ind, int kline, int kcol,
                               const struct ynode *pkey);

/* The block collection whose first line's content is at the cursor (column c). */
static struct ynode *block_node(struct fp *f, int c, int kline, int kcol, const struct ynode *pkey)
{
  if (f->s[f->p] == '-' && blank_or_eol(at(f, f->p + 1)))
    return block_seq(f, c, kline, kcol, pkey);
  if (at_key(f))
    return block_map(f, c, kline, kcol, pkey);
  return fail(f, DECLINE); /* a scalar or flow on a line of its own */
}

static bool seq_dash(const struct fp *f)
{
  return at(f, f->p) == '-' && blank_or_eol(at(f, f->p + 1));
}

/* The empty value of `key:` (no token: placed at 0:0, as libfyaml gives it). */
static struct ynode *empty_value(struct fp *f)
{
  struct ynode *y = new_node(f);
  if (!y)
    return NULL;
  y->s = "";
  y->size = 1;
  y->t = Y_NULL;
  return y;
}

static struct ynode *block_map(struct fp *f, int ind, int kline, int kcol,
                               const struct ynode *pkey)
{
  struct ynode *y = open_coll(f, true);
  if (!y)
    return NULL;
  size_t base = f->n_stk;
  uint32_t k = 0;
  struct fpos first = {0, 0, 0};
  int nc;
  for (;;) {
    struct ynode *key;
    int ch = at(f, f->p);
    if (ch == '"' || ch == '\'') {
      key = quoted(f);
      if (!key)
        return NULL;
      skip_spaces(f);
    } else {
      if (!plain_start(f, f->p, false))
        return fail(f, DECLINE);
      size_t stop, e = plain_end(f, false, &stop);
      key = scalar(f, f->p, e, f->p, e, 0);
      if (!key)
        return NULL;
      f->p = stop;
    }
    if (at(f, f->p) != ':' || !blank_or_eol(at(f, f->p + 1)))
      return fail(f, DECLINE);
    if (key->t == Y_STR && !key->quoted && key->len == 2 && memcmp(key->s, "<<", 2) == 0)
      return fail(f, DECLINE); /* a merge key */
    f->p++;
    skip_spaces(f);
    struct ynode *v;
    ch = at(f, f->p);
    if (eol(ch) || ch == '#') {
      nc = next_content(f);
      if (nc == -2)
        return fail(f, DECLINE);
      if (nc > ind) {
        v = block_node(f, nc, key->line, key->col, key);
        nc = f->ncol;
      } else if (nc == ind && seq_dash(f)) {
        return fail(f, DECLINE); /* an indentless sequence */
      } else {
        v = empty_value(f);
      }
    } else {
      v = inline_node(f, key->line, key->col, key);
      nc = v ? next_content(f) : 0;
      if (nc == -2)
        return fail(f, DECLINE);
    }
    if (!v)
      return NULL;
    if (k == 0)
      first = (struct fpos){key->line, key->col, key->src_start};
    if (push(f, key) || push(f, v))
      return NULL;
    grow(y, key);
    grow(y, v);
    k++;
    if (nc < ind)
      break;
    if (nc > ind || seq_dash(f))
      return fail(f, DECLINE);
  }
  f->ncol = nc;
  return close_coll(f, y, base, k, &first, kline, kcol, pkey);
}

static struct ynode *block_seq(struct fp *f, int ind, int kline, int kcol,
                               const struct ynode *pkey)
{
  struct ynode *y = open_coll(f, false);
  if (!y)
    return NULL;
  size_t base = f->n_stk;
  uint32_t k = 0;
  struct fpos first = {0, 0, 0};
  int nc;
  for (;;) {
    f->p++; /* the dash */
    skip_spaces(f);
    struct ynode *v;
    int ch = at(f, f->p);
    if (eol(ch) || ch == '#') {
      nc = next_content(f);
      if (nc <= ind)
        return fail(f, DECLINE); /* an empty item, or an error */
      v = block_node(f, nc, kline, kcol, NULL);
      nc = f->ncol;
    } else if (seq_dash(f)) {
      return fail(f, DECLINE); /* `- - a` */
    } else if (at_key(f)) {
      v = block_map(f, colof(f), kline, kcol, NULL);
      nc = f->ncol;
    } else {
      v = inline_node(f, kline, kcol, NULL);
      nc = v ? next_content(f) : 0;
      if (nc == -2)
        return fail(f, DECLINE);
    }
    if (!v)
      return NULL;
    if (k == 0)
      first = (struct fpos){v->line, v->col, v->src_start};
    if (push(f, v))
      return NULL;
    grow(y, v);
    k++;
    if (nc < ind)
      break;
    if (nc > ind || !seq_dash(f))
      return fail(f, DECLINE);
  }
  f->ncol = nc;
  return close_coll(f, y, base, k, &first, kline, kcol, pkey);
}

/* Any byte outside printable ASCII and newline declines the whole file. */
static bool plain_ascii(const char *s, size_t len)
{
  const unsigned char *u = (const unsigned char *)s;
  unsigned char bad = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, u + i, 8);
    /* any byte >= 0x80, or < 0x20, or 0x7f, in the word? */
    uint64_t hi = w & 0x8080808080808080ull;
    uint64_t lo = (w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull;
    uint64_t del = ((w ^ 0x7f7f7f7f7f7f7f7full) - 0x0101010101010101ull) &
                   ~(w ^ 0x7f7f7f7f7f7f7f7full) & 0x8080808080808080ull;
    if (hi | del)
      return false;
    if (lo) /* a control byte: only newlines may be */
      for (int j = 0; j < 8; j++)
        bad |= u[i + j] < 0x20 && u[i + j] != '\n';
    if (bad)
      return false;
  }
  for (; i < len; i++)
    if ((u[i] < 0x20 && u[i] != '\n') || u[i] >= 0x7f)
      return false;
  return true;
}

int yfast_parse(struct ytree *t, const char *src, size_t len)
{
  if (!plain_ascii(src, len))
    return 0;
  struct ytree out = {.root = NULL};
  struct fp f = {.t = &out, .s = src, .len = len, .line = 1};
  /* the first content line: as after a line of nothing */
  int c;
  skip_spaces(&f);
  int ch = at(&f, f.p);
  if (ch == '\n' || ch == '#' || ch == -1)
    c = next_content(&f);
  else if (ch == '%' || ((ch == '-' || ch == '.') && at(&f, 1) == ch && at(&f, 2) == ch))
    c = -2;
  else
    c = colof(&f);
  struct ynode *root = NULL;
  if (c >= 0) {
    root = block_node(&f, c, 1, 1, NULL);
    if (root && f.ncol != -1)
      f.rc = DECLINE; /* something after the root, less indented */
  }
  free(f.stk);
  if (!root || f.rc) {
    yarena_free(out.arena);
    return f.rc == WEFT_ENOMEM ? WEFT_ENOMEM : 0;
  }
  t->root = root;
  t->arena = out.arena;
  t->no_aliases = true; /* the subset has no anchors or aliases */
  t->rel_block = NULL;
  return 1;
}

/* ---- for the tests: are two trees the same? ------------------------------- */

bool ynode_same(const struct ynode *a, const struct ynode *b)
{
  if (!a || !b)
    return a == b;
  if (a->t != b->t || a->quoted != b->quoted || a->multiline != b->multiline ||
      a->line != b->line || a->col != b->col || a->src_start != b->src_start ||
      a->src_end != b->src_end || a->len != b->len || memcmp(a->s, b->s, a->len) != 0 ||
      a->n != b->n || a->depth != b->depth || a->size != b->size)
    return false;
  if ((a->t == Y_INT && a->i != b->i) || (a->t == Y_BOOL && a->b != b->b) ||
      (a->t == Y_FLOAT && memcmp(&a->f, &b->f, sizeof a->f) != 0))
    return false;
  uint32_t n = a->t == Y_MAP ? 2 * a->n : a->t == Y_SEQ ? a->n : 0;
  for (uint32_t i = 0; i < n; i++)
    if (!ynode_same(a->kids[i], b->kids[i]))
      return false;
  return true;
}
