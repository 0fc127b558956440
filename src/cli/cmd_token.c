/* cmd_token.c — `weft token create|list|revoke`: API tokens in the local
 * store (store/tokens.h does the work; docs/tokens.md is the user's guide).
 *
 * Who may: the caller's role (util/users.h, users_role: users.json's
 * "role", else admin for the owner of the home, else viewer). An admin may
 * create, list and revoke tokens of anyone; anyone else only their own.
 * A refusal exits 2 (EXIT_USAGE, as approval refusals do) and writes nothing.
 * USER need not be listed in users.json: such a user's token acts as a
 * viewer (a note on stderr says so). The token is printed once, on stdout,
 * and stored nowhere; neither it nor its hash is ever printed again.
 *
 * Through a server (cli/remote.h) the same three go to POST /tokens, GET
 * /tokens and DELETE /tokens/{id} (admin), printed by the same code; a
 * `token create` without WEFT_TOKEN stays local (the bootstrap on the
 * server's machine) and uses the server's URL only for --login's link. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "cli/remote.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tokens.h"
#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/users.h"
#include "util/wtime.h"

int cli_token(struct cli *c, int argc, char **argv);

#define DEFAULT_SERVER "http://127.0.0.1:7700"

/* The caller's role (c->user set) and, when target is not NULL, the role a
 * token of target acts with and whether users.json lists target. The home
 * must exist (its owner is admin): call after opening the store. */
static int caller_role(struct cli *c, const char *target, enum role *role,
                       enum role *target_role, bool *listed)
{
  struct users u = {0};
  char *err = NULL, *owner_os = NULL, *owner = NULL;
  if (users_load(c->home, &u, &err) != 0) {
    cli_err("%s", err ? err : "users.json in the weft home is not valid");
    free(err);
    return EXIT_USAGE;
  }
  /* the owner of the home acts as admin (unless users.json gives a role) */
  if (users_home_owner(c->home, &owner_os, &err) == 0 &&
      users_identity(&u, owner_os, &owner, &err) != 0)
    owner = NULL;
  free(err);
  *role = users_role(&u, c->user, owner);
  if (target) {
    *target_role = users_role(&u, target, owner);
    *listed = json_object_get(u.map, target) != NULL;
  }
  free(owner_os);
  free(owner);
  users_free(&u);
  return EXIT_OK;
}

static int refuse(struct cli *c, enum role role, const char *what, const char *may)
{
  cli_err("%s is refused: you are %s with role %s, and only an admin may %s (roles come from "
          "\"role\" in users.json in the weft home; its owner is admin unless users.json "
          "says otherwise)",
          what, c->user, role_name(role), may);
  return EXIT_USAGE;
}

static int print_json(json_t *o)
{
  char *txt = o ? wjson_dumps(o, JSON_INDENT(2)) : NULL;
  json_decref(o);
  if (!txt) {
    cli_err("out of memory");
    return EXIT_USAGE;
  }
  printf("%s\n", txt);
  free(txt);
  return EXIT_OK;
}

/* What create prints, alike both ways, from {id, user, name, token,
 * created_at, expires_at} (taken): the token alone, --json the object,
 * --login the one-time link. */
static int print_created(json_t *o, bool json, bool login, const char *server)
{
  const char *token = json_string_value(json_object_get(o, "token"));
  if (!token) {
    json_decref(o);
    cli_err("no token was made (out of memory, or an answer without one)");
    return EXIT_USAGE;
  }
  if (json)
    return print_json(o);
  if (login) {
    size_t n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
      n--;
    printf("%.*s/login#token=%s\n", (int)n, server, token);
  } else {
    printf("%s\n", token);
  }
  json_decref(o);
  return EXIT_OK;
}

static int create_remote(struct cli *c, const char *user, const char *name, const char *expires, bool json,
                         bool login, const char *server)
{
  struct remote r;
  int code = remote_open(c, NULL, &r);
  if (code)
    return code;
  json_t *body = json_pack("{s:s}", "user", user), *res = NULL;
  if (name)
    json_object_set_new(body, "name", json_string(name));
  if (expires)
    json_object_set_new(body, "expires", json_string(expires));
  code = remote_json(&r, "POST", "/api/v1/tokens", body, &res, NULL);
  json_decref(body);
  remote_close(&r);
  if (code)
    return code;
  code = print_created(res, json, login, server);
  fflush(stdout);
  return code;
}

