/* ytree.c — libfyaml parser events -> ynode tree, with alias and depth budgets.
 *
 * The tree is built straight from libfyaml's event stream (fy_parser_parse):
 * libfyaml's own document tree cost ~100 bytes of memory per byte of YAML and
 * more time than everything else in `weft validate` (a 10,000-step file:
 * 38 MB, 55 ms to build and 8 ms to free, against 2 MB and 21 ms for the
 * events). Aliases are not resolved by libfyaml. Events come in source order:
 * anchors are recorded as they are met, an alias becomes a pointer to the
 * anchored ynode, and every node's expanded size and depth are computed
 * bottom-up, so the budget check is O(file) no matter how much the aliases
 * would expand. Kids of the collections being built wait on one shared stack
 * and are copied into the arena when their collection ends. libfyaml's own
 * messages are collected through a private fy_diag and rewritten as
 * file:line:col; when there are any, they are the only ones reported (what
 * the conversion said about the part before the syntax error is dropped). */
#include "spec/ytree.h"
#include "spec/ytree_int.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "spec/model.h"
#include "spec/strmap.h"
#include "util/err.h"


/* ---- arena ---------------------------------------------------------------- */

struct ablock {
  struct ablock *next;  /* older */
  struct ablock *newer; /* NULL for the newest (the arena's head) */
  size_t used, cap;
  bool mapped;          /* mmap'd (unmapped when freed), or malloc'd */
  max_align_t data[];
};

/* The first block comes from malloc (most trees are small); the next ones
 * are mapped, 1 MiB or more, so that the blocks ytree_release frees go back
 * to the system at once (freed to malloc, they stayed resident: the model
 * built meanwhile reuses only part of them) */
#define FIRST_BLOCK 65536
#define MAPPED_BLOCK (1u << 20)

static void block_free(struct ablock *b)
{
  if (b->mapped)
    munmap(b, sizeof *b + b->cap);
  else
    free(b);
}

/* 8-byte granules: what is allocated here (ynodes, kid arrays, text) needs
 * no more alignment than a pointer, and a 56-byte ynode rounded to 16 would
 * take 64 (a 1,000,000-step file has ~12 million of them) */
_Static_assert(_Alignof(struct ynode) <= 8, "arena granules are 8 bytes");

void *yarena_alloc(void **arena, size_t n)
{
  struct ablock *b = *arena;
  n = (n + 7) & ~(size_t)7;
  if (!b || b->cap - b->used < n) {
    struct ablock *nb;
    size_t cap;
    if (!b) {
      cap = n > FIRST_BLOCK ? n : FIRST_BLOCK;
      if (!(nb = malloc(sizeof *nb + cap)))
        return NULL;
      nb->mapped = false;
    } else {
      size_t page = 4096, want = sizeof *nb + (n > MAPPED_BLOCK ? n : MAPPED_BLOCK);
      want = (want + page - 1) & ~(page - 1);
      void *m = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED)
        return NULL;
      nb = m;
      cap = want - sizeof *nb;
      nb->mapped = true;
    }
    nb->next = b;
    nb->newer = NULL;
    if (b)
      b->newer = nb;
    nb->used = 0;
    nb->cap = cap;
    *arena = nb;
    b = nb;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  return p;
}

size_t yarena_used(const void *arena)
{
  size_t n = 0;
  for (const struct ablock *b = arena; b; b = b->next)
    n += b->used;
  return n;
}

static bool in_block(const struct ablock *b, const void *p)
{
  const char *d = (const char *)b->data;
  return (const char *)p >= d && (const char *)p < d + b->used;
}

void ytree_release(struct ytree *t, const struct ynode *first, const struct ynode *upto)
{
  /* the block of `first`: found from the newest, once a tree (it is kept) */
  struct ablock *head = t->arena, *ob = head;
  if (!t->no_aliases || !first || !upto)
    return;
  if (t->rel_block && in_block(t->rel_block, first))
    ob = t->rel_block;
  else
    while (ob && !in_block(ob, first))
      ob = ob->next;
  if (!ob)
    return;
  t->rel_block = ob;
  /* the blocks after it, up to the one holding `upto` (never the head) */
  for (struct ablock *b = ob->newer; b && b != head && !in_block(b, upto);) {
    struct ablock *nw = b->newer;
    ob->newer = nw;
    nw->next = ob;
    block_free(b);
    b = nw;
  }
}

