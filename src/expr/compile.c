/* compile.c — every non-plain expression of a workflow in ONE jq program.
 *
 * jq 1.6 re-parses and binds its ~250 builtins on every jq_compile (~25 ms),
 * so a workflow's expressions are compiled together and selected at run time
 * by their id. The program reads the input [id, ctx, [success, failure,
 * cancelled, none_failed]]:
 *
 *   def env: {}; {} as $ENV |
 *   .[2] as [$__weft_s, $__weft_f, $__weft_c, $__weft_n] |
 *   def success: $__weft_s; def failure: $__weft_f; def always: true;
 *   def cancelled: $__weft_c; def none_failed: $__weft_n;
 *   .[0] as $__weft_i |
 *   def __weft_g0: if $__weft_i < 7 then (EXPR3\n) else (EXPR7\n) end; …
 *   .[1] | if $__weft_i < 40 then __weft_g0 else __weft_g1 end
 *
 * so `.` inside an expression is exactly ctx. The dispatch is a balanced
 * if-tree on the id (depth log2 n, not an elif chain), cut into defs of at
 * most GROUP_MAX expressions / GROUP_BYTES of text, and those into defs again,
 * because jq 1.6 refuses a function whose bytecode passes 64 KiB
 * ("function compiled to N bytes which is too long").
 *
 * Shards: jq 1.6's compile time grows faster than linearly with the size of
 * the program (measured: 1000 expressions 1.3 s CPU in one program, 0.5 s in
 * four), so the expressions are compiled in shards of SHARD_MAX, each its own
 * jq_compile and jq_state; a workflow with up to SHARD_MAX non-plain
 * expressions (nearly all) costs exactly one compile. item->shard says which
 * state runs an expression.
 *
 * Injection guard: each expression sits in `(EXPR\n)` — the newline ends a
 * trailing `# comment` — and is admitted only if lex_balanced() says it opens
 * and closes its own brackets and strings the way jq's lexer sees them. Then
 * the `(` before it can only be closed by the `)` after it, and nothing in it
 * can reach another id's branch. Unbalanced texts never enter the combined
 * program; each is compiled alone (without the wrapper) to get jq's message.
 *
 * Errors: when the combined compile fails, halves are compiled recursively
 * until single expressions are found (about 2 log2 n extra compiles per bad
 * expression); each is reported through the callback with jq's message,
 * cleaned of jq's decoration. The safety settings (ARCHITECTURE.md §3):
 * JQ_LIBRARY_PATH = [] (an `import` then fails instead of aborting; we also
 * reject import/include up front with a plain message), the error callback
 * set before compiling, `env`/`$ENV` empty, stderr/debug/input/inputs/halt/
 * halt_error/input_filename/input_line_number overridden (see prelude).
 * jq 1.6 also loads $HOME/.jq into every program; when that file exists HOME is unset for the duration of the
 * compile (a process-wide change: do not compile while other threads read the
 * environment). */
#include "expr/internal.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARD_MAX 256
#define GROUP_MAX 32
#define GROUP_BYTES 2048
#define PROGRAM_MAX ((size_t)512 * 1024 * 1024)

/* The first line hides the builtins that could print a value (a secret)
 * where weft cannot mask it -- jq 1.6's `stderr` writes to weft's stderr --
 * or read outside the context: stderr/debug pass their input through
 * silently, inputs is empty, input/halt/halt_error are errors (halt_error
 * stops jq with a message outside the expression's error path), and
 * input_filename is null and input_line_number 0. */
static const char prelude[] =
    "def stderr: .; def debug: .; def input_filename: null; def input_line_number: 0; "
    "def input: error(\"input is not available in weft expressions\"); "
    "def inputs: empty; def halt: error(\"halt is not available in weft expressions\"); "
    "def halt_error: error(\"halt_error is not available in weft expressions; use error\"); "
    "def halt_error($c): halt_error; "
    "def env: {}; {} as $ENV | .[2] as [$__weft_s, $__weft_f, $__weft_c, $__weft_n] | "
    "def success: $__weft_s; def failure: $__weft_f; def always: true; "
    "def cancelled: $__weft_c; def none_failed: $__weft_n; .[0] as $__weft_i |\n";

static unsigned long compile_count;

unsigned long expr_debug_compile_count(void) { return compile_count; }

/* ---- messages ------------------------------------------------------- */

void compile_msg_cb(void *ud, jv msg)
{
  struct buf *b = ud;
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    const char *s = jv_string_value(msg);
    /* the summary line "jq: 2 compile errors" says nothing new */
    if (!(strncmp(s, "jq: ", 4) == 0 && strstr(s, " compile error"))) {
      (void)buf_puts(b, s);
      (void)buf_append(b, "\x1e", 1);
    }
  } else {
    jv d = jv_dump_string(jv_copy(msg), 0);
    (void)buf_puts(b, jv_string_value(d));
    (void)buf_append(b, "\x1e", 1);
    jv_free(d);
  }
  jv_free(msg);
}

