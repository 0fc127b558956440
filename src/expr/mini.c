/* mini.c — parsing and evaluating the jq subset of mini.h without jq_compile.
 *
 * A recursive-descent parser with jq 1.6's grammar for the subset:
 *
 *   pipe := alt ('|' pipe)?                    right associative, lowest
 *   alt  := or ('//' alt)?                     right associative
 *   or   := and ('or' and)*
 *   and  := cmp ('and' cmp)*
 *   cmp  := add (CMP add)?                     non-associative
 *   add  := mul (('+'|'-') mul)*
 *   mul  := neg (('*'|'/') neg)*
 *   neg  := '-' mul | prim                     jq's `'-' Exp` has the
 *                                              precedence of binary '-'
 *   prim := PATH | NUMBER | STRING | WORD | '(' pipe ')'
 *
 * Anything the scanner or parser does not know makes the whole text "not
 * mini" (WEFT_EINVAL): jq then handles it, errors included. Nodes live in
 * one array; children are indices. Evaluation returns jv values built with
 * libjq's functions, so the values and messages are jq's own. */
#include "expr/mini.h"
#include "expr/internal.h"
#include "util/err.h"
#include "util/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mk {
  MK_LIT,   /* lit */
  MK_PATH,  /* seg[a .. a+b) */
  MK_PIPE,  /* a | b */
  MK_ALT,   /* a // b */
  MK_AND,
  MK_OR,
  MK_BIN,   /* a OP b, op = one of the T_ codes below */
  MK_NEG,   /* -a */
  MK_NOT,
  MK_LEN,
  MK_SUCCESS,
  MK_FAILURE,
  MK_ALWAYS,
  MK_CANCELLED,
  MK_NONE_FAILED,
};

struct mnode {
  enum mk kind;
  int op;
  int a, b;
  jv lit;
};

struct mini_expr {
  struct mnode *nodes;
  size_t n, cap;
  struct plain_seg *segs;
  size_t nsegs, segcap;
  int root;
};

/* ---- scanner -------------------------------------------------------- */

enum tok {
  T_EOF = 0,
  T_BAD,
  T_PATH,
  T_NUM,
  T_STR,
  T_WORD,
  T_LP,
  T_RP,
  T_PIPE,
  T_ALT,
  T_EQ,
  T_NE,
  T_LT,
  T_LE,
  T_GT,
  T_GE,
  T_PLUS,
  T_MINUS,
  T_MUL,
  T_DIV,
};

enum word { W_AND, W_OR, W_NOT, W_LENGTH, W_TRUE, W_FALSE, W_NULL, W_SUCCESS, W_FAILURE,
            W_ALWAYS, W_CANCELLED, W_NONE_FAILED };

static const char *const words[] = {"and",  "or",   "not",     "length",  "true",     "false",
                                    "null", "success", "failure", "always", "cancelled",
                                    "none_failed"};

struct parser {
  const char *s;
  size_t len, pos;
  enum tok t;
  size_t tb, tl;   /* token text */
  double num;      /* T_NUM */
  int word;        /* T_WORD */
  int depth;
  bool nomem;
  struct mini_expr *m;
};

static bool ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool ident_char(int c) { return ident_start(c) || (c >= '0' && c <= '9'); }
static bool digit(int c) { return c >= '0' && c <= '9'; }


/* The end of a string literal starting at s[i] == '"' that we accept (no
 * escapes, no control bytes), or 0. */
static size_t scan_string(const char *s, size_t len, size_t i)
{
  size_t j = i + 1;
  while (j < len && s[j] != '"') {
    unsigned char c = (unsigned char)s[j];
    if (c == '\\' || c < 0x20 || c == 0x7f)
      return 0;
    j++;
  }
  if (j >= len || !utf8_valid((const unsigned char *)s + i + 1, j - i - 1))
    return 0;
  return j + 1;
}

/* The extent of a path at s[i] == '.' in plain.c's syntax (plain_parse has
 * the last word); 0 when it cannot be one. */
