/* lex.c — a scanner for jq 1.6 program text, faithful where it matters.
 *
 * It does not parse jq; it finds tokens the way jq's flex lexer does, so that
 * three questions can be answered without jq_compile: where does a `${{ … }}`
 * end (expr_split), does an expression open and close its own brackets
 * (the injection guard of compile.c), and which `.steps.X` does it read
 * (expr_refs). The points that matter for those answers follow jq exactly:
 * strings (`\` escapes one character, `\(` opens an interpolation that the
 * matching `)` closes), comments (`#` to end of line), and the bracket stack
 * (jq's lexer itself refuses a `)` that closes a `[`). Everything else is
 * approximated as harmless operator tokens. */
#include "expr/internal.h"
#include "util/err.h"

#include <string.h>

bool lex_is_ident_start(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool lex_is_ident_char(int c) { return lex_is_ident_start(c) || (c >= '0' && c <= '9'); }

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

void lex_init(struct lexer *lx, const char *s, size_t len, bool comments, bool lenient)
{
  lx->s = s;
  lx->len = len;
  lx->pos = 0;
  lx->comments = comments;
  lx->lenient = lenient;
  lx->depth = 0;
  lx->braces = 0;
  lx->err = NULL;
}

static void skip_space(struct lexer *lx)
{
  while (lx->pos < lx->len) {
    char c = lx->s[lx->pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      lx->pos++;
    } else if (c == '#' && lx->comments) {
      while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
        lx->pos++;
    } else {
      break;
    }
  }
}

static void set_err(struct lexer *lx, struct lex_tok *t, const char *why)
{
  t->kind = LX_ERR;
  lx->err = why;
}

/* Scans string content from lx->pos (just after `"` or after the `)` that
 * closed an interpolation) to the closing quote or the next `\(`. */
static void scan_string(struct lexer *lx, struct lex_tok *t, bool fresh)
{
  size_t from = lx->pos;
  t->escapes = false;
  while (lx->pos < lx->len) {
    char c = lx->s[lx->pos];
    if (c == '"') {
      t->p = lx->s + from;
      t->len = lx->pos - from;
      t->kind = fresh ? LX_STR : LX_STR_CLOSE;
      lx->pos++;
      return;
    }
    if (c == '\\') {
      if (lx->pos + 1 >= lx->len)
        break;
      if (lx->s[lx->pos + 1] == '(') {
        if (lx->depth >= EXPR_LEX_DEPTH) {
          set_err(lx, t, "brackets nest more than 1024 deep; write it with less nesting");
          return;
        }
        lx->stack[lx->depth++] = 'i';
        t->p = lx->s + from;
        t->len = lx->pos - from;
        t->kind = fresh ? LX_STR_OPEN : LX_STR_MID;
        lx->pos += 2;
        return;
      }
      t->escapes = true;
      lx->pos += 2;
      continue;
    }
    lx->pos++;
  }
  lx->pos = lx->len;
  set_err(lx, t, "unterminated string");
}

static const char *const long_ops[] = {"?//", "//=", "|=", "+=", "-=", "*=", "/=", "%=",
                                       "==", "!=", "<=", ">=", "//"};

void lex_next(struct lexer *lx, struct lex_tok *t)
{
  memset(t, 0, sizeof *t);
  if (lx->err) {
    t->kind = LX_ERR;
    return;
  }
  skip_space(lx);
  t->start = lx->pos;
  if (lx->pos >= lx->len) {
    t->kind = LX_EOF;
    return;
  }
  const char *s = lx->s;
  size_t n = lx->len, i = lx->pos;
  char c = s[i];
  t->p = s + i;
  t->len = 1;

  if (c == '"') {
    lx->pos++;
    scan_string(lx, t, true);
    return;
  }
  if (c == '.') {
    if (i + 1 < n && s[i + 1] == '.') {
      t->kind = LX_DOTDOT;
      t->len = 2;
      lx->pos += 2;
      return;
    }
    if (i + 1 < n && lex_is_ident_start((unsigned char)s[i + 1])) {
      size_t j = i + 1;
      while (j < n && lex_is_ident_char((unsigned char)s[j]))
        j++;
      t->kind = LX_FIELD;
      t->p = s + i + 1;
      t->len = j - i - 1;
      lx->pos = j;
      return;
    }
    if (!(i + 1 < n && is_digit((unsigned char)s[i + 1]))) {
      t->kind = LX_DOT;
      lx->pos++;
      return;
    }
    /* `.5` is a number: fall through */
  }
  if (is_digit((unsigned char)c) || c == '.') {
    size_t j = i;
    while (j < n && is_digit((unsigned char)s[j]))
      j++;
    if (j < n && s[j] == '.') {
      j++;
      while (j < n && is_digit((unsigned char)s[j]))
        j++;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
      size_t k = j + 1;
      if (k < n && (s[k] == '+' || s[k] == '-'))
        k++;
      if (k < n && is_digit((unsigned char)s[k])) {
        while (k < n && is_digit((unsigned char)s[k]))
          k++;
        j = k;
      }
    }
    t->kind = LX_NUM;
    t->len = j - i;
    lx->pos = j;
    return;
  }
  if (lex_is_ident_start((unsigned char)c)) {
    size_t j = i;
    for (;;) {
      while (j < n && lex_is_ident_char((unsigned char)s[j]))
        j++;
      if (j + 2 < n && s[j] == ':' && s[j + 1] == ':' && lex_is_ident_start((unsigned char)s[j + 2]))
        j += 2;
      else
        break;
    }
    t->kind = LX_IDENT;
    t->len = j - i;
    lx->pos = j;
    return;
  }
  if (c == '$') {
    lx->pos++;
    skip_space(lx); /* jq 1.6 lexes `$` and the name as two tokens */
    size_t j = lx->pos;
    if (j < n && lex_is_ident_start((unsigned char)s[j])) {
      size_t k = j;
      while (k < n && (lex_is_ident_char((unsigned char)s[k]) ||
                       (s[k] == ':' && k + 1 < n && s[k + 1] == ':'))) {
        k += s[k] == ':' ? 2 : 1;
      }
      t->kind = LX_VAR;
      t->p = s + j;
      t->len = k - j;
      lx->pos = k;
      return;
    }
    t->kind = LX_OP;
    return;
  }
  if (c == '@') {
    size_t j = i + 1;
    while (j < n && lex_is_ident_char((unsigned char)s[j]))
      j++;
    t->kind = j > i + 1 ? LX_FORMAT : LX_OP;
    t->len = j - i;
    lx->pos = j;
    return;
  }
  if (c == '(' || c == '[' || c == '{') {
    if (lx->depth >= EXPR_LEX_DEPTH) {
      set_err(lx, t, "brackets nest more than 1024 deep; write it with less nesting");
      return;
    }
    lx->stack[lx->depth++] = c;
    lx->braces += c == '{';
    t->kind = LX_OPEN;
    lx->pos++;
    return;
  }
  if (c == ')' || c == ']' || c == '}') {
    char top = lx->depth ? lx->stack[lx->depth - 1] : 0;
    bool match = (c == ')' && (top == '(' || top == 'i')) || (c == ']' && top == '[') ||
                 (c == '}' && top == '{');
    lx->pos++;
    if (!match) {
      if (lx->lenient) {
        t->kind = LX_OP;
        return;
      }
      set_err(lx, t, c == ')'   ? "`)` without its `(`"
                     : c == ']' ? "`]` without its `[`"
                                : "`}` without its `{`");
      return;
    }
    lx->depth--;
    lx->braces -= top == '{';
    if (top == 'i') {
      scan_string(lx, t, false);
      return;
    }
    t->kind = LX_CLOSE;
    return;
  }
  for (size_t k = 0; k < sizeof long_ops / sizeof long_ops[0]; k++) {
    size_t l = strlen(long_ops[k]);
    if (i + l <= n && memcmp(s + i, long_ops[k], l) == 0) {
      t->kind = LX_OP;
      t->len = l;
      lx->pos += l;
      return;
    }
  }
  t->kind = LX_OP;
  lx->pos++;
}

bool lex_balanced(const char *s, size_t len, const char **why)
{
  struct lexer lx;
  struct lex_tok t;
  lex_init(&lx, s, len, true, false);
  for (;;) {
    lex_next(&lx, &t);
    if (t.kind == LX_ERR) {
      *why = lx.err;
      return false;
    }
    if (t.kind == LX_EOF)
      break;
  }
  if (lx.depth) {
    char top = lx.stack[lx.depth - 1];
    *why = top == '(' ? "`(` is not closed" : top == '[' ? "`[` is not closed"
         : top == '{' ? "`{` is not closed" : "string interpolation `\\(` is not closed";
    return false;
  }
  *why = NULL;
  return true;
}