static void cut_at(const char *s, size_t *n, const char *pat)
{
  size_t pl = strlen(pat);
  for (size_t i = 0; i + pl <= *n; i++)
    if (memcmp(s + i, pat, pl) == 0) {
      *n = i;
      return;
    }
}

char *compile_clean_msg(const char *raw)
{
  static const char hint[] = " (Unix shell quoting issues?)";
  struct buf out;
  buf_init(&out, 4096);
  const char *p = raw ? raw : "";
  while (*p) {
    const char *end = strchr(p, '\x1e');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *s = p;
    p = end ? end + 1 : p + n;
    if (n >= 11 && memcmp(s, "jq: error: ", 11) == 0)
      s += 11, n -= 11;
    else if (n >= 4 && memcmp(s, "jq: ", 4) == 0)
      s += 4, n -= 4;
    cut_at(s, &n, "\n");
    cut_at(s, &n, " at <top-level>");
    cut_at(s, &n, " at <builtin>");
    cut_at(s, &n, " at <unknown>");
    char line[1024];
    size_t q = n, l;
    cut_at(s, &q, hint);
    if (q > sizeof line - 1)
      q = sizeof line - 1;
    memcpy(line, s, q);
    l = q;
    if (q + sizeof hint - 1 < n) {
      size_t rest = n - q - (sizeof hint - 1);
      if (rest > sizeof line - 1 - l)
        rest = sizeof line - 1 - l;
      memcpy(line + l, s + q + sizeof hint - 1, rest);
      l += rest;
    }
    while (l && (line[l - 1] == ' ' || line[l - 1] == ':'))
      l--;
    if (!l)
      continue;
    if (out.len)
      (void)buf_puts(&out, "; ");
    (void)buf_append(&out, line, l);
  }
  if (!out.len)
    (void)buf_puts(&out, "does not compile");
  return buf_take(&out);
}

/* ---- one jq_compile ------------------------------------------------- */

static int counted_compile(jq_state *jq, const char *text)
{
  compile_count++;
  char *saved = NULL;
  const char *home = getenv("HOME");
  if (home && *home) {
    size_t hl = strlen(home);
    char *path = malloc(hl + 5);
    if (path) {
      memcpy(path, home, hl);
      memcpy(path + hl, "/.jq", 5);
      if (access(path, F_OK) == 0 && (saved = strdup(home)) != NULL)
        unsetenv("HOME");
      free(path);
    }
  }
  int ok = jq_compile(jq, text);
  if (saved) {
    setenv("HOME", saved, 1);
    free(saved);
  }
  return ok;
}

static int new_state(struct expr_prog *p, jq_state **out)
{
  jq_state *jq = jq_init();
  if (!jq)
    return WEFT_ENOMEM;
  jq_set_error_cb(jq, compile_msg_cb, &p->msgs);
  /* jq 1.6's jq_init leaves these two uninitialised: `input` or `debug` would
   * call through a garbage pointer */
  jq_set_input_cb(jq, NULL, NULL);
  jq_set_debug_cb(jq, NULL, NULL);
  jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
  *out = jq;
  return 0;
}

/* Compiles text in a fresh state; on success hands the state to *keep (or
 * tears it down when keep is NULL). WEFT_EEXPR when jq refuses the text; its
 * messages are then in p->msgs. */
static int compile_text(struct expr_prog *p, const char *text, jq_state **keep)
{
  jq_state *jq = NULL;
  int rc = new_state(p, &jq);
  if (rc)
    return rc;
  buf_reset(&p->msgs);
  if (!counted_compile(jq, text)) {
    rc = WEFT_EEXPR;
    jq_teardown(&jq);
  } else if (keep) {
    *keep = jq;
  } else {
    jq_teardown(&jq);
  }
  return rc;
}

/* ---- the program text ----------------------------------------------- */

struct unit {
  int32_t first; /* smallest id it serves */
  int32_t ref;   /* level 0: expression id; above: group number */
  size_t size;   /* text bytes it stands for */
};

static int emit_unit(struct buf *b, const struct expr_prog *p, const struct unit *u, bool leaf)
{
  if (!leaf)
    return buf_printf(b, "__weft_g%d", (int)u->ref);
  const struct expr_item *it = &p->items[u->ref];
  int rc = buf_puts(b, "(");
  if (!rc)
    rc = buf_append(b, it->text, it->len);
  if (!rc)
    rc = buf_puts(b, "\n)");
  return rc;
}