void yarena_free(void *arena)
{
  struct ablock *b = arena;
  while (b) {
    struct ablock *n = b->next;
    block_free(b);
    b = n;
  }
}

/* ---- conversion ----------------------------------------------------------- */

struct conv {
  struct ytree *t;
  const char *file;
  const char *src;
  size_t len;
  struct diag_list *d;
  struct strmap anchors;   /* name -> index in anc */
  struct ynode **anc;      /* NULL while the anchored node is being built */
  size_t n_anc, cap_anc;
  uint64_t budget;         /* max expanded size */
  int rc;
  struct fy_parser *fyp;
  struct ynode **stk;      /* kids of the collections being built */
  size_t n_stk, cap_stk;
  int level;               /* collections open around the event being read */
  bool too_deep;           /* the parse stops there, as libfyaml's builder did */
};

static struct ynode null_node_proto;

/* Position of a scalar or alias token (none: an empty value, 0:0). */
static void pos_of(struct fy_token *tok, int *line, int *col, size_t *start, size_t *end)
{
  const struct fy_mark *m = tok ? fy_token_start_mark(tok) : NULL;
  const struct fy_mark *e = tok ? fy_token_end_mark(tok) : NULL;
  *line = m ? m->line + 1 : 0;
  *col = m ? m->column + 1 : 0;
  *start = m ? m->input_pos : 0;
  *end = e ? e->input_pos : *start;
}

static bool all_in(const char *s, size_t n, const char *set)
{
  for (size_t i = 0; i < n; i++)
    if (!strchr(set, s[i]))
      return false;
  return n > 0;
}

static bool is_one_of(const char *s, size_t n, const char *const *words)
{
  for (; *words; words++)
    if (strlen(*words) == n && memcmp(*words, s, n) == 0)
      return true;
  return false;
}

/* YAML 1.2 core schema for a plain scalar. */
void ytype_plain(struct ynode *y)
{
  static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
  static const char *const trues[] = {"true", "True", "TRUE", NULL};
  static const char *const falses[] = {"false", "False", "FALSE", NULL};
  static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
  static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
  const char *s = y->s;
  size_t n = y->len;
  y->t = Y_STR;
  /* most plain scalars are words: only these can start anything else */
  if (n && !memchr("~nNtTfF+-.0123456789", s[0], 21))
    return;
  if (n == 0 || is_one_of(s, n, nulls)) {
    y->t = Y_NULL;
    return;
  }
  if (n <= 20 && s[0] >= '0' && s[0] <= '9') {
    /* a plain decimal integer (most numbers): no word can match */
    int64_t v = 0;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      v = v * 10 + (s[i++] - '0');
    if (i == n && n <= 18) {
      y->t = Y_INT;
      y->i = v;
      return;
    }
  }
  if (is_one_of(s, n, trues) || is_one_of(s, n, falses)) {
    y->t = Y_BOOL;
    y->b = s[0] == 't' || s[0] == 'T';
    return;
  }
  const char *p = s;
  size_t m = n;
  if (*p == '-' || *p == '+')
    p++, m--;
  if (is_one_of(p, m, infs)) {
    y->t = Y_FLOAT;
    y->f = s[0] == '-' ? -INFINITY : INFINITY;
    return;
  }
  if (is_one_of(s, n, nans)) {
    y->t = Y_FLOAT;
    y->f = NAN;
    return;
  }
  int base = 0;
  if (all_in(p, m, "0123456789"))
    base = 10;
  else if (p == s && n > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, n - 2, "01234567"))
    base = 8;
  else if (p == s && n > 2 && s[0] == '0' && s[1] == 'x' &&
           all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
    base = 16;
  if (base) {
    errno = 0;
    const char *digits = base == 10 ? s : s + 2;
    long long v = strtoll(digits, NULL, base);
    if (errno == 0) {
      y->t = Y_INT;
      y->i = v;
      return;
    }
    /* too big for int64: a float, as JSON would read it */
  }
  /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
  size_t i = 0, intd = 0, fracd = 0;
  while (i < m && p[i] >= '0' && p[i] <= '9')
    i++, intd++;
  if (i < m && p[i] == '.') {
    i++;
    while (i < m && p[i] >= '0' && p[i] <= '9')
      i++, fracd++;
  }
  if (intd + fracd == 0 || (intd == 0 && fracd == 0))
    return;
  if (i < m && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < m && (p[i] == '-' || p[i] == '+'))
      i++;
    size_t ed = 0;
    while (i < m && p[i] >= '0' && p[i] <= '9')
      i++, ed++;
    if (!ed)
      return;
  }
  if (i != m)
    return;
  y->t = Y_FLOAT;
  y->f = strtod(s, NULL);
}

