/* cmds.h — the command table of the weft CLI and helpers the commands share.
 *
 * Every command is `int cli_<name>(struct cli *c, int argc, char **argv)` where
 * argv[0] is the command name; it returns a process exit code (cli.h). */
#ifndef WEFT_CLI_CMDS_H
#define WEFT_CLI_CMDS_H

#include <jansson.h>
#include <stdbool.h>

struct cli {
  const char *home;   /* resolved --home / $WEFT_HOME / ./.weft */
  const char *as;     /* --as USER as given, NULL when absent */
  /* Set by cli_identity(): who this command acts as, and (only when --as
   * named someone else, allowed by users.json) the real identity that
   * asserted it. NULL until then. */
  const char *user;
  const char *asserted_by;
  char *user_own, *asserted_own; /* what user / asserted_by point to */
  bool tty_out;       /* stdout is a terminal */
  /* The CLI against a server (cli/remote.h): --server URL, else
   * $WEFT_SERVER; NULL: local. server_flag: it came from --server. */
  const char *server;
  bool server_flag;
};

struct cli_cmd {
  const char *name;
  int (*fn)(struct cli *c, int argc, char **argv);
  const char *usage;    /* one line: "weft run FILE [-i KEY=VALUE]..." */
  const char *summary;  /* one line */
  const char *help;     /* the rest of `weft CMD --help` */
};

extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* opsctx.c: the ops context of a command that only reads (role viewer, the
 * least any local user has), of one that acts (cli_identity(), then the
 * local role of ops_local_role; 0 or the exit code, the error printed), and
 * an ops failure printed with the exit code of its kind. */
struct ops_ctx;
struct ops_error;
struct store;
void cli_ops_reader(struct cli *c, struct store *s, struct ops_ctx *ctx);
int cli_ops_actor(struct cli *c, struct store *s, struct ops_ctx *ctx);
int cli_ops_fail(const struct ops_error *e);
/* run_group.c: `weft run`'s place in its concurrency group: EXIT_OK to
 * start now (*group: the group to record on the run, or NULL), after
 * waiting for a slot when the group is full; else the exit code (skipped). */
struct wf;
int cli_run_admit(struct cli *c, struct store *s, struct wf *wf, const json_t *inputs, char **group);

/* Prints `weft: <message>` to stderr (a newline is added). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* notes.c: "weft: note: ..." on stderr for keys of w that act only under
 * `weft server` (triggers:, notify:). */
struct wf;
void cli_server_only_notes(const char *path, const struct wf *w);
/* Prints the usage line and a hint to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Options of a command whose only flag is --json (-j): sets *json and
 * leaves optind at the first operand; 0, or the usage error's exit code. */
int cli_json_only(const char *cmd, int argc, char **argv, bool *json);
/* The usage lines alone (after an error printed otherwise); EXIT_USAGE. */
int cli_usage_tail(const char *cmd);
/* true when argv has -h/--help before a `--`. */
bool cli_wants_help(int argc, char **argv);
int cli_print_help(const char *cmd);
/* Establishes c->user (and c->asserted_by) as CLI.md's Identity paragraph
 * says (cli/identity.c). EXIT_OK, or EXIT_USAGE after printing why (users.json
 * writable by others or invalid, --as without allow_as, no user name). */
int cli_identity(struct cli *c);
void cli_identity_free(struct cli *c);

int cli_validate(struct cli *c, int argc, char **argv);
int cli_graph(struct cli *c, int argc, char **argv);
int cli_help(struct cli *c, int argc, char **argv);
int cli_version(struct cli *c, int argc, char **argv);

#endif
