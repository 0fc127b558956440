/* main_cli.c — global options (--home, --as), command dispatch, help texts.
 *
 * The table below is the one list of commands: `weft help` prints it and
 * `weft CMD --help` prints an entry. Commands live one family per file in
 * src/cli/cmd_*.c and use only the spec, engine, runtime and store APIs. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/remote.h"
#include "store/store.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/term.h"

int cli_run(struct cli *c, int argc, char **argv);
int cli_status(struct cli *c, int argc, char **argv);
int cli_runs(struct cli *c, int argc, char **argv);
int cli_logs(struct cli *c, int argc, char **argv);
int cli_cancel(struct cli *c, int argc, char **argv);
int cli_retry(struct cli *c, int argc, char **argv);
int cli_resume(struct cli *c, int argc, char **argv);
int cli_server(struct cli *c, int argc, char **argv);
int cli_audit(struct cli *c, int argc, char **argv);
int cli_event(struct cli *c, int argc, char **argv);
int cli_approvals(struct cli *c, int argc, char **argv);
int cli_approve(struct cli *c, int argc, char **argv);
int cli_reject(struct cli *c, int argc, char **argv);
int cli_prune(struct cli *c, int argc, char **argv);
int cli_token(struct cli *c, int argc, char **argv);
int cli_start(struct cli *c, int argc, char **argv);
int cli_deploy(struct cli *c, int argc, char **argv);
int cli_workflows(struct cli *c, int argc, char **argv);
int cli_schedules(struct cli *c, int argc, char **argv);
int cli_backfill(struct cli *c, int argc, char **argv);

const struct cli_cmd cli_cmds[] = {
  {"run", cli_run, "weft run FILE [-i KEY=VALUE]... [--inputs FILE.json] [--json] [-v]",
   "validate, start a run and execute it here until it ends",
   "Options:\n"
   "  -i, --input KEY=VALUE  set an input, read by its declared type: a string input\n"
   "                         takes VALUE as written (version=2.0 is \"2.0\"); other\n"
   "                         types parse it as JSON (n=3 is the integer 3)\n"
   "  --inputs FILE.json     read inputs from a JSON object file (-i wins)\n"
   "  --json                 print the final run as `weft status --json` does\n"
   "  -v, --verbose          stream step output, each line prefixed with [step]\n"
   "Exit: 0 succeeded, 1 failed, 2 invalid, 3 cancelled, 130 interrupted.\n"},
  {"validate", cli_validate, "weft validate FILE...", "check workflow files",
   "Prints every problem as file:line:col: message. Exit 0 when all files are valid,\n"
   "2 when any has a problem, 4 when a file does not exist.\n"},
  {"graph", cli_graph, "weft graph FILE [--format text|dot|mermaid]", "print the step graph",
   "  --format text     steps in topological order with what they need (default)\n"
   "  --format dot      Graphviz\n"
   "  --format mermaid  Mermaid flowchart\n"},
  {"runs", cli_runs, "weft runs [--status S] [--workflow W] [--limit N] [--json]",
   "list runs, newest first", ""},
  {"status", cli_status, "weft status RUN [--json] [--watch] [--all-instances]", "show one run and its steps",
   "RUN is a run id or any unique prefix of one.\n"},
  {"logs", cli_logs, "weft logs RUN [STEP[:INDEX]] [--attempt N] [-f]", "show step output",
   "  -f, --follow   keep printing output of live steps until the run ends\n"},
  {"cancel", cli_cancel, "weft cancel RUN [--step STEP]...", "cancel a run, or withdraw some of its steps",
   "Running processes get SIGTERM, then SIGKILL after 10 s; the run ends cancelled.\n"
   "With --step, only those steps are withdrawn (a running, waiting or retrying step ends\n"
   "cancelled with error kind withdrawn, a pending one skipped) and the run goes on.\n"},
  {"retry", cli_retry, "weft retry RUN [--from STEP]", "run failed steps again, in the same run", ""},
  {"resume", cli_resume, "weft resume [RUN]", "continue runs whose engine died", ""},
  {"approvals", cli_approvals, "weft approvals [--json]", "list decisions waiting for a human",
   "Lists every waiting approval step of every run: its message, who may decide now\n"
   "(escalations included), approvals so far, the form's fields and the deadline.\n"},
  {"approve", cli_approve,
   "weft approve RUN STEP [--comment TEXT] [--field KEY=VALUE]... [--as USER]",
   "approve a waiting approval step",
   "  --comment TEXT     recorded with the decision\n"
   "  --field KEY=VALUE  edit a field of the step's form (VALUE is JSON for non-string types)\n"
   "  --as USER          decide as USER: only when users.json has \"allow_as\": true, and\n"
   "                     recorded as asserted (with your real name as asserted_by)\n"
   "You act as the operating-system user running weft (its effective uid, never $USER),\n"
   "mapped by users.json (\"os_user\"); groups come from users.json too.\n"
   "STEP may be STEP:INDEX for one instance of a for_each approval.\n"
   "A refused decision (not an approver, self-approval, decided twice, not waiting)\n"
   "exits 2 and is recorded in the audit log. Exit 4: no such run or step.\n"},
  {"reject", cli_reject, "weft reject RUN STEP [--comment TEXT] [--as USER]",
   "reject a waiting approval step",
   "The step fails with kind \"rejected\" (never retried). Refusals as for approve.\n"},
  {"event", cli_event, "weft event send NAME [--data JSON] [--run RUN] [--json]",
   "deliver an event to waiting steps and start the runs of its event triggers",
   "Options:\n"
   "  --data JSON  the payload (default {}): `.event` in the step's match, then its outputs\n"
   "  --run RUN    for that run only: kept until one of its waits consumes it (a wait that\n"
   "               starts later still gets it); no trigger fires\n"
   "  --json       print {id, name, delivered_to, started} as POST /api/v1/events answers\n"
   "Engines executing runs here deliver it within 1 s; runs no engine executes get it at\n"
   "the next `weft resume`. Each `triggers: [{event: NAME, match: ...}]` of a deployed\n"
   "workflow whose match accepts the payload records a run that `weft server` starts.\n"},
  {"audit", cli_audit,
   "weft audit verify [--checkpoint FILE]... | export [RUN] | checkpoint [--out FILE]",
   "check the audit log / print it as JSON lines / sign its head",
   "weft audit verify [--checkpoint FILE]...\n"
   "  Checks the hash chain (edits, deletions, reordering) AND that every run, step\n"
   "  transition, attempt, decision and definition in the store has its audit entries,\n"
   "  so a cut tail or an emptied log is found too. Exit 0 intact, 1 naming the first\n"
   "  problem. With --checkpoint (repeatable), also that each checkpoint's signature\n"
   "  holds and the chain still has the entry it recorded: only this finds a chain\n"
   "  recomputed from scratch together with the store.\n"
   "weft audit export [RUN]\n"
   "  Prints the entries (of one run) as JSON lines; entries naming a person say\n"
   "  \"identity\": \"verified\" (the OS user) or \"asserted\" (--as).\n"
   "weft audit checkpoint [--out FILE]\n"
   "  Verifies, then prints (or appends to FILE) {seq, hash, at, key, sig}: the chain head\n"
   "  signed with the home's Ed25519 key (audit.key, created 0600 on first use; public\n"
   "  key in audit.pub). Keep checkpoints outside the home (a ticket, a log service,\n"
   "  another machine): they prove that nothing before them was rewritten.\n"},
  {"prune", cli_prune, "weft prune --older-than D [--dry-run]",
   "delete old finished runs with their logs and workspaces",
   "Deletes runs that ended (succeeded, failed, cancelled) more than D ago (e.g. 30d,\n"
   "12h) from the store, with their logs and workspaces in the home, and writes one\n"
   "run.pruned audit entry per run: the chain keeps every entry and still verifies.\n"
   "Sub-workflow runs go with their top-level run (never on their own), and a run\n"
   "is kept while any of its sub-workflow runs is still active.\n"
   "  --dry-run   list what would be deleted; delete nothing\n"},
  {"token", cli_token,
   "weft token create USER [--name N] [--expires D] [--json] [--login] | list [--json] | "
   "revoke ID",
   "create, list and revoke API tokens",
   "weft token create USER [--name N] [--expires D] [--json] [--login] [--server URL]\n"
   "  Prints the new token alone on one line, once: only its SHA-256 is stored.\n"
   "  --name N      a label for the token\n"
   "  --expires D   refused after D (e.g. 30d, 12h); default: never\n"
   "  --json        print {id, user, name, token, created_at, expires_at}\n"
   "  --login       print BASE/login#token=TOKEN instead, BASE from --server or\n"
   "                $WEFT_SERVER (default http://127.0.0.1:7700)\n"
   "weft token list [--json]\n"
   "  id, user, name, created, expires, revoked, last used (never a token or a hash).\n"
   "weft token revoke ID\n"
   "  ID is a token id or any unique prefix of one; a revoked token is refused at once.\n"
   "Roles come from \"role\" in users.json (viewer, operator, admin); the owner of the\n"
   "home is admin unless users.json says otherwise, anyone unlisted is a viewer. An admin\n"
   "may create, list and revoke anyone's tokens; others only their own (else exit 2).\n"
   "A user users.json does not list may have a token: it acts as a viewer.\n"
   "Every create and revoke is in the audit log (who, which token id; never the token).\n"},
  {"deploy", cli_deploy, "weft deploy FILE... [--json]",
   "validate workflow files and store each as the newest version of its name",
   "Each file is validated (problems printed as file:line:col: message, exit 2) and\n"
   "stored in this home as the newest version of its workflow name: versions count\n"
   "1, 2, 3... per name, by content hash. A file identical to the newest version\n"
   "changes nothing (\"NAME unchanged\"); any other content, even an older version's,\n"
   "becomes the next version. Runs already started keep the version they started\n"
   "with; `weft server` starts the newest one (POST /api/v1/workflows/NAME/runs,\n"
   "triggers, `workflow: {name: NAME}` steps). Needs the operator role.\n"
   "  --json   print [{name, version, hash, created}] (the API's answers)\n"},
  {"workflows", cli_workflows, "weft workflows [NAME] [--json]",
   "list deployed workflows, or show one with its versions and triggers",
   "Without NAME: the newest version of every deployed workflow. With NAME: its\n"
   "versions, description, triggers with their next fire times (and with --json\n"
   "its source and inputs), as GET /api/v1/workflows/NAME answers.\n"},
  {"start", cli_start,
   "weft start NAME [-i KEY=VALUE]... [--inputs FILE.json] [--idempotency-key K] [--wait [--json]]",
   "start a run of a deployed workflow through a server and print its id",
   "Always through a server: --server URL, else $WEFT_SERVER, else http://127.0.0.1:7700,\n"
   "with the token in $WEFT_TOKEN (its user starts the run; trigger \"api\").\n"
   "  -i, --input KEY=VALUE    an input, read by its declared type as `weft run` reads it\n"
   "  --inputs FILE.json       inputs from a JSON object file (-i wins)\n"
   "  --idempotency-key K      the same key again starts nothing: the same run's id\n"
   "  --wait                   follow the run to its end, print what `weft run` prints at\n"
   "                           its end and exit as it does (0, 1 failed, 3 cancelled)\n"
   "  --json                   with --wait: the final run as `weft status --json` prints it\n"},
  {"schedules", cli_schedules, "weft schedules [--json]",
   "list the schedule triggers of deployed workflows with their next 5 fire times",
   "Every `schedule:` trigger of the newest deployed version of each workflow,\n"
   "numbered as in its `triggers:` list (1, 2, ...), with its time zone, catch_up,\n"
   "overlap, its next 5 fire times (RFC 3339, UTC) and the last time it fired.\n"
   "With --server URL (or $WEFT_SERVER, token in $WEFT_TOKEN) the same through\n"
   "GET /api/v1/schedules.\n"
   "  --json   print {\"schedules\": [...]} as GET /api/v1/schedules answers\n"},
  {"backfill", cli_backfill, "weft backfill NAME --from T --to T [--trigger N] [--max-runs-at-once K] [--json]",
   "queue one run per scheduled time of a past window that has no run yet",
   "For each schedule trigger of NAME (only trigger N with --trigger), every\n"
   "scheduled time in [--from, --to) that has no run yet gets one, with\n"
   "`.trigger.scheduled_for` set; a time that already ran (or was backfilled) is\n"
   "skipped, so running the same backfill twice starts nothing new. T is an RFC\n"
   "3339 time (2026-01-01T00:00:00Z) or a date (2026-01-01: midnight in the\n"
   "trigger's time zone). The runs are recorded queued; `weft server` starts\n"
   "them (at most K at once with --max-runs-at-once). Needs the operator role.\n"},
  {"server", cli_server,
   "weft server [--listen ADDR] [--tls-cert FILE --tls-key FILE] [--insecure-http] [--drain 30s] "
   "[--log-format text|json] [--metrics-public] [--workflows DIR] [--http-threads N]",
   "serve the HTTP API, health and metrics; resume runs a dead engine left",
   "Serves the home until SIGTERM or SIGINT (then readyz answers 503, no step starts,\n"
   "running steps get up to --drain (a second signal: no wait), and it exits 0; what is\n"
   "left is resumed by the next server). One server per home; `weft run` works beside it.\n"
   "At start it resumes every run whose engine died. SIGHUP re-reads users.json and\n"
   "deploys --workflows DIR again.\n"
   "  --listen ADDR        HOST:PORT, [v6]:PORT or unix:/path (default 127.0.0.1:7700)\n"
   "  --tls-cert FILE, --tls-key FILE   serve HTTPS (PEM files)\n"
   "  --insecure-http      allow plain HTTP off loopback (a warning is logged)\n"
   "  --drain D            how long running steps may finish when stopping (30s)\n"
   "  --log-format F       text (default) or json: one line per event on stderr\n"
   "  --metrics-public     GET /metrics without a token\n"
   "  --workflows DIR      deploy every DIR/*.yaml at start and on SIGHUP (`weft deploy`);\n"
   "                       a file with problems is logged and skipped\n"
   "  --http-threads N     threads answering HTTP requests, 1 to 64 (default 8)\n"},
  {"worker", NULL, "weft worker", "worker for a shared store (not available yet)", ""},
  {"help", cli_help, "weft help [CMD]", "list commands, or show one command's help", ""},
  {"version", cli_version, "weft version", "print the version", ""},
  {NULL, NULL, NULL, NULL, NULL},
};

const struct cli_cmd *cli_find(const char *name)
{
  for (const struct cli_cmd *k = cli_cmds; k->name; k++)
    if (!strcmp(k->name, name))
      return k;
  return NULL;
}

/* "weft: MESSAGE\n" on stderr; messages quote step errors, file names,
 * values: escaped (util/term.h) */