static bool tag_is_str(struct fy_token *tag_tok)
{
  size_t tl = 0;
  const char *tag = tag_tok ? fy_token_get_text(tag_tok, &tl) : NULL;
  if (!tag)
    return false;
  return (tl == 5 && memcmp(tag, "!!str", 5) == 0) ||
         (tl == 21 && memcmp(tag, "tag:yaml.org,2002:str", 21) == 0);
}

static struct ynode *conv_ev(struct conv *c, struct fy_event *e, int kline, int kcol,
                             const struct ynode *key);

/* YAML merge keys: `<<: *a` or `<<: [*a, *b]` copy the pairs of those
 * mappings that the mapping does not set itself (earlier sources win). */
#define MAX_MERGES 32

struct merges {
  const struct ynode *src[MAX_MERGES];
  size_t n;
};

static int add_merge(struct conv *c, struct merges *m, const struct ynode *v,
                     const struct ynode *key)
{
  size_t n = v->t == Y_SEQ ? v->n : 1;
  for (size_t i = 0; i < n; i++) {
    const struct ynode *x = v->t == Y_SEQ ? v->kids[i] : v;
    if (x->t != Y_MAP) {
      diag_add(c->d, c->file, key->line, key->col,
               "\"<<\" merges mappings (e.g. <<: *defaults), not %s", ytype_name(x));
      return c->rc = WEFT_EPARSE;
    }
    if (m->n == MAX_MERGES) {
      diag_add(c->d, c->file, key->line, key->col, "more than %d merges into one mapping",
               MAX_MERGES);
      return c->rc = WEFT_ELIMIT;
    }
    m->src[m->n++] = x;
  }
  return 0;
}

static int apply_merges(struct conv *c, struct ynode *y, const struct merges *m)
{
  size_t total = y->n;
  for (size_t i = 0; i < m->n; i++)
    total += m->src[i]->n;
  struct ynode **kids = yarena_alloc(&c->t->arena, (total ? total : 1) * 2 * sizeof *kids);
  struct strmap seen = {0};
  int rc = kids ? 0 : WEFT_ENOMEM;
  uint32_t k = 0;
  for (uint32_t i = 0; !rc && i < y->n; i++) {
    kids[2 * k] = y->kids[2 * i];
    kids[2 * k + 1] = y->kids[2 * i + 1];
    rc = strmap_put(&seen, kids[2 * k]->s, kids[2 * k]->len, k);
    k++;
  }
  for (size_t j = 0; !rc && j < m->n; j++) {
    const struct ynode *src = m->src[j];
    for (uint32_t i = 0; !rc && i < src->n; i++) {
      struct ynode *key = src->kids[2 * i], *val = src->kids[2 * i + 1];
      if (strmap_get(&seen, key->s, key->len) != UINT32_MAX)
        continue;
      kids[2 * k] = key;
      kids[2 * k + 1] = val;
      rc = strmap_put(&seen, key->s, key->len, k);
      k++;
      y->size += key->size + val->size;
      if (val->depth > y->depth)
        y->depth = val->depth;
    }
  }
  strmap_free(&seen);
  if (rc)
    return c->rc = rc;
  y->kids = kids;
  y->n = k;
  return 0;
}

/* Duplicate keys: pairwise for small mappings, hashed for big ones. */
static int check_dups(struct conv *c, const struct ynode *m)
{
  int rc = 0;
  if (m->n <= 16) {
    for (uint32_t i = 1; i < m->n; i++)
      for (uint32_t j = 0; j < i; j++) {
        const struct ynode *a = m->kids[2 * j], *b = m->kids[2 * i];
        if (a->len == b->len && memcmp(a->s, b->s, a->len) == 0) {
          diag_add(c->d, c->file, b->line, b->col, "duplicate key \"%s\"", b->s);
          rc = c->rc = WEFT_EPARSE;
          break;
        }
      }
    return rc;
  }
  struct strmap seen = {0};
  for (uint32_t i = 0; i < m->n && !rc; i++) {
    const struct ynode *b = m->kids[2 * i];
    if (strmap_get(&seen, b->s, b->len) != UINT32_MAX) {
      diag_add(c->d, c->file, b->line, b->col, "duplicate key \"%s\"", b->s);
      c->rc = WEFT_EPARSE;
      continue;
    }
    if (strmap_put(&seen, b->s, b->len, i))
      rc = c->rc = WEFT_ENOMEM;
  }
  strmap_free(&seen);
  return c->rc;
}