static size_t scan_path(const char *s, size_t len, size_t i)
{
  size_t j = i;
  while (j < len) {
    if (s[j] == '.' && j + 1 < len && ident_start((unsigned char)s[j + 1])) {
      j += 2;
      while (j < len && ident_char((unsigned char)s[j]))
        j++;
    } else if (s[j] == '.' && j + 1 < len && s[j + 1] == '"') {
      size_t e = scan_string(s, len, j + 1);
      if (!e)
        return 0;
      j = e;
    } else if (s[j] == '[' || (s[j] == '.' && j == i && j + 1 < len && s[j + 1] == '[')) {
      size_t k = s[j] == '[' ? j + 1 : j + 2;
      if (k < len && s[k] == '"') {
        k = scan_string(s, len, k);
        if (!k)
          return 0;
      } else {
        if (k < len && s[k] == '-')
          k++;
        while (k < len && digit((unsigned char)s[k]))
          k++;
      }
      if (k >= len || s[k] != ']')
        return 0;
      j = k + 1;
    } else if (s[j] == '.' && j == i) {
      j++; /* the identity */
      break;
    } else {
      break;
    }
  }
  return j;
}

static void next(struct parser *p)
{
  const char *s = p->s;
  size_t len = p->len, i = p->pos;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'))
    i++;
  p->tb = i;
  p->tl = 0;
  if (i >= len) {
    p->t = T_EOF;
    p->pos = i;
    return;
  }
  unsigned char c = (unsigned char)s[i];
  char c1 = i + 1 < len ? s[i + 1] : '\0';
  char c2 = i + 2 < len ? s[i + 2] : '\0';
  size_t e = i + 1;
  p->t = T_BAD;
  if (c == '.') {
    if (digit((unsigned char)c1) || c1 == '.')
      goto out; /* `.5` and `..` are not ours */
    e = scan_path(s, len, i);
    if (e > i)
      p->t = T_PATH;
  } else if (digit(c)) {
    e = i;
    while (e < len && digit((unsigned char)s[e]))
      e++;
    if (e < len && s[e] == '.') {
      e++;
      while (e < len && digit((unsigned char)s[e]))
        e++;
    }
    if (e < len && (s[e] == 'e' || s[e] == 'E')) {
      size_t k = e + 1;
      if (k < len && (s[k] == '+' || s[k] == '-'))
        k++;
      if (k < len && digit((unsigned char)s[k])) {
        while (k < len && digit((unsigned char)s[k]))
          k++;
        e = k;
      }
    }
    if (e < len && (ident_char((unsigned char)s[e]) || s[e] == '.' || s[e] == '"'))
      goto out;
    char tmp[64];
    if (e - i >= sizeof tmp)
      goto out;
    memcpy(tmp, s + i, e - i);
    tmp[e - i] = '\0';
    p->num = strtod(tmp, NULL);
    p->t = T_NUM;
  } else if (c == '"') {
    e = scan_string(s, len, i);
    if (e)
      p->t = T_STR;
  } else if (ident_start(c)) {
    while (e < len && ident_char((unsigned char)s[e]))
      e++;
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
      if (strlen(words[w]) == e - i && memcmp(words[w], s + i, e - i) == 0) {
        p->t = T_WORD;
        p->word = (int)w;
      }
  } else if (c == '(') {
    p->t = T_LP;
  } else if (c == ')') {
    p->t = T_RP;
  } else if (c == '|') {
    if (c1 != '=')
      p->t = T_PIPE;
  } else if (c == '/' && c1 == '/') {
    e = i + 2;
    if (c2 != '=')
      p->t = T_ALT;
  } else if (c == '=' && c1 == '=') {
    e = i + 2, p->t = T_EQ;
  } else if (c == '!' && c1 == '=') {
    e = i + 2, p->t = T_NE;
  } else if (c == '<') {
    if (c1 == '=')
      e = i + 2, p->t = T_LE;
    else
      p->t = T_LT;
  } else if (c == '>') {
    if (c1 == '=')
      e = i + 2, p->t = T_GE;
    else
      p->t = T_GT;
  } else if (c1 != '=' && (c == '+' || c == '-' || c == '*' || c == '/')) {
    p->t = c == '+' ? T_PLUS : c == '-' ? T_MINUS : c == '*' ? T_MUL : T_DIV;
  }
out:
  if (p->t == T_BAD)
    e = len; /* stop here: the whole text is not ours */
  p->tl = e - i;
  p->pos = e;
}

