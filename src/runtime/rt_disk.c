/* rt_disk.c — saying "no space left on device" where a full disk is the
 * reason: a step log that could not be written (the attempt's result stands,
 * its log is cut short), and a program that failed while the disk holding the
 * home is full (its own write of $WEFT_OUTPUT or its log most likely failed,
 * and "exited with status 1" alone does not say why). */
#include "runtime/rt_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

bool rt_disk_full(const char *path)
{
  struct statvfs v;
  return path && statvfs(path, &v) == 0 && v.f_bavail == 0;
}

void rt_disk_log_failed(struct runtime *rt, const struct rt_run *run, const char *step,
                        int32_t index, uint32_t attempt, int err)
{
  char label[96];
  if (index >= 0)
    snprintf(label, sizeof label, "%s[%d]", step, (int)index);
  else
    snprintf(label, sizeof label, "%s", step);
  char *log = rt_log_path(store_home(rt->store), run->id, step, index, attempt);
  fprintf(stderr, "weft: %s: cannot write its log %s: %s (%sthe step's result stands, its log is "
          "cut short)\n", label, log ? log : "(unknown)", strerror(err),
          err == ENOSPC ? "free some space; " : "");
  free(log);
}

const char *rt_disk_explain(struct runtime *rt, const char *message, char *buf, size_t n)
{
  const char *home = store_home(rt->store);
  if (!rt_disk_full(home))
    return message;
  snprintf(buf, n, "%s (no space left on device in %s)", message && *message ? message : "failed",
           home);
  return buf;
}