/* A collection starts where its `{`, `[` or first `- ` is: found by looking
 * back from its first child over blanks. A block mapping starts at its first
 * key; an empty collection is placed at its key (kline:kcol). */
void ycoll_pos(const char *src, size_t len, struct ynode *y, const struct fpos *first, bool map,
               int kline, int kcol, const struct ynode *key)
{
  y->line = kline;
  y->col = kcol;
  if (!first && key && key->src_end <= len && key->src_end > key->src_start &&
      !key->multiline) {
    /* `key: {}` on one line: the bracket after the colon */
    size_t i = key->src_end;
    while (i < len && (src[i] == ' ' || src[i] == '\t' || src[i] == ':' ||
                          src[i] == '"' || src[i] == '\''))
      i++;
    if (i < len && src[i] == (map ? '{' : '[')) {
      int chars = 0;
      for (size_t j = key->src_start; j < i; j++)
        chars += ((unsigned char)src[j] & 0xC0) != 0x80;
      y->col = key->col + chars;
      y->src_start = y->src_end = i;
    }
    return;
  }
  if (!first)
    return;
  y->line = first->line;
  y->col = first->col;
  y->src_start = y->src_end = first->start;
  size_t i = first->start;
  if (i > len || first->line <= 0)
    return;
  int nl = 0;
  while (i > 0 && (src[i - 1] == ' ' || src[i - 1] == '\t' || src[i - 1] == '\n' ||
                   src[i - 1] == '\r'))
    nl += src[--i] == '\n';
  if (i == 0)
    return;
  char ch = src[i - 1];
  if (!((map && ch == '{') || (!map && (ch == '[' || ch == '-'))))
    return;
  i--;
  y->src_start = y->src_end = i;
  if (!nl) {
    /* same line: columns count characters, the blanks between are ASCII */
    y->col = first->col - (int)(first->start - i);
    return;
  }
  size_t ls = i;
  while (ls > 0 && src[ls - 1] != '\n')
    ls--;
  int col = 1;
  for (size_t j = ls; j < i; j++)
    col += ((unsigned char)src[j] & 0xC0) != 0x80;
  y->line = first->line - nl;
  y->col = col;
}

/* Records the anchor of the node being built (its ynode is set at the end:
 * an alias inside it to it is an error). The name is copied into the arena:
 * the token dies with its event. */
static int anchor_begin(struct conv *c, struct fy_token *anchor, size_t *slot)
{
  *slot = SIZE_MAX;
  size_t al = 0;
  const char *at = anchor ? fy_token_get_text(anchor, &al) : NULL;
  if (!at)
    return 0;
  char *name = yarena_alloc(&c->t->arena, al + 1);
  if (!name)
    return WEFT_ENOMEM;
  memcpy(name, at, al);
  name[al] = 0;
  if (c->n_anc == c->cap_anc) {
    size_t ncap = c->cap_anc ? c->cap_anc * 2 : 16;
    struct ynode **nv = realloc(c->anc, ncap * sizeof *nv);
    if (!nv)
      return WEFT_ENOMEM;
    c->anc = nv;
    c->cap_anc = ncap;
  }
  *slot = c->n_anc;
  c->anc[c->n_anc++] = NULL;
  return strmap_put(&c->anchors, name, al, (uint32_t)*slot);
}

static struct ynode *conv_alias(struct conv *c, struct fy_token *anchor, int line, int col)
{
  size_t al = 0;
  const char *at = anchor ? fy_token_get_text(anchor, &al) : NULL;
  uint32_t k = at ? strmap_get(&c->anchors, at, al) : UINT32_MAX;
  if (k == UINT32_MAX) {
    diag_add(c->d, c->file, line, col, "unknown alias \"*%.*s\" (no anchor \"&%.*s\" before it)",
             (int)al, at ? at : "", (int)al, at ? at : "");
    c->rc = WEFT_EPARSE;
    return NULL;
  }
  if (!c->anc[k]) {
    diag_add(c->d, c->file, line, col, "alias \"*%.*s\" refers to the node that contains it",
             (int)al, at);
    c->rc = WEFT_EPARSE;
    return NULL;
  }
  return c->anc[k];
}

