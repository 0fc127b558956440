/* runview.c — the stored view of a run (see runview.h). */
#include "cli/runview.h"
#include "cli/cli.h"
#include "cli/cmds.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/wtime.h"
#include "util/term.h"

int rv_open_store(const char *home, struct store **out)
{
  char *err = NULL;
  int rc = store_open(home, out, &err);
  if (rc && store_url() && err && !strncmp(err, "store: ", 7)) {
    /* PostgreSQL said no (the home, which holds logs and users.json, is fine) */
    int code = rv_home_problem(home, WEFT_EIO, NULL);
    if (!code) {
      cli_err("cannot open the store of --store / $WEFT_STORE: %s", err + 7);
      code = EXIT_USAGE;
    }
    free(err);
    return code;
  }
  if (rc) {
    int code = rv_home_problem(home, rc, err);
    if (!code) {
      cli_err("cannot open the weft home %s: %s (check the path, or use another folder with "
              "--home DIR)", home, err ? err : weft_strerror(rc));
      code = EXIT_USAGE;
    }
    free(err);
    return code;
  }
  return 0;
}

int rv_open_store_rw(const char *home, struct store **out)
{
  int code = rv_open_store(home, out);
  if (!code && (code = rv_home_writable(*out)) != 0) {
    store_close(*out);
    *out = NULL;
  }
  return code;
}

int rv_find_run(struct store *s, const char *id, struct store_run *out)
{
  struct ops_error e = {0};
  enum ops_err k = ops_find_run(s, id, out, &e);
  if (k)
    cli_err("%s", e.msg);
  return ops_err_exit(k);
}

void rv_print_tail(FILE *out, const char *path, int n, const char *prefix)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    /* the executor creates a log only when the step prints something */
    fprintf(out, "%s(no output)\n", prefix);
    return;
  }
  /* read the last 64 KiB at most, then print its last n lines */
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > 65536 ? size - 65536 : 0;
  fseek(f, from, SEEK_SET);
  char *buf = malloc((size_t)(size - from) + 1);
  size_t got = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
  fclose(f);
  if (!buf)
    return;
  rv_print_tail_buf(out, buf, got, n, prefix);
  free(buf);
}

void rv_print_tail_buf(FILE *out, char *buf, size_t got, int n, const char *prefix)
{
  buf[got] = '\0';
  size_t end = got;
  if (end && buf[end - 1] == '\n')
    end--;
  size_t start = end;
  int lines = 0;
  while (start > 0) {
    if (buf[start - 1] == '\n' && ++lines == n)
      break;
    start--;
  }
  char *p = buf + start;
  buf[end] = '\0';
  while (p && *p) {
    char *nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    fprintf(out, "%s%s\n", prefix, term_safe(p));
    p = nl ? nl + 1 : NULL;
  }
  if (end == 0 && got == 0)
    fprintf(out, "%s(no output)\n", prefix);
}

int rv_exit_code(const char *status)
{
  if (!strcmp(status, "succeeded"))
    return EXIT_OK;
  if (!strcmp(status, "cancelled"))
    return EXIT_CANCELLED;
  return EXIT_RUN_FAILED;
}
