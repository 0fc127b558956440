/* cmd_validate.c — `weft validate FILE...` and `weft graph FILE`.
 *
 * Both load workflows through the spec module; validate prints every problem
 * of every file as file:line:col: message (stderr), graph prints the step DAG
 * as text, Graphviz dot or Mermaid. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "spec/model.h"
#include "util/err.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Loads one file, printing its problems. Returns an exit code. */
static int load_or_report(const char *path, struct wf **out)
{
  struct stat st;
  *out = NULL;
  if (stat(path, &st) != 0) {
    cli_err("cannot read %s: %s", path, strerror(errno));
    return errno == ENOENT ? EXIT_NOT_FOUND : EXIT_USAGE;
  }
  struct diag_list d = {0};
  int rc = wf_load_file(path, out, &d);
  diag_sort(&d);
  diag_print(stderr, &d);
  if (rc && d.n == 0)
    cli_err("%s: %s", path, weft_strerror(rc));
  size_t n = d.n;
  diag_list_free(&d);
  if (!rc && *out) {
    diag_sort(&(*out)->warnings);
    diag_print(stderr, &(*out)->warnings);
  }
  if (rc) {
    if (n > 1)
      cli_err("%s: %zu problems; fix them and run `weft validate %s` again", path, n, path);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

int cli_validate(struct cli *c, int argc, char **argv)
{
  (void)c;
  if (argc < 2)
    return cli_usage_error("validate", "name at least one workflow file");
  int worst = EXIT_OK;
  for (int i = 1; i < argc; i++) {
    struct wf *w;
    int rc = load_or_report(argv[i], &w);
    if (rc == EXIT_OK) {
      printf("%s: ok (%u steps)\n", argv[i], w->n_steps);
      fflush(stdout);
      cli_server_only_notes(argv[i], w);
      wf_free(w);
    } else if (worst != EXIT_NOT_FOUND) {
      worst = rc;
    }
  }
  return worst;
}

/* dot and mermaid want quoted ids; step ids match [a-z0-9][a-z0-9_-]*, so
 * only the workflow name needs care, and it has the same pattern. */
static void graph_text(const struct wf *w)
{
  printf("%s\n", w->name);
  for (uint32_t k = 0; k < w->n_steps; k++) {
    const struct wf_step *s = &w->steps[w->topo[k]];
    printf("  %s%s [%s]", s->is_finally ? "finally " : "", s->id,
           s->end_status ? "end" : s->n_cancel ? "cancel" : wf_kind_name(s->kind));
    if (s->for_each)
      printf(" for_each");
    for (uint32_t j = 0; j < s->n_cancel; j++) /* the steps a cancel step withdraws */
      printf("%s%s", j ? ", " : " withdraws ", w->steps[s->cancel[j]].id);
    if (s->mutex)
      printf(" mutex %s%s", s->mutex, s->mutex_global ? " (global)" : "");
    if (s->n_needs) {
      printf(" <- ");
      if (s->join_count) /* a partial join */
        printf("%u of ", s->join_count);
      for (uint32_t j = 0; j < s->n_needs; j++)
        printf("%s%s", j ? ", " : "", w->steps[s->needs[j]].id);
    }
    printf("\n");
  }
}

static void graph_dot(const struct wf *w)
{
  printf("digraph \"%s\" {\n  rankdir=LR;\n", w->name);
  for (uint32_t k = 0; k < w->n_steps; k++) {
    const struct wf_step *s = &w->steps[w->topo[k]];
    printf("  \"%s\" [label=\"%s\\n(%s)\"%s];\n", s->id, s->id, wf_kind_name(s->kind),
           s->is_finally ? ", style=dashed" : "");
  }
  for (uint32_t k = 0; k < w->n_steps; k++) {
    const struct wf_step *s = &w->steps[w->topo[k]];
    for (uint32_t j = 0; j < s->n_needs; j++)
      printf("  \"%s\" -> \"%s\";\n", w->steps[s->needs[j]].id, s->id);
  }
  printf("}\n");
}

static void graph_mermaid(const struct wf *w)
{
  printf("flowchart LR\n");
  for (uint32_t k = 0; k < w->n_steps; k++) {
    const struct wf_step *s = &w->steps[w->topo[k]];
    printf("  %s[\"%s%s (%s)\"]\n", s->id, s->is_finally ? "finally: " : "", s->id,
           wf_kind_name(s->kind));
  }
  for (uint32_t k = 0; k < w->n_steps; k++) {
    const struct wf_step *s = &w->steps[w->topo[k]];
    for (uint32_t j = 0; j < s->n_needs; j++)
      printf("  %s --> %s\n", w->steps[s->needs[j]].id, s->id);
  }
}

int cli_graph(struct cli *c, int argc, char **argv)
{
  (void)c;
  static const struct option opts[] = {{"format", required_argument, 0, 'f'}, {0, 0, 0, 0}};
  const char *format = "text";
  int ch;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
    if (ch == 'f')
      format = optarg;
    else
      return cli_usage_error("graph", "unknown option %s", argv[optind - 1]);
  }
  if (argc - optind != 1)
    return cli_usage_error("graph", "name exactly one workflow file");
  if (strcmp(format, "text") && strcmp(format, "dot") && strcmp(format, "mermaid"))
    return cli_usage_error("graph", "unknown format \"%s\" (use text, dot or mermaid)", format);
  struct wf *w;
  int rc = load_or_report(argv[optind], &w);
  if (rc)
    return rc;
  if (!strcmp(format, "dot"))
    graph_dot(w);
  else if (!strcmp(format, "mermaid"))
    graph_mermaid(w);
  else
    graph_text(w);
  wf_free(w);
  return EXIT_OK;
}
