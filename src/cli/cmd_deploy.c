/* cmd_deploy.c — `weft deploy FILE...` (each file validated and stored as
 * the newest version of its workflow name, in this home) and `weft
 * workflows [NAME]` (the deployed workflows; one with its versions,
 * triggers and next fire times). Both are callers of ops/workflows.c. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "cli/remote.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

#define DEPLOY_READ_MAX (64u << 20) /* as POST /workflows; the loader's own limit is lower */

static void print_json(json_t *j)
{
  char *txt = wjson_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  printf("%s\n", txt ? txt : "null");
  free(txt);
}

/* The file's bytes (NUL-terminated) or NULL after printing why; *code the exit code. */
static char *read_file(const char *path, size_t *len, int *code)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    cli_err("cannot read %s: %s", path, strerror(e));
    *code = e == ENOENT ? EXIT_NOT_FOUND : EXIT_USAGE;
    return NULL;
  }
  size_t cap = 64 * 1024, n = 0;
  char *p = malloc(cap + 1);
  while (p) {
    size_t got = fread(p + n, 1, cap - n, f);
    n += got;
    if (n < cap)
      break;
    if (cap >= DEPLOY_READ_MAX) {
      n = cap + 1; /* over */
      break;
    }
    char *q = realloc(p, cap * 2 + 1);
    if (!q) {
      free(p);
      p = NULL;
      break;
    }
    p = q;
    cap *= 2;
  }
  bool bad = ferror(f);
  fclose(f);
  if (!p || bad || n > DEPLOY_READ_MAX) {
    cli_err("cannot read %s: %s", path, !p ? "out of memory" : bad ? "read error" : "the file is over 64 MiB");
    free(p);
    *code = EXIT_USAGE;
    return NULL;
  }
  p[n] = 0;
  *len = n;
  return p;
}

/* One file through a server: the YAML text as the body, the file's name as
 * given in ?file= (the server names it in problems); 201 deployed, 200
 * unchanged. 0 or the exit code (the problems and message printed). */
static int deploy_remote(struct remote *r, const char *file, const char *text, size_t len, json_t **out)
{
  char *ef = remote_escape(file), *path = NULL, *ans = NULL;
  long status = 0;
  int code;
  if (!ef || asprintf(&path, "/api/v1/workflows?file=%s", ef) < 0) {
    path = NULL;
    cli_err("out of memory");
    code = EXIT_USAGE;
  } else {
    code = remote_call(r, "POST", path, "application/yaml", text, len, &status, &ans, NULL);
  }
  free(ef);
  free(path);
  if (code)
    return code;
  *out = json_loads(ans, 0, NULL);
  free(ans);
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    cli_err("the weft server at %s answered the deploy of %s without JSON", r->shown, file);
    return EXIT_USAGE;
  }
  if (!json_object_get(*out, "created"))
    json_object_set_new(*out, "created", json_boolean(status == 201));
  return 0;
}

int cli_deploy(struct cli *c, int argc, char **argv)
{
  bool json = false;
  int urc = cli_json_only("deploy", argc, argv, &json);
  if (urc)
    return urc;
  if (optind >= argc)
    return cli_usage_error("deploy", "name at least one workflow file");
  struct store *s = NULL;
  struct remote r = {0};
  struct ops_ctx ctx;
  int code;
  if (remote_wanted(c)) { /* POST /api/v1/workflows per file (cli/remote.h) */
    if ((code = remote_open(c, NULL, &r)) != 0)
      return code;
  } else {
    if ((code = rv_open_store_rw(c->home, &s)) != 0)
      return code;
    if ((code = cli_ops_actor(c, s, &ctx)) != 0) {
      store_close(s);
      return code;
    }
  }
  int worst = EXIT_OK;
  json_t *all = json_array();
  for (int i = optind; i < argc; i++) {
    const char *file = argv[i];
    size_t len = 0;
    int rc = EXIT_OK;
    char *text = read_file(file, &len, &rc);
    if (!text) {
      if (worst != EXIT_NOT_FOUND)
        worst = rc;
      continue;
    }
    char abs[PATH_MAX];
    const char *path = realpath(file, abs) ? abs : file;
    json_t *out = NULL, *problems = NULL;
    struct ops_error e = {0};
    if (r.base) {
      rc = deploy_remote(&r, file, text, len, &out);
      free(text);
      if (rc) { /* printed as the local failure is: problems, then the message */
        if (worst != EXIT_NOT_FOUND)
          worst = rc;
        continue;
      }
    }
    enum ops_err k = r.base ? 0 : ops_deploy(&ctx, text, len, file, path, &out, &problems, &e);
    if (!r.base)
      free(text);
    if (k) {
      size_t j;
      json_t *p;
      json_array_foreach(problems, j, p) fprintf(stderr, "%s\n", json_string_value(p));
      json_decref(problems);
      rc = cli_ops_fail(&e);
      if (worst != EXIT_NOT_FOUND)
        worst = rc;
      continue;
    }
    size_t j;
    json_t *w;
    json_array_foreach(json_object_get(out, "warnings"), j, w) fprintf(stderr, "%s\n", json_string_value(w));
    const char *name = json_string_value(json_object_get(out, "name"));
    long long version = json_integer_value(json_object_get(out, "version"));
    const char *hash = json_string_value(json_object_get(out, "hash"));
    if (json)
      json_array_append(all, out);
    else if (json_is_true(json_object_get(out, "created")))
      printf("deployed %s version %lld (hash %.8s)\n", name, version, hash);
    else
      printf("%s unchanged (version %lld)\n", name, version);
    fflush(stdout);
    json_decref(out);
  }
  if (json)
    print_json(all);
  json_decref(all);
  store_close(s);
  remote_close(&r);
  return worst;
}

