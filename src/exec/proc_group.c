/* proc_group.c — recovery helpers: kill a process group that a dead engine
 * left behind, and ask whether a group still has members.
 *
 * The runtime stores each attempt's pgid durably before relying on it; after
 * a crash, `weft resume` kills the groups of attempts that were running
 * before re-attempting them (LANGUAGE.md §4). Those processes are usually
 * not our children (they were re-parented to init or a subreaper), so we can
 * only poll kill(-pgid, 0) until it says ESRCH; members that ARE our children
 * would stay zombies (still group members) until reaped, so we reap them with
 * waitpid(-pgid, WNOHANG) while polling. Polling is bounded: grace_ms after
 * SIGTERM, then 2 s after SIGKILL. */
#include "exec/proc.h"
#include "util/err.h"
#include "util/wtime.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define POLL_MS 5
#define AFTER_KILL_MS 2000

bool proc_group_alive(pid_t pgid)
{
  if (pgid <= 1)
    return false;
  return kill(-pgid, 0) == 0 || errno == EPERM;
}

static void reap_ours(pid_t pgid)
{
  while (waitpid(-pgid, NULL, WNOHANG) > 0)
    ;
}

/* Polls until the group is gone or ms have passed: true when gone. */
static bool wait_gone(pid_t pgid, int64_t ms)
{
  int64_t deadline = wt_mono_ms() + ms;
  for (;;) {
    reap_ours(pgid);
    if (!proc_group_alive(pgid))
      return true;
    if (wt_mono_ms() >= deadline)
      return false;
    struct timespec ts = {0, POLL_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
}

int proc_group_kill(pid_t pgid, int grace_ms)
{
  if (pgid <= 1)
    return WEFT_EINVAL;
  if (kill(-pgid, SIGTERM) != 0)
    return errno == ESRCH ? 0 : errno == EPERM ? WEFT_EDENIED : WEFT_EIO;
  /* a stopped process would not act on SIGTERM until continued */
  kill(-pgid, SIGCONT);
  if (wait_gone(pgid, grace_ms > 0 ? grace_ms : 0))
    return 0;
  if (kill(-pgid, SIGKILL) != 0 && errno == ESRCH)
    return 0;
  return wait_gone(pgid, AFTER_KILL_MS) ? 0 : WEFT_EBUSY;
}