static int emit_tree(struct buf *b, const struct expr_prog *p, const struct unit *u, size_t lo,
                     size_t hi, bool leaf)
{
  if (hi - lo == 1)
    return emit_unit(b, p, &u[lo], leaf);
  size_t mid = lo + (hi - lo) / 2;
  int rc = buf_printf(b, "if $__weft_i < %d then ", (int)u[mid].first);
  if (!rc)
    rc = emit_tree(b, p, u, lo, mid, leaf);
  if (!rc)
    rc = buf_puts(b, " else ");
  if (!rc)
    rc = emit_tree(b, p, u, mid, hi, leaf);
  if (!rc)
    rc = buf_puts(b, " end");
  return rc;
}

/* Units [i, j) that go into one def starting at i. */
static size_t group_end(const struct unit *u, size_t m, size_t i)
{
  size_t j = i, size = 0;
  while (j < m && j - i < GROUP_MAX && (j == i || size + u[j].size <= GROUP_BYTES))
    size += u[j++].size;
  return j;
}

/* Writes the whole program for the sorted ids into b. */
static int build_program(const struct expr_prog *p, const int32_t *ids, size_t n, struct buf *b)
{
  int rc = 0;
  struct unit *cur = malloc(n * sizeof *cur), *next = malloc(n * sizeof *next);
  if (!cur || !next) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    cur[i].first = ids[i];
    cur[i].ref = ids[i];
    cur[i].size = p->items[ids[i]].len + 4;
  }
  rc = buf_puts(b, prelude);
  size_t m = n, groups = 0;
  bool leaf = true;
  while (!rc && group_end(cur, m, 0) < m) {
    size_t k = 0;
    for (size_t i = 0; !rc && i < m; k++) {
      size_t j = group_end(cur, m, i);
      rc = buf_printf(b, "def __weft_g%zu: ", groups);
      if (!rc)
        rc = emit_tree(b, p, cur, i, j, leaf);
      if (!rc)
        rc = buf_puts(b, ";\n");
      next[k].first = cur[i].first;
      next[k].ref = (int32_t)groups++;
      next[k].size = 24;
      i = j;
    }
    struct unit *t = cur;
    cur = next;
    next = t;
    m = k;
    leaf = false;
  }
  if (!rc)
    rc = buf_puts(b, ".[1] | ");
  if (!rc)
    rc = emit_tree(b, p, cur, 0, m, leaf);
out:
  free(cur);
  free(next);
  return rc;
}

static int compile_ids(struct expr_prog *p, const int32_t *ids, size_t n, jq_state **keep)
{
  struct buf b;
  buf_init(&b, PROGRAM_MAX);
  int rc = build_program(p, ids, n, &b);
  if (!rc)
    rc = compile_text(p, b.p, keep);
  buf_free(&b);
  return rc;
}

/* ---- finding and reporting the bad ones ----------------------------- */

static int report(expr_error_cb cb, void *ud, int id, const char *raw)
{
  char *m = compile_clean_msg(raw);
  if (!m)
    return WEFT_ENOMEM;
  if (cb)
    cb(ud, id, m);
  free(m);
  return 0;
}

/* jq's own message for one expression, compiled without the wrapper so that
 * jq does not talk about a `)` the user never wrote. */
static int report_alone(struct expr_prog *p, int id, const char *fallback, expr_error_cb cb,
                        void *ud)
{
  const struct expr_item *it = &p->items[id];
  struct buf b;
  buf_init(&b, sizeof prelude + EXPR_MAX_LEN + 16);
  int rc = buf_puts(&b, prelude);
  if (!rc)
    rc = buf_puts(&b, ".[1] | ");
  if (!rc)
    rc = buf_append(&b, it->text, it->len);
  if (!rc)
    rc = compile_text(p, b.p, NULL);
  buf_free(&b);
  if (rc == WEFT_EEXPR) {
    /* the expression starts on line 2 of that program: say which of its own
     * lines jq complains about when it has several */
    const char *at = p->msgs.p ? strstr(p->msgs.p, " at <top-level>, line ") : NULL;
    long line = at ? strtol(at + strlen(" at <top-level>, line "), NULL, 10) - 1 : 0;
    if (line > 1 && memchr(it->text, '\n', it->len)) {
      char *m = compile_clean_msg(p->msgs.p);
      if (!m)
        return WEFT_ENOMEM;
      size_t l = strlen(m) + 48;
      char *ml = malloc(l);
      if (ml) {
        snprintf(ml, l, "%s (line %ld of the expression)", m, line);
        if (cb)
          cb(ud, id, ml);
      }
      free(ml);
      free(m);
      return ml ? 0 : WEFT_ENOMEM;
    }
    return report(cb, ud, id, p->msgs.p);
  }
  if (rc)
    return rc;
  /* it compiles alone: the reason is ours (fallback) */
  if (cb)
    cb(ud, id, fallback);
  return 0;
}