static const char *str_or(const json_t *v, const char *dflt)
{
  const char *s = json_string_value(v);
  return s ? s : dflt;
}

static void print_one(const json_t *o)
{
  printf("%s version %lld (hash %.8s)\n", str_or(json_object_get(o, "name"), ""),
         (long long)json_integer_value(json_object_get(o, "version")), str_or(json_object_get(o, "hash"), ""));
  const char *desc = json_string_value(json_object_get(o, "description"));
  if (desc)
    printf("  %s\n", desc);
  printf("versions:\n");
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(o, "versions"), i, v)
    printf("  %-4lld %.12s  %s  %s\n", (long long)json_integer_value(json_object_get(v, "version")),
           str_or(json_object_get(v, "hash"), ""), str_or(json_object_get(v, "deployed_at"), ""),
           str_or(json_object_get(v, "deployed_by"), "-"));
  json_t *trig = json_object_get(o, "triggers"), *fires = json_object_get(o, "next_fires");
  if (json_array_size(trig))
    printf("triggers:\n");
  json_array_foreach(trig, i, v) {
    const char *kinds[] = {"schedule", "event", "webhook"};
    for (size_t k = 0; k < 3; k++)
      if (json_is_string(json_object_get(v, kinds[k])))
        printf("  %zu. %s %s\n", i + 1, kinds[k], json_string_value(json_object_get(v, kinds[k])));
    size_t j;
    json_t *t;
    json_array_foreach(json_array_get(fires, i), j, t) printf("       next: %s\n", json_string_value(t));
  }
}

int cli_workflows(struct cli *c, int argc, char **argv)
{
  bool json = false;
  int urc = cli_json_only("workflows", argc, argv, &json);
  if (urc)
    return urc;
  if (argc - optind > 1)
    return cli_usage_error("workflows", "name at most one workflow");
  struct store *s = NULL;
  json_t *out = NULL;
  int code;
  if (remote_wanted(c)) { /* GET /api/v1/workflows[/{name}] */
    struct remote r;
    if ((code = remote_open(c, NULL, &r)) != 0)
      return code;
    char *en = optind < argc ? remote_escape(argv[optind]) : NULL, *path = NULL;
    if (asprintf(&path, "/api/v1/workflows%s%s", en ? "/" : "", en ? en : "") < 0) {
      path = NULL;
      cli_err("out of memory");
      code = EXIT_USAGE;
    } else {
      code = remote_json(&r, "GET", path, NULL, &out, NULL);
    }
    free(en);
    free(path);
    remote_close(&r);
    if (code)
      return code;
    if (optind >= argc && json_is_object(out)) { /* the list, bare or as {"workflows": [...]} */
      json_t *a = json_incref(json_object_get(out, "workflows"));
      json_decref(out);
      out = a;
    }
  } else {
    if ((code = rv_open_store(c->home, &s)) != 0)
      return code;
    struct ops_ctx ctx;
    struct ops_error e = {0};
    cli_ops_reader(c, s, &ctx);
    enum ops_err k = optind < argc ? ops_get_workflow(&ctx, argv[optind], wt_now_ms(), &out, &e)
                                   : ops_list_workflows(&ctx, &out, &e);
    if (k) {
      store_close(s);
      return cli_ops_fail(&e);
    }
  }
  if (json) {
    print_json(out);
  } else if (optind < argc) {
    print_one(out);
  } else if (json_array_size(out) == 0) {
    printf("no workflows deployed yet (deploy one with `weft deploy FILE`)\n");
  } else {
    printf("%-32s  %-7s  %-8s  %-24s  %s\n", "NAME", "VERSION", "HASH", "DEPLOYED", "BY");
    size_t i;
    json_t *v;
    json_array_foreach(out, i, v)
      printf("%-32s  %-7lld  %.8s  %-24s  %s\n", str_or(json_object_get(v, "name"), ""),
             (long long)json_integer_value(json_object_get(v, "version")), str_or(json_object_get(v, "hash"), ""),
             str_or(json_object_get(v, "deployed_at"), ""), str_or(json_object_get(v, "deployed_by"), "-"));
  }
  json_decref(out);
  store_close(s);
  return EXIT_OK;
}
