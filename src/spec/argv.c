/* argv.c — what `command:` lists must not do with expressions.
 *
 * - A shell's script: `[sh, -c, "echo ${{ .inputs.x }}"]` (also bash, dash,
 *   zsh, ksh, ash, by path like /bin/sh, with flags before -c such as
 *   `bash -e -c` or `bash -ec`) splices a value into shell text, exactly what
 *   `run:` refuses. The script element may not hold `${{ }}`; the values go
 *   through env: (or as arguments after the script: "$1").
 * - A secret in argv (`${{ .secrets.X }}` in any element) works but every
 *   user of the machine can read it in `ps`: a warning (wf->warnings), not
 *   an error, suggesting env:. */
#include "spec/spec_int.h"

#include <string.h>

#include "expr/expr.h"

static bool is_shell(const char *prog)
{
  static const char *const shells[] = {"sh", "bash", "dash", "zsh", "ksh", "ash", NULL};
  const char *base = strrchr(prog, '/');
  base = base ? base + 1 : prog;
  for (size_t i = 0; shells[i]; i++)
    if (!strcmp(base, shells[i]))
      return true;
  return false;
}

/* Index of the element that a shell runs as its script (the one after the
 * option cluster holding `c`), or 0 when there is none. */
static uint32_t shell_script_index(const struct ynode *v)
{
  if (v->n < 2 || !v->kids[0]->s || !is_shell(v->kids[0]->s))
    return 0;
  for (uint32_t i = 1; i < v->n; i++) {
    const char *a = v->kids[i]->s;
    if (!a || (a[0] != '-' && a[0] != '+') || !strcmp(a, "-") || !strcmp(a, "--"))
      return 0; /* the options end: a script file, not -c */
    if (a[1] == '-')
      continue; /* --norc, --login, ... */
    if ((!strcmp(a + 1, "o") || !strcmp(a + 1, "O")) && i + 1 < v->n) {
      i++; /* -o pipefail */
      continue;
    }
    if (a[0] == '-' && strchr(a + 1, 'c')) {
      uint32_t s = i + 1;
      if (s < v->n && v->kids[s]->s && !strcmp(v->kids[s]->s, "--"))
        s++;
      return s < v->n ? s : 0;
    }
  }
  return 0;
}

static void warn_at(struct sctx *c, int line, int col, const char *msg)
{
  diag_add(&c->w->warnings, c->file, line, col, "%s", msg);
}

void argv_check(struct sctx *c, const struct ynode *v, const char *where)
{
  (void)where;
  if (v->t != Y_SEQ)
    return;
  uint32_t script = shell_script_index(v);
  if (script) {
    const struct ynode *x = v->kids[script];
    if (x->t == Y_STR && expr_has(x->s, x->len)) {
      const char *p = strstr(x->s, "${{");
      int line, col;
      tmpl_pos(c, x, p ? (size_t)(p - x->s) : 0, &line, &col);
      chk_err_at(c, line, col,
                 "expressions are not allowed inside the script of %s -c; pass the value "
                 "through env: (e.g. env: {X: \"${{ ... }}\"}) and use \"$X\"",
                 v->kids[0]->s);
    }
  }
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *x = v->kids[i];
    if (x->t != Y_STR || !expr_has(x->s, x->len))
      continue;
    for (const char *p = x->s; (p = strstr(p, "${{")) != NULL; p += 3) {
      const char *end = strstr(p, "}}");
      size_t n = end ? (size_t)(end - p) : strlen(p);
      const char *sec = NULL;
      for (const char *q = p; q + 8 <= p + n && !sec; q++)
        if (!memcmp(q, "secrets", 7) && (q[7] == '.' || q[7] == '[' || q[7] == ' ' ||
                                          q[7] == '|' || q[7] == '}' || q[7] == ')'))
          sec = q;
      if (!sec)
        continue;
      int line, col;
      tmpl_pos(c, x, (size_t)(p - x->s), &line, &col);
      warn_at(c, line, col,
              "warning: a secret in a command argument is visible to every user of the "
              "machine (ps, /proc); pass it through env: (e.g. env: {TOKEN: \"${{ "
              ".secrets.NAME }}\"}) and read $TOKEN in the program");
      break;
    }
  }
}