static int bisect(struct expr_prog *p, const int32_t *ids, size_t n, expr_error_cb cb, void *ud,
                  size_t *found)
{
  if (n == 1) {
    char *wrapped = compile_clean_msg(p->msgs.p);
    if (!wrapped)
      return WEFT_ENOMEM;
    int rc = report_alone(p, ids[0], wrapped, cb, ud);
    free(wrapped);
    (*found)++;
    return rc;
  }
  size_t half = n / 2;
  int rc = compile_ids(p, ids, half, NULL);
  if (rc == WEFT_EEXPR)
    rc = bisect(p, ids, half, cb, ud, found);
  if (rc)
    return rc;
  rc = compile_ids(p, ids + half, n - half, NULL);
  if (rc == WEFT_EEXPR)
    rc = bisect(p, ids + half, n - half, cb, ud, found);
  return rc;
}

static bool starts_with_import(const char *s, size_t len)
{
  struct lexer lx;
  struct lex_tok t;
  lex_init(&lx, s, len, true, true);
  lex_next(&lx, &t);
  return t.kind == LX_IDENT && ((t.len == 6 && memcmp(t.p, "import", 6) == 0) ||
                                (t.len == 7 && memcmp(t.p, "include", 7) == 0));
}

int expr_prog_compile(struct expr_prog *p, expr_error_cb cb, void *ud)
{
  int rc = 0;
  size_t ngood = 0, nbad = 0;
  int32_t *good = NULL;
  if (p->compiled)
    return 0;
  if (p->broken)
    return WEFT_EEXPR;
  if (p->njq == 0) {
    p->compiled = true;
    return 0;
  }
  good = malloc(p->njq * sizeof *good);
  if (!good) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  for (size_t id = 0; id < p->n; id++) {
    const struct expr_item *it = &p->items[id];
    const char *why = NULL;
    if (it->kind != PLAIN_NONE || it->mini)
      continue; /* plain.c / mini.c evaluate these without jq */
    if (it->len == 0) {
      nbad++;
      if (cb)
        cb(ud, (int)id, "empty expression");
    } else if (memchr(it->text, '\0', it->len)) {
      /* jq_compile takes a C string: the rest would silently vanish */
      nbad++;
      if (cb)
        cb(ud, (int)id, "expression contains a NUL byte");
    } else if (starts_with_import(it->text, it->len)) {
      nbad++;
      if (cb)
        cb(ud, (int)id, "modules cannot be imported in expressions (import/include)");
    } else if (!lex_balanced(it->text, it->len, &why)) {
      nbad++;
      if (strstr(why, "string") && cb) {
        /* jq 1.6's parser leaks the text of a string cut by the end of the
         * program: say it ourselves instead of asking jq */
        char m[128];
        snprintf(m, sizeof m, "syntax error: %s", why);
        cb(ud, (int)id, m);
      } else {
        rc = report_alone(p, (int)id, why, cb, ud);
        if (rc)
          goto out;
      }
    } else {
      good[ngood++] = (int32_t)id;
    }
  }
  if (ngood) {
    p->jq = calloc((ngood + SHARD_MAX - 1) / SHARD_MAX, sizeof *p->jq);
    if (!p->jq) {
      rc = WEFT_ENOMEM;
      goto out;
    }
  }
  for (size_t at = 0; !rc && at < ngood; at += SHARD_MAX) {
    size_t n = ngood - at < SHARD_MAX ? ngood - at : SHARD_MAX;
    jq_state *jq = NULL;
    rc = compile_ids(p, good + at, n, &jq);
    if (rc == WEFT_EEXPR) {
      char *whole = compile_clean_msg(p->msgs.p);
      size_t found = 0;
      rc = bisect(p, good + at, n, cb, ud, &found);
      if (!rc && !found && cb)
        cb(ud, (int)good[at], whole ? whole : "the expressions do not compile together");
      free(whole);
      nbad += found ? found : 1;
    } else if (!rc) {
      for (size_t k = at; k < at + n; k++)
        p->items[good[k]].shard = (int32_t)p->njq_states;
      p->jq[p->njq_states++] = jq;
    }
  }
  if (rc)
    goto out;
  if (nbad) {
    rc = WEFT_EEXPR;
    goto out;
  }
  p->compiled = true;
out:
  if (rc) { /* unusable: give the memory back now */
    p->broken = true;
    for (size_t i = 0; i < p->njq_states; i++)
      jq_teardown(&p->jq[i]);
    free(p->jq);
    p->jq = NULL;
    p->njq_states = 0;
    for (size_t i = 0; i < p->n; i++)
      p->items[i].shard = -1;
  }
  free(good);
  return rc;
}
