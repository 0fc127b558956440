/* diag.c — collecting and printing `file:line:col: message` problems. */
#include "util/diag.h"
#include "util/term.h"

#include <stdlib.h>
#include <string.h>

void diag_vadd(struct diag_list *l, const char *file, int line, int col,
               const char *fmt, va_list ap)
{
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 8;
    struct diag *nv = realloc(l->v, ncap * sizeof *nv);
    if (!nv)
      return; /* out of memory: the problem is dropped, the caller still fails */
    l->v = nv;
    l->cap = ncap;
  }
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    return;
  struct diag *d = &l->v[l->n++];
  d->file = file ? strdup(file) : NULL;
  d->line = line;
  d->col = col;
  d->msg = msg;
}

void diag_add(struct diag_list *l, const char *file, int line, int col,
              const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(l, file, line, col, fmt, ap);
  va_end(ap);
}

void diag_sort(struct diag_list *l)
{
  /* insertion sort: stable, and lists are short */
  for (size_t i = 1; i < l->n; i++) {
    struct diag d = l->v[i];
    size_t j = i;
    while (j > 0 && (l->v[j - 1].line > d.line ||
                     (l->v[j - 1].line == d.line && l->v[j - 1].col > d.col))) {
      l->v[j] = l->v[j - 1];
      j--;
    }
    l->v[j] = d;
  }
}

char *diag_format(const struct diag *d)
{
  char *s = NULL;
  int rc;
  if (d->file && d->line > 0)
    rc = asprintf(&s, "%s:%d:%d: %s", d->file, d->line, d->col > 0 ? d->col : 1, d->msg);
  else if (d->file)
    rc = asprintf(&s, "%s: %s", d->file, d->msg);
  else
    rc = asprintf(&s, "%s", d->msg);
  return rc < 0 ? NULL : s;
}

void diag_print(FILE *f, const struct diag_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    char *s = diag_format(&l->v[i]);
    if (s) {
      fprintf(f, "%s\n", term_safe(s)); /* messages quote the file's text */
      free(s);
    }
  }
}

void diag_list_free(struct diag_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].file);
    free(l->v[i].msg);
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}