static int stk_push(struct conv *c, struct ynode *y)
{
  if (c->n_stk == c->cap_stk) {
    size_t ncap = c->cap_stk ? c->cap_stk * 2 : 256;
    struct ynode **nv = realloc(c->stk, ncap * sizeof *nv);
    if (!nv)
      return c->rc = WEFT_ENOMEM;
    c->stk = nv;
    c->cap_stk = ncap;
  }
  c->stk[c->n_stk++] = y;
  return 0;
}

/* The next event; NULL at a syntax error (collected in the fy_diag) or the
 * end of the stream. */
static struct fy_event *next_ev(struct conv *c)
{
  struct fy_event *e = fy_parser_parse(c->fyp);
  if (!e && !c->rc)
    c->rc = WEFT_EPARSE;
  return e;
}

static int check_budget(struct conv *c, struct ynode *y)
{
  if (y->depth > WF_MAX_DEPTH) {
    diag_add(c->d, c->file, y->line, y->col, "nesting depth exceeds the limit of %d",
             WF_MAX_DEPTH);
    return c->rc = WEFT_ELIMIT;
  }
  if (y->size > c->budget) {
    diag_add(c->d, c->file, y->line, y->col,
             "YAML aliases expand past the limit of %dx the file size",
             WF_MAX_ALIAS_FACTOR);
    return c->rc = WEFT_ELIMIT;
  }
  return 0;
}

/* Converts the node whose first event is e (consumed, with every event of
 * the node). kline:kcol place a node that has no position of its own (an
 * empty value); `pkey`, when the node is a mapping value, lets an empty
 * `{}`/`[]` be found right after it. NULL: c->rc says why. */
