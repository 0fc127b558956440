/* homecheck.c — what to tell a user whose weft home cannot be used: a store
 * file that is not a database (garbage, another program's file), a home on a
 * read-only file system or without write permission, a full disk. Each
 * message names the path and says what to do (see runview.h). */
#include "cli/runview.h"
#include "cli/cmds.h"
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

/* errno of the first thing in the way of writing the home: the home itself
 * (or, while it does not exist, the nearest folder above it), then weft.db;
 * 0 when both can be written. access() reports EROFS for a read-only mount
 * even to root. */
static int write_problem(const char *home)
{
  size_t n = strlen(home);
  char *dir = malloc(n + sizeof "/" STORE_DB_NAME);
  if (!dir)
    return 0;
  memcpy(dir, home, n + 1);
  struct stat st;
  int e = 0;
  while (stat(dir, &st) != 0) {
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
      strcpy(dir, slash == dir ? "/" : ".");
      break;
    }
    *slash = '\0';
  }
  if (access(dir, W_OK) != 0)
    e = errno;
  if (!e) {
    snprintf(dir, n + sizeof "/" STORE_DB_NAME, "%s/%s", home, STORE_DB_NAME);
    if (access(dir, F_OK) == 0 && access(dir, W_OK) != 0)
      e = errno;
  }
  free(dir);
  return e == EROFS || e == EACCES || e == EPERM ? e : 0;
}

static void say_read_only(const char *home, int e)
{
  cli_err("the weft home %s cannot be written (%s); weft keeps its store and logs there: use a "
          "writable folder with --home DIR (or $WEFT_HOME)%s", home, strerror(e),
          e == EROFS ? "" : ", or give the current user write permission on it");
}

/* the short reason shown for a store that cannot be used */
static const char *corrupt_reason(const char *err)
{
  if (err && strstr(err, "empty (0 bytes)"))
    return "it is empty (0 bytes): truncated, or its creation was interrupted";
  if (err && (strstr(err, "not a database") || strstr(err, "not an SQLite database")))
    return "file is not a database";
  if (err && strstr(err, "is not a file"))
    return "it is not a regular file";
  return "integrity check failed";
}

int rv_home_problem(const char *home_arg, int rc, const char *err)
{
  char *home = store_home_resolve(home_arg);
  if (!home)
    return 0;
  int code = 0, e;
  if (rc == WEFT_ECORRUPT) {
    cli_err("%s/%s is not a weft store or is damaged (%s); move it aside (mv %s/%s "
            "%s/%s.bad) and weft starts an empty store, or use another home with --home DIR",
            home, STORE_DB_NAME, corrupt_reason(err),
            home, STORE_DB_NAME, home, STORE_DB_NAME);
    code = EXIT_USAGE;
  } else if (err && (strstr(err, "No space left") || strstr(err, "no space left"))) {
    cli_err("no space left on device for the weft home %s; free some space (or use another "
            "home with --home DIR) and try again", home);
    code = EXIT_USAGE;
  } else if ((e = write_problem(home)) != 0) {
    say_read_only(home, e);
    code = EXIT_USAGE;
  }
  free(home);
  return code;
}

int rv_home_writable(struct store *s)
{
  int e = write_problem(store_home(s));
  if (!e)
    return 0;
  say_read_only(store_home(s), e);
  return EXIT_USAGE;
}