/* ---- parser --------------------------------------------------------- */

static int node(struct parser *p, enum mk kind, int op, int a, int b, jv lit)
{
  struct mini_expr *m = p->m;
  if (m->n >= MINI_MAX_NODES) {
    jv_free(lit);
    return -1;
  }
  if (m->n == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 8;
    struct mnode *nn = realloc(m->nodes, nc * sizeof *nn);
    if (!nn) {
      p->nomem = true;
      jv_free(lit);
      return -1;
    }
    m->nodes = nn;
    m->cap = nc;
  }
  struct mnode *x = &m->nodes[m->n];
  x->kind = kind;
  x->op = op;
  x->a = a;
  x->b = b;
  x->lit = lit;
  return (int)m->n++;
}

static bool is_lit(const struct mini_expr *m, int i)
{
  const struct mnode *x = &m->nodes[i];
  return x->kind == MK_LIT || (x->kind == MK_NEG && m->nodes[x->a].kind == MK_LIT);
}

static int parse_pipe(struct parser *p);
static int parse_mul(struct parser *p);

static int parse_path(struct parser *p)
{
  struct mini_expr *m = p->m;
  size_t nseg = 0;
  if (plain_parse(p->s + p->tb, p->tl, NULL, 0, &nseg) != PLAIN_PATH)
    return -1;
  if (m->nsegs + nseg > m->segcap) {
    size_t nc = m->segcap ? m->segcap : 8;
    while (nc < m->nsegs + nseg)
      nc *= 2;
    struct plain_seg *ns = realloc(m->segs, nc * sizeof *ns);
    if (!ns) {
      p->nomem = true;
      return -1;
    }
    m->segs = ns;
    m->segcap = nc;
  }
  size_t again = 0;
  plain_parse(p->s + p->tb, p->tl, m->segs + m->nsegs, nseg, &again);
  int r = node(p, MK_PATH, 0, (int)m->nsegs, (int)nseg, jv_invalid());
  if (r >= 0)
    m->nsegs += nseg;
  next(p);
  return r;
}

static int parse_prim(struct parser *p)
{
  int r = -1;
  switch (p->t) {
  case T_PATH: return parse_path(p);
  case T_NUM: r = node(p, MK_LIT, 0, -1, -1, jv_number(p->num)); break;
  case T_STR: r = node(p, MK_LIT, 0, -1, -1, jv_string_sized(p->s + p->tb + 1, (int)p->tl - 2)); break;
  case T_WORD:
    switch ((enum word)p->word) {
    case W_NOT: r = node(p, MK_NOT, 0, -1, -1, jv_invalid()); break;
    case W_LENGTH: r = node(p, MK_LEN, 0, -1, -1, jv_invalid()); break;
    case W_TRUE: r = node(p, MK_LIT, 0, -1, -1, jv_true()); break;
    case W_FALSE: r = node(p, MK_LIT, 0, -1, -1, jv_false()); break;
    case W_NULL: r = node(p, MK_LIT, 0, -1, -1, jv_null()); break;
    case W_SUCCESS: r = node(p, MK_SUCCESS, 0, -1, -1, jv_invalid()); break;
    case W_FAILURE: r = node(p, MK_FAILURE, 0, -1, -1, jv_invalid()); break;
    case W_ALWAYS: r = node(p, MK_ALWAYS, 0, -1, -1, jv_invalid()); break;
    case W_CANCELLED: r = node(p, MK_CANCELLED, 0, -1, -1, jv_invalid()); break;
    case W_NONE_FAILED: r = node(p, MK_NONE_FAILED, 0, -1, -1, jv_invalid()); break;
    default: return -1; /* and/or where a value belongs */
    }
    break;
  case T_LP:
    if (++p->depth > MINI_MAX_DEPTH)
      return -1;
    next(p);
    r = parse_pipe(p);
    p->depth--;
    if (r < 0 || p->t != T_RP)
      return -1;
    break;
  default: return -1;
  }
  if (r >= 0)
    next(p);
  return r;
}