static void vmsg(const char *fmt, va_list ap)
{
  char *buf = NULL;
  if (vasprintf(&buf, fmt, ap) < 0)
    buf = NULL;
  fputs("weft: ", stderr);
  fputs(buf ? term_safe(buf) : "(out of memory)", stderr);
  fputc('\n', stderr);
  free(buf);
}

void cli_err(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
  return cli_usage_tail(cmd);
}

int cli_json_only(const char *cmd, int argc, char **argv, bool *json)
{
  static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
  int ch;
  *json = false;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
    if (ch != 'j')
      return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
    *json = true;
  }
  return 0;
}

int cli_usage_tail(const char *cmd)
{
  const struct cli_cmd *k = cmd ? cli_find(cmd) : NULL;
  if (k)
    fprintf(stderr, "usage: %s\nSee `weft %s --help`.\n", k->usage, k->name);
  else
    fprintf(stderr, "See `weft help`.\n");
  return EXIT_USAGE;
}

bool cli_wants_help(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      return false;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
      return true;
  }
  return false;
}

int cli_print_help(const char *cmd)
{
  const struct cli_cmd *k = cli_find(cmd);
  if (!k)
    return cli_usage_error(NULL, "unknown command \"%s\"", cmd);
  printf("usage: %s\n\n%s.\n", k->usage, k->summary);
  if (k->help && *k->help)
    printf("\n%s", k->help);
  printf("\nGlobal options: --home DIR (else $WEFT_HOME, else ./.weft); --as USER (refused\n"
         "unless users.json in the home has \"allow_as\": true; see `weft approve --help`);\n"
         "--server URL (else $WEFT_SERVER): go through that weft server's API with the token\n"
         "in $WEFT_TOKEN, acting as its user (runs, status, logs, cancel, retry, approvals,\n"
         "approve, reject, event, deploy, workflows, start, schedules, token, audit; the output\n"
         "is the same as locally). URL: http://HOST:PORT, https://HOST:PORT or unix:/path.\n"
         "--store URL (else $WEFT_STORE): the PostgreSQL database (postgresql://...) that\n"
         "holds the state instead of the home's SQLite file.\n");
  return EXIT_OK;
}