static struct ynode *conv_ev(struct conv *c, struct fy_event *e, int kline, int kcol,
                             const struct ynode *pkey)
{
  struct ynode *y = yarena_alloc(&c->t->arena, sizeof *y);
  if (!y) {
    fy_parser_event_free(c->fyp, e);
    c->rc = WEFT_ENOMEM;
    return NULL;
  }
  *y = null_node_proto;
  size_t slot = SIZE_MAX;
  if (e->type == FYET_ALIAS) {
    size_t a0, b0;
    pos_of(e->alias.anchor, &y->line, &y->col, &a0, &b0);
    struct ynode *r = conv_alias(c, e->alias.anchor, y->line, y->col);
    fy_parser_event_free(c->fyp, e);
    return r;
  }
  if (e->type == FYET_SCALAR) {
    struct fy_token *tok = e->scalar.value; /* NULL: an empty value (`key:`) */
    size_t a0, b0;
    pos_of(tok, &y->line, &y->col, &a0, &b0);
    y->src_start = (uint32_t)a0;
    y->src_end = (uint32_t)b0;
    if ((c->rc = anchor_begin(c, e->scalar.anchor, &slot))) {
      fy_parser_event_free(c->fyp, e);
      return NULL;
    }
    size_t n = 0;
    const char *s = tok ? fy_token_get_text(tok, &n) : NULL;
    if (!s)
      n = 0;
    char *cp = yarena_alloc(&c->t->arena, n + 1);
    if (!cp) {
      fy_parser_event_free(c->fyp, e);
      c->rc = WEFT_ENOMEM;
      return NULL;
    }
    if (n)
      memcpy(cp, s, n);
    cp[n] = 0;
    y->s = cp;
    y->len = n;
    y->size = n + 1;
    if (n && memchr(cp, 0, n) && !c->rc) {
      /* a "\0" escape: every later use reads the text as a C string */
      diag_add(c->d, c->file, y->line, y->col,
               "this string holds a NUL byte (\\0): it would be cut short there; remove it "
               "(weft strings are text)");
      c->rc = WEFT_EPARSE;
    }
    y->quoted = tok && fy_event_get_node_style(e) != FYNS_PLAIN;
    if (y->quoted || tag_is_str(e->scalar.tag))
      y->t = Y_STR;
    else
      ytype_plain(y);
    fy_parser_event_free(c->fyp, e);
    /* the span of a block scalar ends on a later line than it starts */
    for (size_t i = y->src_start; i < y->src_end && i < c->len; i++)
      if (c->src[i] == '\n') {
        y->multiline = true;
        break;
      }
  } else if (e->type == FYET_MAPPING_START || e->type == FYET_SEQUENCE_START) {
    bool map = e->type == FYET_MAPPING_START;
    if (c->level + 1 >= WF_MAX_DEPTH) {
      /* as libfyaml's document builder did: at the bracket that opens the
       * 64th level (the root is the first); this also bounds our recursion */
      struct fy_token *st = map ? e->mapping_start.mapping_start : e->sequence_start.sequence_start;
      int line = kline, col = kcol;
      size_t a, b;
      if (st)
        pos_of(st, &line, &col, &a, &b);
      diag_add(c->d, c->file, line, col, "nesting depth exceeds the limit of %d", WF_MAX_DEPTH);
      fy_parser_event_free(c->fyp, e);
      c->rc = WEFT_ELIMIT;
      c->too_deep = true;
      return NULL;
    }
    c->rc = anchor_begin(c, map ? e->mapping_start.anchor : e->sequence_start.anchor, &slot);
    fy_parser_event_free(c->fyp, e);
    if (c->rc)
      return NULL;
    c->level++;
    y->t = map ? Y_MAP : Y_SEQ;
    y->s = "";
    y->size = 1;
    size_t base = c->n_stk;
    uint32_t k = 0;
    struct fpos first = {0, 0, 0};
    struct merges merges = {.n = 0};
    enum fy_event_type end = map ? FYET_MAPPING_END : FYET_SEQUENCE_END;
    for (;;) {
      struct fy_event *ev = next_ev(c);
      if (!ev)
        return NULL;
      if (ev->type == end) {
        fy_parser_event_free(c->fyp, ev);
        break;
      }
      if (map) {
        struct ynode *key = conv_ev(c, ev, kline, kcol, NULL);
        if (!key)
          return NULL;
        if (k == 0)
          first = (struct fpos){key->line, key->col, key->src_start};
        if (key->t == Y_MAP || key->t == Y_SEQ) {
          diag_add(c->d, c->file, key->line, key->col, "mapping keys must be scalars");
          c->rc = WEFT_EPARSE;
          return NULL;
        }
        struct fy_event *vev = next_ev(c);
        if (!vev)
          return NULL;
        struct ynode *val = conv_ev(c, vev, key->line, key->col, key);
        if (!val)
          return NULL;
        if (key->t == Y_STR && !key->quoted && key->len == 2 && memcmp(key->s, "<<", 2) == 0) {
          if (add_merge(c, &merges, val, key))
            return NULL;
          continue;
        }
        if (stk_push(c, key) || stk_push(c, val))
          return NULL;
        y->size += key->size + val->size;
        if (val->depth > y->depth)
          y->depth = val->depth;
      } else {
        struct fpos apos = {0, 0, 0};
        bool alias = ev->type == FYET_ALIAS;
        if (alias && k == 0) { /* v is the anchored node, elsewhere: place by the alias */
          size_t e2;
          pos_of(ev->alias.anchor, &apos.line, &apos.col, &apos.start, &e2);
        }
        struct ynode *v = conv_ev(c, ev, kline, kcol, NULL);
        if (!v)
          return NULL;
        if (k == 0)
          first = alias ? apos : (struct fpos){v->line, v->col, v->src_start};
        if (stk_push(c, v))
          return NULL;
        y->size += v->size;
        if (v->depth > y->depth)
          y->depth = v->depth;
      }
      k++;
      if (y->size > c->budget)
        break; /* check_budget below says so; the rest is not read */
    }
    size_t per = map ? 2 : 1;
    y->kids = yarena_alloc(&c->t->arena, (k ? k : 1) * per * sizeof *y->kids);
    if (!y->kids) {
      c->rc = WEFT_ENOMEM;
      return NULL;
    }
    if (k)
      memcpy(y->kids, c->stk + base, (size_t)k * per * sizeof *y->kids);
    c->n_stk = base;
    c->level--;
    y->n = k;
    if (map && check_dups(c, y))
      return NULL;
    if (merges.n && apply_merges(c, y, &merges))
      return NULL;
    y->depth++;
    ycoll_pos(c->src, c->len, y, k ? &first : NULL, map, kline, kcol, pkey);
  } else {
    diag_add(c->d, c->file, kline, kcol, "YAML syntax error: unexpected event");
    fy_parser_event_free(c->fyp, e);
    c->rc = WEFT_EPARSE;
    return NULL;
  }
  if (check_budget(c, y))
    return NULL;
  if (slot != SIZE_MAX)
    c->anc[slot] = y;
  return y;
}

