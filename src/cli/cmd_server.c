/* cmd_server.c — `weft server`: its flags, the listen policy, the TLS files
 * and the home's store; then server_run (server/server.h) owns the process. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/listen.h"
#include "server/server.h"
#include "util/err.h"
#include "util/wtime.h"

#define PEM_MAX (1024 * 1024)

/* the whole file as a string, or NULL after printing why */
static char *read_pem(const char *flag, const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_err("%s %s: %s (give the path of a PEM file)", flag, path, strerror(errno));
    return NULL;
  }
  char *p = malloc(PEM_MAX + 1);
  size_t n = p ? fread(p, 1, PEM_MAX + 1, f) : 0;
  fclose(f);
  if (!p || n == 0 || n > PEM_MAX || memchr(p, 0, n)) {
    cli_err("%s %s: %s", flag, path,
            !p ? "out of memory" : n == 0 ? "the file is empty (give a PEM file)"
                 : n > PEM_MAX ? "the file is over 1 MiB: not a PEM certificate or key"
                               : "the file holds NUL bytes: give it in PEM form, not DER");
    free(p);
    return NULL;
  }
  p[n] = 0;
  return p;
}

int cli_server(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {
      {"listen", required_argument, 0, 'l'},  {"tls-cert", required_argument, 0, 'c'},
      {"tls-key", required_argument, 0, 'k'}, {"insecure-http", no_argument, 0, 'I'},
      {"drain", required_argument, 0, 'd'},   {"log-format", required_argument, 0, 'f'},
      {"metrics-public", no_argument, 0, 'M'}, {"workflows", required_argument, 0, 'W'},
      {"http-threads", required_argument, 0, 'T'}, {0, 0, 0, 0}};
  struct server_opts so = {.drain_ms = 30000, .log_format = SERVER_LOG_TEXT, .http_threads = SERVER_HTTP_THREADS};
  const char *listen = LISTEN_DEFAULT, *cert = NULL, *key = NULL;
  bool insecure = false;
  int ch, code = EXIT_USAGE;
  char err[512];
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (ch) {
    case 'l': listen = optarg; break;
    case 'c': cert = optarg; break;
    case 'k': key = optarg; break;
    case 'I': insecure = true; break;
    case 'M': so.metrics_public = true; break;
    case 'W': {
      struct stat st;
      if (stat(optarg, &st) || !S_ISDIR(st.st_mode))
        return cli_usage_error("server", "--workflows %s: not a directory (give the folder of the workflow files)",
                               optarg);
      so.workflows_dir = optarg;
      break;
    }
    case 'd':
      if (wt_parse_duration(optarg, &so.drain_ms) || so.drain_ms < 0)
        return cli_usage_error("server", "--drain %s: give a duration such as 30s or 2m", optarg);
      break;
    case 'f':
      if (!strcmp(optarg, "text"))
        so.log_format = SERVER_LOG_TEXT;
      else if (!strcmp(optarg, "json"))
        so.log_format = SERVER_LOG_JSON;
      else
        return cli_usage_error("server", "--log-format %s: give text or json", optarg);
      break;
    case 'T': {
      char *end = NULL;
      errno = 0;
      long n = strtol(optarg, &end, 10);
      if (errno || end == optarg || *end || n < 1 || n > SERVER_HTTP_THREADS_MAX)
        return cli_usage_error("server", "--http-threads %s: give a number of HTTP threads from 1 to %d (default %d)",
                               optarg, SERVER_HTTP_THREADS_MAX, SERVER_HTTP_THREADS);
      so.http_threads = (unsigned)n;
      break;
    }
    default:
      return cli_usage_error("server", "unknown option or missing value: %s", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return cli_usage_error("server", "unexpected argument \"%s\"", argv[optind]);
  if (!cert != !key)
    return cli_usage_error("server", "give both --tls-cert FILE and --tls-key FILE, or neither");
  if (listen_parse(listen, &so.addr, err, sizeof err))
    return cli_usage_error("server", "%s", err);
  if (listen_policy(&so.addr, cert != NULL, insecure, &so.insecure_warn, err, sizeof err)) {
    cli_err("%s", err);
    return EXIT_USAGE;
  }
  if (cert && (!(so.tls_cert_pem = read_pem("--tls-cert", cert)) || !(so.tls_key_pem = read_pem("--tls-key", key))))
    goto out;
  struct store *s = NULL;
  if ((code = rv_open_store_rw(c->home, &s)) != 0)
    goto out;
  so.home = store_home(s);
  code = server_run(&so, s); /* closes s */
out:
  free(so.tls_cert_pem);
  free(so.tls_key_pem);
  return code;
}
