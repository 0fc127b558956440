/* refs.c — expr_refs(): what an expression reads of `.steps` and `.needs`.
 *
 * A lexical scan (lex.c tokens; string contents are never code, but `\(…)`
 * interpolations are), used by validation for the reach rule and by the
 * engine to build small contexts. It errs on the side of reporting more:
 *
 *  - `.steps.NAME`, `.steps["NAME"]`, `.steps."NAME"` (also `."steps"` and
 *    `.["steps"]` as the first step, and the same for `needs`) report NAME,
 *    wherever they appear, unless the `.steps` indexes a value just before
 *    it (`.a.steps`, `f(x).steps`) — `$v.steps.x` still counts;
 *  - `.steps` followed by anything else (`.steps | keys`, `.steps[]`,
 *    `.steps[$k]`) reports name NULL: the whole object;
 *  - an expression that may read the whole context reports NULL for both
 *    roots: a bare `.`, `..`, `.[]`, `.[expr]`, a format without a string, or
 *    a function call (other than a short list of helpers that ignore their
 *    input, and functions the expression defines itself, whose bodies are
 *    scanned in place) in a position whose input is the context. Positions are tracked
 *    through `|` (after it the input is something else, except after
 *    `… as $x |` and `label $x |`), `;`, brackets, `if/then/elif/else/end`,
 *    interpolations and the `(init; update; extract)` of reduce/foreach
 *    (after the first `;` the input is the state).
 * It is not a jq parser: `getpath(["steps", "x"])` at top level is caught
 * only because `getpath` is a call on the context.
 *
 * expr_refs_fields() runs the same scan for validation's name checks and
 * reports less: `.steps.NAME.FIELD` / `.needs.NAME.FIELD` (FIELD NULL when
 * none follows) and `.inputs.NAME` only where the input is the context
 * (never after a `|`, so `.steps.a.outputs | .inputs.x` is not reported);
 * whole-object reads are not reported. */
#include "expr/internal.h"

#include <stdlib.h>
#include <string.h>

struct level {
  char kind;       /* 't' top, ( [ { 'i' interpolation, 'f' if */
  bool root;       /* the input here is the context */
  bool start_root; /* root at the start of this level (after ; then else) */
  bool pending_as; /* an `as`/`label` waits for its `|` */
  bool reduce;     /* a `reduce`/`foreach` waits for its `(init; update)` */
  bool acc;        /* this is that group: after `;` the input is the state */
};

struct scan {
  struct lex_tok *t;
  size_t n;
  void (*cb)(void *, const char *, const char *, size_t);
  void *ud;
  void (*fcb)(void *, const struct expr_ref *); /* expr_refs_fields() */
  bool whole_steps, whole_needs;
  bool has_def; /* some `def` in the text (defined_here() is O(n)) */
};

static bool tok_is(const struct lex_tok *t, enum lex_kind k, const char *s)
{
  size_t l = strlen(s);
  return t->kind == k && t->len == l && memcmp(t->p, s, l) == 0;
}

static const char *const keywords[] = {"as",    "def",    "if",     "then",  "elif",
                                       "else",  "end",    "and",    "or",    "reduce",
                                       "foreach", "try",  "catch",  "label", "import",
                                       "include", "module", "__loc__"};

static bool is_keyword(const struct lex_tok *t)
{
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (tok_is(t, LX_IDENT, keywords[i]))
      return true;
  return false;
}

/* Calls that never look at their input (or only at their arguments). */
static bool ignores_input(const struct lex_tok *t)
{
  static const char *const safe[] = {"success", "failure", "always", "cancelled", "true",
                                     "false",   "null",    "empty",  "not",       "now",
                                     "env",     "input",   "inputs", "halt",      "error",
                                     "range",   "none_failed"};
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (tok_is(t, LX_IDENT, safe[i]))
      return true;
  return false;
}

/* Whether a token ends a term, so that a following `.steps` indexes it. */
static bool term_end(const struct lex_tok *t)
{
  if (!t)
    return false;
  switch (t->kind) {
  case LX_FIELD:
  case LX_NUM:
  case LX_STR:
  case LX_STR_CLOSE:
  case LX_CLOSE:
  case LX_DOT:
  case LX_DOTDOT: return true;
  case LX_IDENT: return !is_keyword(t) || tok_is(t, LX_IDENT, "end");
  case LX_OP: return t->len == 1 && t->p[0] == '?';
  default: return false;
  }
}

/* A call of a function the expression defines itself (`def f: …; f`): its
 * body is scanned where it is written, so the call adds nothing. */
static bool defined_here(const struct scan *sc, const struct lex_tok *t)
{
  if (!sc->has_def)
    return false;
  for (size_t i = 0; i + 1 < sc->n; i++)
    if (tok_is(&sc->t[i], LX_IDENT, "def") && sc->t[i + 1].kind == LX_IDENT &&
        sc->t[i + 1].len == t->len && memcmp(sc->t[i + 1].p, t->p, t->len) == 0)
      return true;
  return false;
}