/* GET /api/v1/tokens: the list (bare, or as {"tokens": [...]}) */
static int list_remote(struct cli *c, json_t **out)
{
  struct remote r;
  int code = remote_open(c, NULL, &r);
  if (code)
    return code;
  json_t *j = NULL;
  code = remote_json(&r, "GET", "/api/v1/tokens", NULL, &j, NULL);
  remote_close(&r);
  if (code)
    return code;
  if (json_is_object(j)) {
    json_t *a = json_incref(json_object_get(j, "tokens"));
    json_decref(j);
    j = a;
  }
  if (!json_is_array(j)) {
    json_decref(j);
    cli_err("the weft server answered GET /api/v1/tokens without a list");
    return EXIT_USAGE;
  }
  *out = j;
  return 0;
}

/* DELETE /api/v1/tokens/{id}: the token's metadata */
static int revoke_remote(struct cli *c, const char *id, json_t **out)
{
  struct remote r;
  int code = remote_open(c, NULL, &r);
  if (code)
    return code;
  char *eid = remote_escape(id), *path = NULL;
  if (!eid || asprintf(&path, "/api/v1/tokens/%s", eid) < 0) {
    path = NULL;
    cli_err("out of memory");
    code = EXIT_USAGE;
  } else {
    code = remote_json(&r, "DELETE", path, NULL, out, NULL);
  }
  free(eid);
  free(path);
  remote_close(&r);
  return code;
}

static int token_create(struct cli *c, int argc, char **argv)
{
  const char *user = NULL, *name = NULL, *expires = NULL, *server = NULL;
  bool json = false, login = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--json"))
      json = true;
    else if (!strcmp(a, "--login"))
      login = true;
    else if (!strcmp(a, "--name") && i + 1 < argc)
      name = argv[++i];
    else if (!strncmp(a, "--name=", 7))
      name = a + 7;
    else if (!strcmp(a, "--expires") && i + 1 < argc)
      expires = argv[++i];
    else if (!strncmp(a, "--expires=", 10))
      expires = a + 10;
    else if (!strcmp(a, "--server") && i + 1 < argc)
      server = argv[++i];
    else if (!strncmp(a, "--server=", 9))
      server = a + 9;
    else if (a[0] != '-' && !user)
      user = a;
    else
      return cli_usage_error("token", "unexpected argument \"%s\"", a);
  }
  if (!user)
    return cli_usage_error("token", "say whose token: weft token create USER");
  const char *bad = tokens_check(user, name);
  if (bad)
    return cli_usage_error("token", "%s", bad);
  if (json && login)
    return cli_usage_error("token", "--json and --login print different things; give one");
  int64_t ttl = 0;
  if (expires && (wt_parse_duration(expires, &ttl) != 0 || ttl <= 0))
    return cli_usage_error("token", "--expires needs a duration such as 30d, 12h or 90m, not "
                                    "\"%s\"", expires);
  if (!server || !*server)
    server = c->server ? c->server : getenv("WEFT_SERVER");
  if (!server || !*server)
    server = DEFAULT_SERVER;
  const char *have = getenv("WEFT_TOKEN");
  if (remote_wanted(c) && have && *have)
    return create_remote(c, user, name, expires, json, login, server);
  enum role role, target_role = ROLE_VIEWER;
  bool listed = false;
  struct store *s = NULL;
  int code = cli_identity(c);
  if (code || (code = rv_open_store_rw(c->home, &s)))
    return code;
  if ((code = caller_role(c, user, &role, &target_role, &listed))) {
    store_close(s);
    return code;
  }
  struct ops_ctx ctx = {.store = s, .home = c->home, .user = c->user, .asserted_by = c->asserted_by,
                        .role = role};
  struct ops_error e = {0};
  json_t *o = NULL;
  enum ops_err k = ops_create_token(&ctx, user, name, ttl, &o, &e);
  store_close(s);
  if (k == OPS_E_FORBIDDEN)
    return refuse(c, role, "creating a token for another user", "create tokens for other users");
  if (k)
    return cli_ops_fail(&e);
  if (!listed && target_role == ROLE_VIEWER)
    fprintf(stderr, "weft: note: %s is not in users.json: the token acts as a viewer until "
                    "users.json gives %s a role\n", user, user);
  code = print_created(o, json, login, server);
  fflush(stdout);
  return code;
}