/* ---- libfyaml diagnostics ------------------------------------------------- */

static void quiet_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
  (void)diag, (void)user, (void)buf, (void)len;
}

/* The key text at line:col, for "duplicate key" (libfyaml does not say which). */
static void key_at(const char *src, size_t len, int line, int col, char *out, size_t outsz)
{
  size_t i = 0;
  int l = 1;
  while (i < len && l < line)
    if (src[i++] == '\n')
      l++;
  i += col > 0 ? (size_t)col - 1 : 0;
  size_t o = 0;
  char q = 0;
  if (i < len && (src[i] == '"' || src[i] == '\''))
    q = src[i++];
  while (i < len && o + 1 < outsz && src[i] != '\n' &&
         (q ? src[i] != q : (src[i] != ':' && src[i] != ',' && src[i] != '}')))
    out[o++] = src[i++];
  while (!q && o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
    o--;
  out[o] = 0;
}

static int collect_fy_errors(struct conv *c, struct fy_diag *diag)
{
  int rc = 0;
  void *it = NULL;
  struct fy_diag_error *e;
  while ((e = fy_diag_errors_iterate(diag, &it))) {
    if (e->type < FYET_ERROR)
      continue;
    const char *msg = e->msg ? e->msg : "error";
    if (strstr(msg, "Max depth")) {
      diag_add(c->d, c->file, e->line, e->column, "nesting depth exceeds the limit of %d",
               WF_MAX_DEPTH);
      rc = WEFT_ELIMIT;
      continue;
    }
    if (strcmp(msg, "duplicate key") == 0) {
      char key[128];
      key_at(c->src, c->len, e->line, e->column, key, sizeof key);
      diag_add(c->d, c->file, e->line, e->column, "duplicate key \"%s\"", key);
    } else {
      diag_add(c->d, c->file, e->line, e->column, "YAML syntax error: %s", msg);
    }
    if (!rc)
      rc = WEFT_EPARSE;
  }
  return rc;
}

static bool has_fy_errors(struct fy_diag *diag)
{
  void *it = NULL;
  struct fy_diag_error *e;
  while ((e = fy_diag_errors_iterate(diag, &it)))
    if (e->type >= FYET_ERROR)
      return true;
  return false;
}

/* Drops the messages added since n0 (a syntax error or a second document
 * is what to report; what the conversion found before it is noise). */
static void diag_drop_from(struct diag_list *d, size_t n0)
{
  for (size_t i = n0; i < d->n; i++) {
    free(d->v[i].file);
    free(d->v[i].msg);
  }
  if (d->n > n0)
    d->n = n0;
}

int ytree_parse(struct ytree *t, const char *file, const char *src, size_t len,
                struct diag_list *d)
{
  int frc = yfast_parse(t, src, len);
  if (frc == 1)
    return 0;
  if (frc < 0)
    return frc;
  return ytree_parse_fy(t, file, src, len, d);
}

int ytree_parse_fy(struct ytree *t, const char *file, const char *src, size_t len,
                   struct diag_list *d)
{
  int rc = 0;
  struct fy_parser *fyp = NULL;
  struct conv c = {.t = t, .file = file, .src = src, .len = len, .d = d};
  size_t n0 = d->n;
  t->root = NULL;
  t->arena = NULL;
  c.budget = (uint64_t)len * WF_MAX_ALIAS_FACTOR;

  struct fy_diag_cfg dc;
  fy_diag_cfg_default(&dc);
  dc.fp = NULL;
  dc.output_fn = quiet_output;
  dc.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dc);
  if (!diag)
    return WEFT_ENOMEM;
  fy_diag_set_collect_errors(diag, true);

  struct fy_parse_cfg cfg = {0};
  /* libfyaml's own duplicate-key check is a linear scan per key (O(n^2) on
   * a mapping of 100,000 steps); we allow them there and check with a hash. */
  cfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_ALLOW_DUPLICATE_KEYS;
  cfg.diag = diag;
  fyp = fy_parser_create(&cfg);
  if (!fyp || fy_parser_set_string(fyp, src, len) != 0) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  c.fyp = fyp;
  /* The first document becomes the tree; the events after it are read to
   * the end all the same, for syntax errors and a second document (one
   * document per file: a second one is a mistake, not ignored), also after
   * the conversion gave up. */
  int docs = 0, line2 = 0, col2 = 0;
  bool want_pos = false, converted = false;
  struct fy_event *e;
  while ((e = fy_parser_parse(fyp))) {
    if (e->type == FYET_DOCUMENT_START && ++docs == 1) {
      fy_parser_event_free(fyp, e);
      struct fy_event *r = fy_parser_parse(fyp);
      if (!r)
        break;
      if (r->type == FYET_DOCUMENT_END) {
        fy_parser_event_free(fyp, r);
        continue;
      }
      t->root = conv_ev(&c, r, 1, 1, NULL);
      converted = true;
      if (c.too_deep)
        break;
      continue;
    }
    if (e->type == FYET_DOCUMENT_START && docs == 2)
      want_pos = true; /* placed at its first scalar */
    if (want_pos && (e->type == FYET_SCALAR || e->type == FYET_ALIAS)) {
      size_t a, b;
      pos_of(e->type == FYET_SCALAR ? e->scalar.value : e->alias.anchor, &line2, &col2, &a, &b);
      want_pos = false;
    }
    bool second_done = e->type == FYET_DOCUMENT_END && docs == 2;
    fy_parser_event_free(fyp, e);
    if (second_done)
      break; /* what follows a second document is not looked at */
  }
  if (has_fy_errors(diag)) {
    diag_drop_from(d, n0);
    rc = collect_fy_errors(&c, diag);
  } else if (docs >= 2) {
    diag_drop_from(d, n0);
    diag_add(d, file, line2, col2, "a workflow file holds one YAML document; this is a second one");
    rc = WEFT_EPARSE;
  } else {
    rc = c.rc;
    if (rc && d->n == n0)
      diag_add(d, file, 0, 0, "YAML syntax error: the document ends early");
    if (!rc && converted && !t->root)
      rc = WEFT_ENOMEM;
  }
out:
  if (fyp)
    fy_parser_destroy(fyp);
  fy_diag_destroy(diag);
  strmap_free(&c.anchors);
  free(c.anc);
  free(c.stk);
  if (rc) {
    ytree_free(t);
  }
  return rc;
}