static int parse_neg(struct parser *p)
{
  if (p->t != T_MINUS)
    return parse_prim(p);
  if (++p->depth > MINI_MAX_DEPTH)
    return -1;
  next(p);
  int a = parse_mul(p);
  p->depth--;
  return a < 0 ? -1 : node(p, MK_NEG, 0, a, -1, jv_invalid());
}

static int binary(struct parser *p, int op, int a, int b)
{
  if (a < 0 || b < 0)
    return -1;
  if (is_lit(p->m, a) && is_lit(p->m, b))
    return -1; /* jq folds constants, with its own rules */
  if (op == T_MUL && !(p->m->nodes[a].kind == MK_LIT || p->m->nodes[b].kind == MK_LIT))
    return -1; /* string * number: only with a literal count (see number_lit) */
  if (op == T_MUL) {
    const struct mnode *l = &p->m->nodes[p->m->nodes[a].kind == MK_LIT ? a : b];
    if (jv_get_kind(l->lit) != JV_KIND_NUMBER || fabs(jv_number_value(l->lit)) > 1000)
      return -1;
  }
  return node(p, MK_BIN, op, a, b, jv_invalid());
}

static int parse_mul(struct parser *p)
{
  int a = parse_neg(p);
  while (a >= 0 && (p->t == T_MUL || p->t == T_DIV)) {
    int op = p->t;
    next(p);
    a = binary(p, op, a, parse_neg(p));
  }
  return a;
}

static int parse_add(struct parser *p)
{
  int a = parse_mul(p);
  while (a >= 0 && (p->t == T_PLUS || p->t == T_MINUS)) {
    int op = p->t;
    next(p);
    a = binary(p, op, a, parse_mul(p));
  }
  return a;
}

static bool is_cmp(enum tok t) { return t >= T_EQ && t <= T_GE; }

static int parse_cmp(struct parser *p)
{
  int a = parse_add(p);
  if (a >= 0 && is_cmp(p->t)) {
    int op = p->t;
    next(p);
    a = binary(p, op, a, parse_add(p));
    if (is_cmp(p->t))
      return -1; /* `a == b == c` is a syntax error in jq */
  }
  return a;
}

static int parse_and(struct parser *p)
{
  int a = parse_cmp(p);
  while (a >= 0 && p->t == T_WORD && p->word == W_AND) {
    next(p);
    int b = parse_cmp(p);
    a = b < 0 ? -1 : node(p, MK_AND, 0, a, b, jv_invalid());
  }
  return a;
}

static int parse_or(struct parser *p)
{
  int a = parse_and(p);
  while (a >= 0 && p->t == T_WORD && p->word == W_OR) {
    next(p);
    int b = parse_and(p);
    a = b < 0 ? -1 : node(p, MK_OR, 0, a, b, jv_invalid());
  }
  return a;
}

static int parse_alt(struct parser *p)
{
  int a = parse_or(p);
  if (a < 0 || p->t != T_ALT)
    return a;
  if (++p->depth > MINI_MAX_DEPTH)
    return -1;
  next(p);
  int b = parse_alt(p);
  p->depth--;
  return b < 0 ? -1 : node(p, MK_ALT, 0, a, b, jv_invalid());
}

static int parse_pipe(struct parser *p)
{
  int a = parse_alt(p);
  if (a < 0 || p->t != T_PIPE)
    return a;
  if (++p->depth > MINI_MAX_DEPTH)
    return -1;
  next(p);
  int b = parse_pipe(p);
  p->depth--;
  return b < 0 ? -1 : node(p, MK_PIPE, 0, a, b, jv_invalid());
}

void mini_free(struct mini_expr *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++)
    jv_free(m->nodes[i].lit);
  free(m->nodes);
  free(m->segs);
  free(m);
}

int mini_parse(const char *s, size_t len, struct mini_expr **out)
{
  int rc = WEFT_EINVAL;
  *out = NULL;
  if (!len || len > EXPR_MAX_LEN || memchr(s, '\0', len))
    return WEFT_EINVAL;
  struct mini_expr *m = calloc(1, sizeof *m);
  if (!m)
    return WEFT_ENOMEM;
  struct parser p = {.s = s, .len = len, .m = m};
  next(&p);
  m->root = parse_pipe(&p);
  if (p.nomem) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  if (m->root < 0 || p.t != T_EOF)
    goto out;
  *out = m;
  m = NULL;
  rc = 0;
out:
  mini_free(m);
  return rc;
}

