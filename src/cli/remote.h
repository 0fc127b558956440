/* remote.h — the CLI against a server (SERVER.md §5): the HTTP client the
 * commands use when `--server URL` or $WEFT_SERVER names one.
 *
 * A command that works both ways gets its JSON either from an ops_* call
 * (locally) or from the API through these calls, then prints it with ONE
 * renderer, so the two print the same by construction
 * (docs/internals/cli.md). The token is $WEFT_TOKEN only, sent as
 * `Authorization: Bearer`, never printed. An answer that is not 2xx becomes
 * the `weft: MESSAGE` and the exit code the local command gives for the
 * same failure: the API's status maps back to its ops/err.h kind, whose
 * exit code is the local one.
 *
 * URLs: http://HOST:PORT, https://HOST:PORT (a path prefix is kept; the
 * server's certificate is checked against the system's CAs, or the PEM file
 * $WEFT_CA_CERT names), or unix:/path/to/socket (CURLOPT_UNIX_SOCKET_PATH).
 *
 * Ownership: a struct remote owns its strings; answers are malloc'd / new
 * json_t references for the caller. */
#ifndef WEFT_CLI_REMOTE_H
#define WEFT_CLI_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cli;

#define REMOTE_DEFAULT_URL "http://127.0.0.1:7700"

struct remote {
  char *base;      /* scheme://host[:port][/prefix] with no trailing '/' */
  char *unix_path; /* unix:/path: the socket; base is then http://localhost */
  char *shown;     /* the URL as the user gave it, for messages */
  char *auth;      /* "Authorization: Bearer ..." (never printed) */
  bool quiet;      /* failures are returned, not printed */
};

/* The command should go through a server: --server or $WEFT_SERVER. */
bool remote_wanted(const struct cli *c);

/* Sets r up for c->server (or url when not NULL): checks the URL and that
 * $WEFT_TOKEN is set, loads libcurl. 0, or the exit code after printing
 * why (which variable to set, how to make a token). */
int remote_open(const struct cli *c, const char *url, struct remote *r);
void remote_close(struct remote *r);

/* One call. path starts with '/' and is relative to base (e.g.
 * "/api/v1/runs"); body may be NULL. On 2xx: 0, *status the HTTP status,
 * *out the body (NUL-terminated, may be NULL when not wanted). Otherwise the
 * error is printed (`weft: MESSAGE` from {"error": {"code", "message"}}; a
 * server that cannot be reached is named) and its exit code returned; for a
 * 422 with "problems", each problem is printed first. */
int remote_call(struct remote *r, const char *method, const char *path, const char *ctype,
                const char *body, size_t len, long *status, char **out, size_t *outlen);

/* remote_call with a JSON body (NULL: none) and a JSON answer in *out. */
int remote_json(struct remote *r, const char *method, const char *path, const json_t *body,
                json_t **out, long *status);

/* A GET whose body is written to stdout as it arrives, each line prefixed
 * with prefix (NULL: none; a last line without '\n' gets one). Long
 * answers (logs -f, audit export) have no overall time limit. 0 or the exit
 * code (printed); *status the HTTP status when one came (0 otherwise);
 * with quiet_404, a 404 is returned as EXIT_NOT_FOUND without printing. */
int remote_stream(struct remote *r, const char *path, const char *prefix, bool quiet_404, long *status);

/* s escaped for one path segment or query value (malloc'd; NULL: no memory). */
char *remote_escape(const char *s);

/* Run by cli_main before a command: $WEFT_SERVER is dropped (c->server
 * NULL) for a command that only works locally, while --server there is an
 * error; --as with a server is an error. 0 or the exit code (printed). */
int remote_precheck(struct cli *c, const char *cmd);

#endif