static bool plain_str(const struct lex_tok *t) { return t->kind == LX_STR && !t->escapes; }

/* A key at t[i] in one of the forms `.NAME`, `."NAME"`, `["NAME"]`: its
 * token, and in *next the index after it; NULL when there is none. */
static const struct lex_tok *key_at(const struct scan *sc, size_t i, size_t *next)
{
  const struct lex_tok *t = sc->t;
  if (i < sc->n && t[i].kind == LX_FIELD) {
    *next = i + 1;
    return &t[i];
  }
  if (i + 1 < sc->n && t[i].kind == LX_DOT && plain_str(&t[i + 1])) {
    *next = i + 2;
    return &t[i + 1];
  }
  if (i + 2 < sc->n && tok_is(&t[i], LX_OPEN, "[") && plain_str(&t[i + 1]) &&
      tok_is(&t[i + 2], LX_CLOSE, "]")) {
    *next = i + 3;
    return &t[i + 1];
  }
  return NULL;
}

/* At t[i] a root name token (`.steps` …) just ended; t[i] is what follows. */
static void name_after(struct scan *sc, const char *root, size_t i)
{
  size_t k;
  const struct lex_tok *nm = key_at(sc, i, &k);
  if (nm && sc->fcb) {
    size_t k2;
    const struct lex_tok *f = key_at(sc, k, &k2);
    struct expr_ref ref = {.root = root, .name = nm->p, .name_len = nm->len,
                           .field = f ? f->p : NULL, .field_len = f ? f->len : 0};
    sc->fcb(sc->ud, &ref);
  } else if (nm) {
    sc->cb(sc->ud, root, nm->p, nm->len);
  } else if (sc->fcb) {
    /* the whole object: nothing to check */
  } else {
    bool *seen = root[0] == 's' ? &sc->whole_steps : &sc->whole_needs;
    if (!*seen)
      sc->cb(sc->ud, root, NULL, 0);
    *seen = true;
  }
}

static void whole(struct scan *sc)
{
  if (sc->fcb)
    return;
  if (!sc->whole_steps)
    sc->cb(sc->ud, "steps", NULL, 0);
  if (!sc->whole_needs)
    sc->cb(sc->ud, "needs", NULL, 0);
  sc->whole_steps = sc->whole_needs = true;
}

static const char *root_name(const char *p, size_t len)
{
  if (len == 5 && memcmp(p, "steps", 5) == 0)
    return "steps";
  if (len == 5 && memcmp(p, "needs", 5) == 0)
    return "needs";
  return NULL;
}