/* ---- evaluation ----------------------------------------------------- */

/* The input of a node: a jansson value (the context, before anything was
 * converted) or a jv (borrowed). */
struct in {
  const json_t *j;
  jv v;
};

struct ev {
  const struct mini_expr *m;
  const struct expr_env *env;
  int lim; /* WEFT_ELIMIT when a value was nested too deeply */
};

static jv in_jv(struct ev *e, struct in in)
{
  if (!in.j)
    return jv_copy(in.v);
  jv v;
  if (conv_to_jv(in.j, &v)) {
    e->lim = WEFT_ELIMIT;
    return jv_invalid_with_msg(jv_string("the context is nested too deeply"));
  }
  return v;
}

static bool truthy(jv v)
{
  jv_kind k = jv_get_kind(v);
  return k != JV_KIND_NULL && k != JV_KIND_FALSE;
}

/* jq's type_error / type_error2 (builtin.c). */
static jv type_error(jv bad, const char *msg)
{
  char b[15];
  jv r = jv_invalid_with_msg(jv_string_fmt("%s (%s) %s", jv_kind_name(jv_get_kind(bad)),
                                           jv_dump_string_trunc(jv_copy(bad), b, sizeof b), msg));
  jv_free(bad);
  return r;
}

static jv type_error2(jv a, jv b, const char *msg)
{
  char ba[15], bb[15];
  jv r = jv_invalid_with_msg(jv_string_fmt("%s (%s) and %s (%s) %s", jv_kind_name(jv_get_kind(a)),
                                           jv_dump_string_trunc(jv_copy(a), ba, sizeof ba),
                                           jv_kind_name(jv_get_kind(b)),
                                           jv_dump_string_trunc(jv_copy(b), bb, sizeof bb), msg));
  jv_free(a);
  jv_free(b);
  return r;
}

static jv op_plus(jv a, jv b)
{
  jv_kind ka = jv_get_kind(a), kb = jv_get_kind(b);
  if (ka == JV_KIND_NULL) {
    jv_free(a);
    return b;
  }
  if (kb == JV_KIND_NULL) {
    jv_free(b);
    return a;
  }
  if (ka == JV_KIND_NUMBER && kb == JV_KIND_NUMBER) {
    jv r = jv_number(jv_number_value(a) + jv_number_value(b));
    jv_free(a);
    jv_free(b);
    return r;
  }
  if (ka == kb && ka == JV_KIND_STRING)
    return jv_string_concat(a, b);
  if (ka == kb && ka == JV_KIND_ARRAY)
    return jv_array_concat(a, b);
  if (ka == kb && ka == JV_KIND_OBJECT)
    return jv_object_merge(a, b);
  return type_error2(a, b, "cannot be added");
}

static jv op_minus(jv a, jv b)
{
  jv_kind ka = jv_get_kind(a), kb = jv_get_kind(b);
  if (ka == JV_KIND_NUMBER && kb == JV_KIND_NUMBER) {
    jv r = jv_number(jv_number_value(a) - jv_number_value(b));
    jv_free(a);
    jv_free(b);
    return r;
  }
  if (ka == JV_KIND_ARRAY && kb == JV_KIND_ARRAY) {
    jv r = jv_array();
    int na = jv_array_length(jv_copy(a)), nb = jv_array_length(jv_copy(b));
    for (int i = 0; i < na; i++) {
      jv x = jv_array_get(jv_copy(a), i);
      bool keep = true;
      for (int k = 0; k < nb && keep; k++)
        if (jv_equal(jv_copy(x), jv_array_get(jv_copy(b), k)))
          keep = false;
      if (keep)
        r = jv_array_append(r, x);
      else
        jv_free(x);
    }
    jv_free(a);
    jv_free(b);
    return r;
  }
  return type_error2(a, b, "cannot be subtracted");
}