static int token_list(struct cli *c, int argc, char **argv)
{
  bool json = false;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = true;
    else
      return cli_usage_error("token", "unexpected argument \"%s\"", argv[i]);
  }
  enum role role = ROLE_ADMIN; /* over the API only an admin lists tokens */
  json_t *a = NULL;
  int code;
  if (remote_wanted(c)) {
    if ((code = list_remote(c, &a)) != 0)
      return code;
  } else {
    struct store *s = NULL;
    code = cli_identity(c);
    if (code || (code = rv_open_store(c->home, &s)))
      return code;
    if ((code = caller_role(c, NULL, &role, NULL, NULL))) {
      store_close(s);
      return code;
    }
    struct ops_ctx ctx = {.store = s, .home = c->home, .user = c->user, .role = role};
    struct ops_error e = {0};
    enum ops_err k = ops_list_tokens(&ctx, &a, &e);
    store_close(s);
    if (k)
      return cli_ops_fail(&e);
  }
  size_t n = json_array_size(a);
  if (json) {
    code = print_json(json_incref(a));
  } else if (n == 0) {
    printf("no tokens%s\n", role >= ROLE_ADMIN ? "" : " of yours");
  } else {
    printf("%-16s  %-12s  %-16s  %-24s  %-24s  %-24s  %s\n", "ID", "USER", "NAME", "CREATED",
           "EXPIRES", "REVOKED", "LAST USED");
    for (size_t i = 0; i < n; i++) {
      json_t *t = json_array_get(a, i);
#define F(key) (json_string_value(json_object_get(t, key)) ? json_string_value(json_object_get(t, key)) : "-")
      printf("%-16s  %-12s  %-16s  %-24s  %-24s  %-24s  %s\n", F("id"), F("user"), F("name"), F("created_at"),
             F("expires_at"), F("revoked_at"), F("last_used_at"));
#undef F
    }
  }
  json_decref(a);
  return code;
}

static int token_revoke(struct cli *c, int argc, char **argv)
{
  const char *id = NULL;
  for (int i = 2; i < argc; i++) {
    if (argv[i][0] != '-' && !id)
      id = argv[i];
    else
      return cli_usage_error("token", "unexpected argument \"%s\"", argv[i]);
  }
  if (!id)
    return cli_usage_error("token", "say which token: weft token revoke ID (see `weft token "
                                    "list`)");
  json_t *t = NULL;
  int code;
  if (remote_wanted(c)) {
    if ((code = revoke_remote(c, id, &t)) != 0)
      return code;
  } else {
    enum role role;
    struct store *s = NULL;
    code = cli_identity(c);
    if (code || (code = rv_open_store_rw(c->home, &s)))
      return code;
    if ((code = caller_role(c, NULL, &role, NULL, NULL))) {
      store_close(s);
      return code;
    }
    struct ops_ctx ctx = {.store = s, .home = c->home, .user = c->user, .asserted_by = c->asserted_by,
                          .role = role};
    struct ops_error e = {0};
    enum ops_err k = ops_revoke_token(&ctx, id, &t, &e);
    store_close(s);
    if (k == OPS_E_FORBIDDEN)
      return refuse(c, role, "revoking another user's token", "revoke other users' tokens");
    if (k)
      return cli_ops_fail(&e);
  }
  const char *nm = json_string_value(json_object_get(t, "name"));
  printf("revoked %s (%s%s%s)\n", json_string_value(json_object_get(t, "id")),
         json_string_value(json_object_get(t, "user")), nm ? ", " : "", nm ? nm : "");
  json_decref(t);
  return EXIT_OK;
}

int cli_token(struct cli *c, int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("token", "say what to do: create, list or revoke");
  if (!strcmp(argv[1], "create"))
    return token_create(c, argc, argv);
  if (!strcmp(argv[1], "list"))
    return token_list(c, argc, argv);
  if (!strcmp(argv[1], "revoke"))
    return token_revoke(c, argc, argv);
  return cli_usage_error("token", "unknown subcommand \"%s\" (create, list or revoke)", argv[1]);
}
