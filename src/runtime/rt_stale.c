/* rt_stale.c — finding the processes a dead engine left running.
 *
 * Recovery must kill every attempt of a run whose engine died before the run
 * goes on. The pgid of each attempt is stored, but it reaches the disk with
 * the commit after the spawn, so an engine killed in that window leaves a
 * group nobody recorded. Every program weft starts carries WEFT_RUN_ID in its
 * environment, so the processes of a run are also found by scanning
 * /proc/PID/environ: once the run's engine is dead, all of them are stale. */
#include "runtime/rt_int.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENVIRON_MAX (256 << 10)

static bool environ_has(int pid, const char *needle, size_t nlen)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char *buf = malloc(ENVIRON_MAX);
  size_t len = 0;
  ssize_t n;
  while (buf && len < ENVIRON_MAX && (n = read(fd, buf + len, ENVIRON_MAX - len)) > 0)
    len += (size_t)n;
  close(fd);
  bool found = false;
  for (size_t i = 0; buf && i < len && !found;) {
    size_t e = strnlen(buf + i, len - i);
    found = e == nlen && !memcmp(buf + i, needle, nlen);
    i += e + 1;
  }
  free(buf);
  return found;
}

int rt_kill_run_processes(const char *run_id, int grace_ms)
{
  char needle[96];
  int nlen = snprintf(needle, sizeof needle, "WEFT_RUN_ID=%s", run_id);
  DIR *d = opendir("/proc");
  if (!d)
    return 0;
  pid_t self = getpid(), own_group = getpgrp();
  pid_t groups[256];
  size_t ng = 0;
  struct dirent *de;
  while ((de = readdir(d)) && ng < sizeof groups / sizeof *groups) {
    if (!isdigit((unsigned char)de->d_name[0]))
      continue;
    pid_t pid = (pid_t)atoi(de->d_name);
    if (pid == self || !environ_has(pid, needle, (size_t)nlen))
      continue;
    pid_t g = getpgid(pid);
    if (g <= 1 || g == own_group)
      continue;
    bool seen = false;
    for (size_t i = 0; i < ng; i++)
      seen = seen || groups[i] == g;
    if (!seen)
      groups[ng++] = g;
  }
  closedir(d);
  for (size_t i = 0; i < ng; i++)
    proc_group_kill(groups[i], grace_ms);
  return (int)ng;
}