int cli_help(struct cli *c, int argc, char **argv)
{
  (void)c;
  if (argc > 1)
    return cli_print_help(argv[1]);
  printf("weft %s — durable workflows in one small binary\n\n"
         "usage: weft [--home DIR] [--store URL] [--as USER] [--server URL] COMMAND [ARGS]\n\n"
         "Commands:\n", WEFT_VERSION);
  for (const struct cli_cmd *k = cli_cmds; k->name; k++)
    printf("  %-10s %s\n", k->name, k->summary);
  printf("\nRun `weft COMMAND --help` for a command's options.\n"
         "State lives in --home DIR, else $WEFT_HOME, else ./.weft; with --server URL (or\n"
         "$WEFT_SERVER) and $WEFT_TOKEN, the commands that can go through that server's API.\n"
         "--store postgresql://... (or $WEFT_STORE) keeps the database in PostgreSQL instead\n"
         "of the home's SQLite file (docs/scale-out.md).\n");
  return EXIT_OK;
}

int cli_version(struct cli *c, int argc, char **argv)
{
  (void)c; (void)argc; (void)argv;
  printf("weft %s\n", WEFT_VERSION);
  return EXIT_OK;
}

/* Removes a global option (with its value) from argv wherever it appears
 * before `--`; returns its value or NULL. */
