/* test_remote.c — cli/remote: the server URL forms, the token taken only
 * from $WEFT_TOKEN and refused when it could break the request's headers,
 * escaping of path segments, and which commands a server serves. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/remote.h"

static int open_url(const char *url, const char *token, struct remote *r)
{
  struct cli c = {.server = url, .server_flag = true};
  if (token)
    setenv("WEFT_TOKEN", token, 1);
  else
    unsetenv("WEFT_TOKEN");
  return remote_open(&c, NULL, r);
}

Test(remote, url_forms)
{
  struct remote r;
  cr_assert_eq(open_url("http://127.0.0.1:7700/", "weft_x", &r), 0);
  cr_assert_str_eq(r.base, "http://127.0.0.1:7700");
  cr_assert_null(r.unix_path);
  remote_close(&r);
  cr_assert_eq(open_url("https://weft.example.com/prefix//", "weft_x", &r), 0);
  cr_assert_str_eq(r.base, "https://weft.example.com/prefix");
  remote_close(&r);
  cr_assert_eq(open_url("unix:/run/weft.sock", "weft_x", &r), 0);
  cr_assert_str_eq(r.unix_path, "/run/weft.sock");
  cr_assert_str_eq(r.base, "http://localhost");
  remote_close(&r);
  cr_assert_eq(open_url("unix:relative.sock", "weft_x", &r), EXIT_USAGE);
  cr_assert_eq(open_url("ftp://h/", "weft_x", &r), EXIT_USAGE);
  cr_assert_eq(open_url("127.0.0.1:7700", "weft_x", &r), EXIT_USAGE);
  cr_assert_eq(open_url("http://", "weft_x", &r), EXIT_USAGE); /* no host */
  cr_assert_eq(open_url("https:///x", "weft_x", &r), EXIT_USAGE);
}

Test(remote, token_from_the_environment_only_and_checked)
{
  struct remote r;
  cr_assert_eq(open_url("http://h:1", NULL, &r), EXIT_USAGE);
  cr_assert_eq(open_url("http://h:1", "", &r), EXIT_USAGE);
  /* a newline would end the Authorization header and start another */
  cr_assert_eq(open_url("http://h:1", "weft_x\r\nX-Evil: 1", &r), EXIT_USAGE);
  cr_assert_eq(open_url("http://h:1", "weft x", &r), EXIT_USAGE);
  cr_assert_eq(open_url("http://h:1", "weft_\xc3\xa9", &r), EXIT_USAGE);
  cr_assert_eq(open_url("http://h:1", "weft_ok-_.~", &r), 0);
  cr_assert_str_eq(r.auth, "Authorization: Bearer weft_ok-_.~");
  remote_close(&r);
  cr_assert_null(r.auth);
}

Test(remote, escape_one_segment)
{
  char *e = remote_escape("a b/c?d#e%f_g-h.i~j");
  cr_assert_str_eq(e, "a%20b%2Fc%3Fd%23e%25f_g-h.i~j");
  free(e);
  e = remote_escape("");
  cr_assert_str_eq(e, "");
  free(e);
  e = remote_escape("\xff\x01");
  cr_assert_str_eq(e, "%FF%01");
  free(e);
}

Test(remote, which_commands_go_through_a_server)
{
  struct cli c = {.server = "http://h:1", .server_flag = false};
  cr_assert_eq(remote_precheck(&c, "status"), 0);
  cr_assert(remote_wanted(&c));
  cr_assert_eq(remote_precheck(&c, "run"), 0); /* $WEFT_SERVER: run stays local */
  cr_assert_not(remote_wanted(&c));
  struct cli f = {.server = "http://h:1", .server_flag = true};
  cr_assert_eq(remote_precheck(&f, "run"), EXIT_USAGE); /* --server run: an error */
  cr_assert_eq(remote_precheck(&f, "help"), 0);
  cr_assert_not(remote_wanted(&f));
  struct cli a = {.server = "http://h:1", .server_flag = true, .as = "bob"};
  cr_assert_eq(remote_precheck(&a, "approve"), EXIT_USAGE);
  struct cli l = {0};
  cr_assert_eq(remote_precheck(&l, "status"), 0);
  cr_assert_not(remote_wanted(&l));
}