static void scan_tokens(struct scan *sc)
{
  struct level lv[EXPR_LEX_DEPTH + 2];
  int d = 0;
  lv[0] = (struct level){.kind = 't', .root = true, .start_root = true};
  const struct lex_tok *t = sc->t;
  for (size_t i = 0; i < sc->n; i++) {
    const struct lex_tok *prev = i ? &t[i - 1] : NULL;
    struct level *L = &lv[d];
    const char *root;
    /* `.inputs.NAME` where the input is the context (expr_refs_fields) */
    if (sc->fcb && L->root && t[i].kind == LX_FIELD && t[i].len == 6 &&
        memcmp(t[i].p, "inputs", 6) == 0 && !term_end(prev)) {
      size_t k;
      const struct lex_tok *nm = key_at(sc, i + 1, &k);
      if (nm) {
        struct expr_ref ref = {.root = "inputs", .name = nm->p, .name_len = nm->len};
        sc->fcb(sc->ud, &ref);
      }
    }
    /* references to .steps / .needs */
    if (t[i].kind == LX_FIELD && (root = root_name(t[i].p, t[i].len)) && !term_end(prev)) {
      name_after(sc, root, i + 1);
    } else if (t[i].kind == LX_DOT && !term_end(prev) && i + 1 < sc->n && plain_str(&t[i + 1]) &&
               (root = root_name(t[i + 1].p, t[i + 1].len))) {
      name_after(sc, root, i + 2);
    } else if (t[i].kind == LX_DOT && !term_end(prev) && i + 3 < sc->n &&
               tok_is(&t[i + 1], LX_OPEN, "[") && plain_str(&t[i + 2]) &&
               tok_is(&t[i + 3], LX_CLOSE, "]") && (root = root_name(t[i + 2].p, t[i + 2].len))) {
      name_after(sc, root, i + 4);
    } else if (L->root) {
      /* whole-context reads */
      const struct lex_tok *next = i + 1 < sc->n ? &t[i + 1] : NULL;
      if (t[i].kind == LX_DOT) {
        bool keyed = next && (plain_str(next) || (tok_is(next, LX_OPEN, "[") && i + 3 < sc->n &&
                                                  plain_str(&t[i + 2]) &&
                                                  tok_is(&t[i + 3], LX_CLOSE, "]")));
        if (!keyed)
          whole(sc);
      } else if (t[i].kind == LX_DOTDOT) {
        whole(sc);
      } else if (t[i].kind == LX_IDENT && L->kind == '{' && next &&
                 (tok_is(next, LX_OP, ":") || tok_is(next, LX_OP, ",") ||
                  tok_is(next, LX_CLOSE, "}"))) {
        /* an object key; `{steps}` is short for `{steps: .steps}` */
        if (!tok_is(next, LX_OP, ":") && (root = root_name(t[i].p, t[i].len)))
          name_after(sc, root, sc->n);
      } else if (t[i].kind == LX_IDENT && !is_keyword(&t[i]) && !ignores_input(&t[i]) &&
                 !(prev && tok_is(prev, LX_IDENT, "def")) && !defined_here(sc, &t[i])) {
        whole(sc);
      } else if (t[i].kind == LX_FORMAT &&
                 !(next && (next->kind == LX_STR || next->kind == LX_STR_OPEN))) {
        whole(sc);
      }
    }
    /* structure */
    switch (t[i].kind) {
    case LX_OPEN:
    case LX_STR_OPEN:
      if (d < EXPR_LEX_DEPTH) {
        bool acc = L->reduce && L->pending_as && t[i].p[0] == '(' && t[i].kind == LX_OPEN;
        if (acc) /* `reduce SRC as $x (` : no `|` follows this `as` */
          L->reduce = L->pending_as = false;
        d++;
        lv[d] = (struct level){.kind = t[i].kind == LX_OPEN ? t[i].p[0] : 'i',
                               .root = L->root, .start_root = L->root, .acc = acc};
      }
      break;
    case LX_STR_MID: L->root = L->start_root; break;
    case LX_CLOSE:
    case LX_STR_CLOSE:
      while (d > 0 && lv[d].kind == 'f') /* an `if` left open inside: jq errors */
        d--;
      if (d > 0)
        d--;
      break;
    case LX_IDENT:
      if (tok_is(&t[i], LX_IDENT, "if") && d < EXPR_LEX_DEPTH) {
        d++;
        lv[d] = (struct level){.kind = 'f', .root = L->root, .start_root = L->root};
      } else if ((tok_is(&t[i], LX_IDENT, "then") || tok_is(&t[i], LX_IDENT, "elif") ||
                  tok_is(&t[i], LX_IDENT, "else")) && L->kind == 'f') {
        L->root = L->start_root;
        L->pending_as = false;
      } else if (tok_is(&t[i], LX_IDENT, "end") && L->kind == 'f') {
        d--;
      } else if (tok_is(&t[i], LX_IDENT, "as") || tok_is(&t[i], LX_IDENT, "label")) {
        L->pending_as = true;
      } else if (tok_is(&t[i], LX_IDENT, "reduce") || tok_is(&t[i], LX_IDENT, "foreach")) {
        L->reduce = true;
      }
      break;
    case LX_OP:
      if (t[i].len == 1 && t[i].p[0] == '|') {
        if (L->pending_as)
          L->pending_as = false;
        else
          L->root = false;
      } else if (t[i].len == 1 && t[i].p[0] == ';') {
        L->root = L->acc ? false : L->start_root; /* update/extract see the state */
        L->pending_as = false;
      }
      break;
    default: break;
    }
  }
}

static void scan_text(struct scan *sc, const char *src, size_t len);

void expr_refs(const char *src, size_t len,
               void (*cb)(void *ud, const char *root, const char *name, size_t name_len), void *ud)
{
  struct scan sc = {.cb = cb, .ud = ud};
  scan_text(&sc, src, len);
}

void expr_refs_fields(const char *src, size_t len,
                      void (*cb)(void *ud, const struct expr_ref *ref), void *ud)
{
  struct scan sc = {.fcb = cb, .ud = ud};
  scan_text(&sc, src, len);
}

static void scan_text(struct scan *sc_in, const char *src, size_t len)
{
  struct scan sc = *sc_in;
  struct lexer *lx = malloc(sizeof *lx);
  size_t cap = 0;
  if (!lx)
    goto fail;
  lex_init(lx, src ? src : "", src ? len : 0, true, true);
  for (;;) {
    struct lex_tok tok;
    lex_next(lx, &tok);
    if (tok.kind == LX_EOF || tok.kind == LX_ERR)
      break;
    if (sc.n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      struct lex_tok *nt = realloc(sc.t, ncap * sizeof *nt);
      if (!nt)
        goto fail;
      sc.t = nt;
      cap = ncap;
    }
    if (tok_is(&tok, LX_IDENT, "def"))
      sc.has_def = true;
    sc.t[sc.n++] = tok;
  }
  scan_tokens(&sc);
  free(sc.t);
  free(lx);
  return;
fail: /* cannot look: assume it reads everything */
  free(sc.t);
  free(lx);
  whole(&sc);
}
