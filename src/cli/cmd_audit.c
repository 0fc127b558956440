/* cmd_audit.c — `weft audit verify [--checkpoint FILE]...`, `weft audit
 * export [RUN]` and `weft audit checkpoint [--out FILE]`.
 *
 * verify: the chain, the store against it, and each checkpoint (audit.h);
 * exit 1 naming the first problem. checkpoint: verifies first (a broken log
 * is never signed), then prints or appends the signed head
 * (audit/checkpoint.h). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "cli/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "util/err.h"
#include "util/wtime.h"

int cli_audit(struct cli *c, int argc, char **argv);

#define USAGE "say `weft audit verify`, `weft audit export [RUN]` or `weft audit checkpoint`"

/* Runs verify (ops_audit_verify) and reports a problem: EXIT_RUN_FAILED
 * for a broken log; EXIT_OK when intact (head, may be NULL, then gets the
 * verified entries count and head hash). */
static int verify(struct cli *c, struct store *s, const struct audit_checkpoint *cps, size_t n,
                  struct store_audit *head)
{
  json_t *res = NULL;
  if (!s) { /* through a server: GET /api/v1/audit/verify */
    struct remote r;
    int rc = remote_open(c, NULL, &r);
    if (rc == 0) {
      rc = remote_json(&r, "GET", "/api/v1/audit/verify", NULL, &res, NULL);
      remote_close(&r);
    }
    if (rc)
      return rc;
  } else {
    struct ops_ctx ctx;
    struct ops_error e = {0};
    cli_ops_reader(c, s, &ctx);
    if (ops_audit_verify(&ctx, cps, n, &res, &e) != 0)
      return cli_ops_fail(&e);
  }
  int code = EXIT_OK;
  const char *msg = json_string_value(json_object_get(res, "message"));
  json_t *bad = json_object_get(res, "first_bad");
  if (!json_is_true(json_object_get(res, "ok"))) {
    if (json_is_integer(bad))
      cli_err("the audit log is broken at entry %lld: %s", (long long)json_integer_value(bad), msg ? msg : "?");
    else
      cli_err("the audit log does not match the store: %s", msg ? msg : "?");
    code = EXIT_RUN_FAILED;
  } else if (head) {
    const char *h = json_string_value(json_object_get(res, "head"));
    head->seq = json_integer_value(json_object_get(res, "entries"));
    head->hash = h ? strdup(h) : NULL;
  }
  json_decref(res);
  return code;
}

static int cmd_verify(struct cli *c, int argc, char **argv)
{
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  size_t nf = 0;
  struct audit_checkpoint *cps = NULL;
  size_t ncp = 0;
  struct store *s = NULL;
  int code = EXIT_OK;
  if (!files)
    return EXIT_USAGE;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc)
      files[nf++] = argv[++i];
    else if (!strncmp(argv[i], "--checkpoint=", 13))
      files[nf++] = argv[i] + 13;
    else {
      code = cli_usage_error("audit", "unexpected argument \"%s\" (verify takes "
                                      "--checkpoint FILE, repeatable)", argv[i]);
      goto out;
    }
  }
  if (remote_wanted(c) && nf) {
    code = cli_usage_error("audit", "--checkpoint is checked against the home's own key: run "
                                    "`weft audit verify --checkpoint FILE` on the server's machine, "
                                    "without --server");
    goto out;
  }
  if (!remote_wanted(c) && (code = rv_open_store(c->home, &s)))
    goto out;
  for (size_t i = 0; i < nf; i++) {
    struct audit_checkpoint *v = NULL;
    size_t n = 0;
    char *err = NULL;
    int rc = audit_checkpoints_read(store_home(s), files[i], &v, &n, &err);
    if (rc) {
      cli_err("%s", err ? err : weft_strerror(rc));
      free(err);
      /* an altered checkpoint or a replaced key is a finding, not a usage error */
      code = rc == WEFT_EDENIED ? EXIT_RUN_FAILED : EXIT_USAGE;
      goto out;
    }
    struct audit_checkpoint *all = realloc(cps, (ncp + n) * sizeof *cps);
    if (!all) {
      free(v);
      code = EXIT_USAGE;
      goto out;
    }
    cps = all;
    memcpy(cps + ncp, v, n * sizeof *v);
    ncp += n;
    free(v);
  }
  struct store_audit head = {0};
  if ((code = verify(c, s, cps, ncp, &head)))
    goto out;
  printf("audit log intact: %lld entries, head %s; the store agrees with it",
         (long long)head.seq, head.hash ? head.hash : "(empty)");
  if (ncp)
    printf("; it extends %zu checkpoint%s", ncp, ncp == 1 ? "" : "s");
  printf("\n");
  store_audit_clear(&head);