static jv op_multiply(jv a, jv b)
{
  jv_kind ka = jv_get_kind(a), kb = jv_get_kind(b);
  if (ka == JV_KIND_NUMBER && kb == JV_KIND_NUMBER) {
    jv r = jv_number(jv_number_value(a) * jv_number_value(b));
    jv_free(a);
    jv_free(b);
    return r;
  }
  if ((ka == JV_KIND_STRING && kb == JV_KIND_NUMBER) ||
      (ka == JV_KIND_NUMBER && kb == JV_KIND_STRING)) {
    /* jq 1.6: n = count - 1 more copies; a count below 1 gives null, a
     * fraction in (0, 1) the string once. The parser guarantees that the
     * count is a literal within ±1000. */
    jv str = ka == JV_KIND_STRING ? a : b, num = ka == JV_KIND_STRING ? b : a;
    int n = (int)(jv_number_value(num) - 1);
    jv_free(num);
    size_t alen = (size_t)jv_string_length_bytes(jv_copy(str));
    if (n > 0 && alen * (size_t)(n + 1) > (size_t)0x7fffffff) {
      jv_free(str);
      return jv_invalid_with_msg(jv_string("Repeat string result too long"));
    }
    jv res = jv_copy(str);
    for (; n > 0; n--)
      res = jv_string_append_buf(res, jv_string_value(str), (int)alen);
    jv_free(str);
    if (n < 0) {
      jv_free(res);
      return jv_null();
    }
    return res;
  }
  return type_error2(a, b, "cannot be multiplied");
}

static jv op_divide(jv a, jv b)
{
  jv_kind ka = jv_get_kind(a), kb = jv_get_kind(b);
  if (ka == JV_KIND_NUMBER && kb == JV_KIND_NUMBER) {
    if (jv_number_value(b) == 0.0)
      return type_error2(a, b, "cannot be divided because the divisor is zero");
    jv r = jv_number(jv_number_value(a) / jv_number_value(b));
    jv_free(a);
    jv_free(b);
    return r;
  }
  if (ka == JV_KIND_STRING && kb == JV_KIND_STRING)
    return jv_string_split(a, b);
  return type_error2(a, b, "cannot be divided");
}

static jv binop(int op, jv a, jv b)
{
  int c;
  switch (op) {
  case T_PLUS: return op_plus(a, b);
  case T_MINUS: return op_minus(a, b);
  case T_MUL: return op_multiply(a, b);
  case T_DIV: return op_divide(a, b);
  case T_EQ: return jv_bool(jv_equal(a, b));
  case T_NE: return jv_bool(!jv_equal(a, b));
  default: break;
  }
  c = jv_cmp(a, b);
  switch (op) {
  case T_LT: return jv_bool(c < 0);
  case T_LE: return jv_bool(c <= 0);
  case T_GT: return jv_bool(c > 0);
  default: return jv_bool(c >= 0);
  }
}

static jv ev(struct ev *e, int i, struct in in);

static jv ev_path(struct ev *e, const struct mnode *x, struct in in)
{
  const struct plain_seg *segs = e->m->segs + x->a;
  size_t nseg = (size_t)x->b;
  if (in.j) {
    json_t *r = NULL;
    char msg[160];
    if (plain_eval(PLAIN_PATH, segs, nseg, in.j, NULL, &r, msg, sizeof msg))
      return jv_invalid_with_msg(jv_string(msg));
    struct in w = {.j = r};
    jv v = in_jv(e, w);
    json_decref(r);
    return v;
  }
  jv v = jv_copy(in.v);
  for (size_t k = 0; k < nseg && jv_is_valid(v); k++) {
    const struct plain_seg *g = &segs[k];
    v = jv_get(v, g->key ? jv_string_sized(g->key, (int)g->klen) : jv_number((double)g->idx));
  }
  return v;
}

static jv ev_len(jv v)
{
  switch (jv_get_kind(v)) {
  case JV_KIND_ARRAY: {
    int n = jv_array_length(v);
    return jv_number(n);
  }
  case JV_KIND_OBJECT: {
    int n = jv_object_length(v);
    return jv_number(n);
  }
  case JV_KIND_STRING: {
    int n = jv_string_length_codepoints(v);
    return jv_number(n);
  }
  case JV_KIND_NUMBER: {
    double d = fabs(jv_number_value(v));
    jv_free(v);
    return jv_number(d);
  }
  case JV_KIND_NULL: jv_free(v); return jv_number(0);
  default: return type_error(v, "has no length");
  }
}