static const char *take_global(int *argc, char **argv, const char *name, int *bad)
{
  size_t n = strlen(name);
  const char *val = NULL;
  for (int i = 1; i < *argc; i++) {
    if (!strcmp(argv[i], "--"))
      break;
    int drop = 0;
    if (!strcmp(argv[i], name)) {
      if (i + 1 >= *argc) {
        *bad = 1;
        return NULL;
      }
      val = argv[i + 1];
      drop = 2;
    } else if (!strncmp(argv[i], name, n) && argv[i][n] == '=') {
      val = argv[i] + n + 1;
      drop = 1;
    }
    if (drop) {
      memmove(&argv[i], &argv[i + drop], (size_t)(*argc - i - drop + 1) * sizeof *argv);
      *argc -= drop;
      i--;
    }
  }
  return val;
}

int cli_main(int argc, char **argv)
{
  struct cli c = {0};
  int bad = 0;
  const char *home = take_global(&argc, argv, "--home", &bad);
  const char *as = take_global(&argc, argv, "--as", &bad);
  const char *server = take_global(&argc, argv, "--server", &bad);
  const char *store = take_global(&argc, argv, "--store", &bad);
  int bad_token = 0;
  const char *token = take_global(&argc, argv, "--token", &bad_token);
  if (bad)
    return cli_usage_error(NULL, "--home, --as, --server and --store need a value");
  if (token || bad_token) {
    cli_err("--token is refused: a token on the command line is readable by every user of this "
            "machine (ps, shell history); set WEFT_TOKEN instead");
    return EXIT_USAGE;
  }
  if (store)
    store_set_url(store); /* every store_open of this process (store.h) */
  c.server_flag = server != NULL;
  c.server = server ? server : getenv("WEFT_SERVER");
  if (c.server && !*c.server)
    c.server = NULL;
  c.home = home ? home : getenv("WEFT_HOME");
  if (!c.home || !*c.home)
    c.home = ".weft";
  c.as = as;
  c.tty_out = isatty(STDOUT_FILENO);

  if (argc < 2) {
    cli_help(&c, 1, argv);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h"))
    return cli_help(&c, 1, argv);
  if (!strcmp(name, "--version"))
    return cli_version(&c, 1, argv);
  const struct cli_cmd *k = cli_find(name);
  if (!k)
    return cli_usage_error(NULL, "unknown command \"%s\"", name);
  if (cli_wants_help(argc - 1, argv + 1))
    return cli_print_help(name);
  if (!k->fn) {
    cli_err("`weft %s` is not available in this build yet", name);
    return EXIT_USAGE;
  }
  int rc = remote_precheck(&c, name);
  if (rc)
    return rc;
  rc = as && !remote_wanted(&c) ? cli_identity(&c) : EXIT_OK; /* --as refused up front unless allowed */
  if (rc == EXIT_OK)
    rc = k->fn(&c, argc - 1, argv + 1);
  cli_identity_free(&c);
  return rc;
}