out:
  free(files);
  free(cps);
  store_close(s);
  return code;
}

static int cmd_checkpoint(struct cli *c, int argc, char **argv)
{
  const char *out = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--out") && i + 1 < argc)
      out = argv[++i];
    else if (!strncmp(argv[i], "--out=", 6))
      out = argv[i] + 6;
    else
      return cli_usage_error("audit", "unexpected argument \"%s\" (checkpoint takes --out FILE)",
                             argv[i]);
  }
  if (remote_wanted(c)) {
    cli_err("a checkpoint is signed with the home's own key: run `weft audit checkpoint` on the "
            "server's machine, without --server");
    return EXIT_USAGE;
  }
  struct store *s = NULL;
  int code = rv_open_store(c->home, &s);
  if (code)
    return code;
  char *line = NULL, *err = NULL;
  struct store_audit head = {0};
  if ((code = verify(c, s, NULL, 0, &head))) {
    cli_err("no checkpoint made: a checkpoint must only vouch for an intact log");
    goto done;
  }
  int rc = audit_checkpoint_sign(store_home(s), head.seq, head.hash ? head.hash : AUDIT_GENESIS,
                             wt_now_ms(), &line, &err);
  if (rc) {
    cli_err("cannot sign the checkpoint: %s", err ? err : weft_strerror(rc));
    code = EXIT_USAGE;
    goto done;
  }
  if (!out) {
    printf("%s\n", line);
    goto done;
  }
  int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  size_t n = strlen(line);
  line[n] = '\n'; /* the terminator becomes the newline, written with it */
  bool ok = fd >= 0 && write(fd, line, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0;
  line[n] = '\0';
  if (fd >= 0 && close(fd) != 0)
    ok = false;
  if (!ok) {
    cli_err("cannot append to %s: %s", out, strerror(errno));
    code = EXIT_USAGE;
    goto done;
  }
  printf("checkpoint of entry %lld appended to %s; keep it outside the weft home\n",
         (long long)head.seq, out);
done:
  free(line);
  free(err);
  store_audit_clear(&head);
  store_close(s);
  return code;
}

static int cmd_export(struct cli *c, int argc, char **argv)
{
  if (argc > 3)
    return cli_usage_error("audit", "unexpected argument \"%s\"", argv[3]);
  if (remote_wanted(c)) { /* GET /api/v1/audit[?run=ID]: JSON lines, copied as they come */
    struct remote r;
    int rc = remote_open(c, NULL, &r);
    if (rc)
      return rc;
    char *er = argc == 3 ? remote_escape(argv[2]) : NULL, *path = NULL;
    if (asprintf(&path, "/api/v1/audit%s%s", er ? "?run=" : "", er ? er : "") < 0) {
      path = NULL;
      cli_err("out of memory");
      rc = EXIT_USAGE;
    } else {
      rc = remote_stream(&r, path, NULL, false, NULL);
    }
    free(er);
    free(path);
    remote_close(&r);
    return rc;
  }
  struct store *s;
  int code = rv_open_store(c->home, &s);
  if (code)
    return code;
  struct ops_ctx ctx;
  struct ops_error e = {0};
  cli_ops_reader(c, s, &ctx);
  if (ops_audit_export(&ctx, argc == 3 ? argv[2] : NULL, stdout, &e) != 0)
    code = cli_ops_fail(&e);
  store_close(s);
  return code;
}

int cli_audit(struct cli *c, int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("audit", USAGE);
  if (!strcmp(argv[1], "verify"))
    return cmd_verify(c, argc, argv);
  if (!strcmp(argv[1], "export"))
    return cmd_export(c, argc, argv);
  if (!strcmp(argv[1], "checkpoint"))
    return cmd_checkpoint(c, argc, argv);
  return cli_usage_error("audit", USAGE);
}