static jv ev(struct ev *e, int i, struct in in)
{
  static const struct expr_env defaults = {.success = true, .none_failed = true};
  const struct mnode *x = &e->m->nodes[i];
  const struct expr_env *env = e->env ? e->env : &defaults;
  switch (x->kind) {
  case MK_LIT: return jv_copy(x->lit);
  case MK_PATH: return ev_path(e, x, in);
  case MK_SUCCESS: return jv_bool(env->success);
  case MK_FAILURE: return jv_bool(env->failure);
  case MK_CANCELLED: return jv_bool(env->cancelled);
  case MK_NONE_FAILED: return jv_bool(env->none_failed);
  case MK_ALWAYS: return jv_true();
  case MK_NOT: {
    jv v = in_jv(e, in);
    if (!jv_is_valid(v))
      return v;
    bool t = truthy(v);
    jv_free(v);
    return jv_bool(!t);
  }
  case MK_LEN: {
    jv v = in_jv(e, in);
    return jv_is_valid(v) ? ev_len(v) : v;
  }
  case MK_NEG: {
    jv v = ev(e, x->a, in);
    if (!jv_is_valid(v))
      return v;
    if (jv_get_kind(v) != JV_KIND_NUMBER)
      return type_error(v, "cannot be negated");
    double d = jv_number_value(v);
    jv_free(v);
    return jv_number(-d);
  }
  case MK_PIPE: {
    jv v = ev(e, x->a, in);
    if (!jv_is_valid(v))
      return v;
    struct in w = {.j = NULL, .v = v};
    jv r = ev(e, x->b, w);
    jv_free(v);
    return r;
  }
  case MK_ALT: {
    /* libjq 1.6 does not catch an error on the left of `//` (jq issue
     * #1859): `[1] | .a // 2` fails with the left side's message */
    jv v = ev(e, x->a, in);
    if (!jv_is_valid(v) || truthy(v))
      return v;
    jv_free(v);
    return ev(e, x->b, in);
  }
  case MK_AND:
  case MK_OR: {
    jv v = ev(e, x->a, in);
    if (!jv_is_valid(v))
      return v;
    bool t = truthy(v);
    jv_free(v);
    if (x->kind == MK_AND ? !t : t)
      return jv_bool(t);
    v = ev(e, x->b, in);
    if (!jv_is_valid(v))
      return v;
    t = truthy(v);
    jv_free(v);
    return jv_bool(t);
  }
  case MK_BIN: {
    jv b = ev(e, x->b, in); /* jq evaluates the right operand first */
    if (!jv_is_valid(b))
      return b;
    jv a = ev(e, x->a, in);
    if (!jv_is_valid(a)) {
      jv_free(b);
      return a;
    }
    return binop(x->op, a, b);
  }
  }
  return jv_invalid_with_msg(jv_string("internal error"));
}

int mini_eval(const struct mini_expr *m, const json_t *ctx, const struct expr_env *env,
              json_t **out, char *msg, size_t msgsz)
{
  *out = NULL;
  struct ev e = {.m = m, .env = env};
  struct in in = {.j = ctx ? ctx : json_null()};
  jv r = ev(&e, m->root, in);
  if (!jv_is_valid(r)) {
    jv em = jv_invalid_get_msg(r);
    if (jv_get_kind(em) == JV_KIND_STRING)
      snprintf(msg, msgsz, "%s", jv_string_value(em));
    else
      snprintf(msg, msgsz, "error");
    jv_free(em);
    return e.lim ? e.lim : WEFT_EEXPR;
  }
  int rc = conv_from_jv(r, out);
  if (rc == WEFT_ELIMIT)
    snprintf(msg, msgsz, "its result is nested too deeply");
  else if (rc)
    snprintf(msg, msgsz, "%s", rc == WEFT_ENOMEM ? "out of memory" : "invalid result");
  return rc;
}