void ytree_free(struct ytree *t)
{
  yarena_free(t->arena);
  t->arena = NULL;
  t->root = NULL;
  t->no_aliases = false;
  t->rel_block = NULL;
}

struct ynode *ymap_get(const struct ynode *m, const char *key)
{
  if (!m || m->t != Y_MAP)
    return NULL;
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < m->n; i++) {
    const struct ynode *k = m->kids[2 * i];
    if (k->len == kl && memcmp(k->s, key, kl) == 0)
      return m->kids[2 * i + 1];
  }
  return NULL;
}

const char *ytype_name(const struct ynode *n)
{
  switch (n->t) {
  case Y_NULL: return "null";
  case Y_BOOL: return "a boolean";
  case Y_INT: return "an integer";
  case Y_FLOAT: return "a number";
  case Y_STR: return "a string";
  case Y_MAP: return "a mapping";
  case Y_SEQ: return "a list";
  }
  return "?";
}

json_t *ynode_to_json(const struct ynode *n)
{
  switch (n->t) {
  case Y_NULL: return json_null();
  case Y_BOOL: return json_boolean(n->b);
  case Y_INT: return json_integer(n->i);
  case Y_FLOAT: return isfinite(n->f) ? json_real(n->f) : json_null();
  case Y_STR: return json_stringn(n->s, n->len);
  case Y_MAP: {
    json_t *o = json_object();
    for (uint32_t i = 0; o && i < n->n; i++) {
      json_t *v = ynode_to_json(n->kids[2 * i + 1]);
      if (!v || json_object_setn_new(o, n->kids[2 * i]->s, n->kids[2 * i]->len, v)) {
        json_decref(o);
        return NULL;
      }
    }
    return o;
  }
  case Y_SEQ: {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n->n; i++) {
      if (json_array_append_new(a, ynode_to_json(n->kids[i]))) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  }
  return NULL;
}
