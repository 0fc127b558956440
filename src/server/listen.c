/* listen.c — parsing HOST:PORT and unix:/path, the loopback rule, binding. */
#include "server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/err.h"

static int bad(char *err, size_t errlen, const char *s, const char *why)
{
  snprintf(err, errlen, "--listen %.80s: %s (write HOST:PORT such as 127.0.0.1:7700 or [::1]:7700, or unix:/path)", s,
           why);
  return WEFT_EINVAL;
}

int listen_parse(const char *s, struct listen_addr *a, char *err, size_t errlen)
{
  memset(a, 0, sizeof *a);
  snprintf(a->text, sizeof a->text, "%s", s);
  if (!strncmp(s, "unix:", 5)) {
    struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
    const char *path = s + 5;
    if (!*path)
      return bad(err, errlen, s, "the socket path is empty");
    if (strlen(path) >= sizeof un->sun_path)
      return bad(err, errlen, s, "the socket path is too long");
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, strlen(path) + 1);
    a->salen = (socklen_t)sizeof *un;
    a->kind = LISTEN_UNIX;
    a->loopback = true;
    return 0;
  }
  const char *colon = strrchr(s, ':');
  if (!colon)
    return bad(err, errlen, s, "no port");
  char host[64];
  size_t hl = (size_t)(colon - s);
  if (hl >= sizeof host)
    return bad(err, errlen, s, "the host is too long");
  memcpy(host, s, hl);
  host[hl] = 0;
  char *end;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || errno || port < 0 || port > 65535)
    return bad(err, errlen, s, "the port must be a number from 0 to 65535");
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 3 || host[n - 1] != ']')
      return bad(err, errlen, s, "an IPv6 address goes in brackets");
    host[n - 1] = 0;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
    if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
      return bad(err, errlen, s, "not an IPv6 address");
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    a->salen = (socklen_t)sizeof *in6;
    a->kind = LISTEN_TCP6;
    const struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
    a->loopback = !memcmp(&in6->sin6_addr, &lo, sizeof lo) ||
                  (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
    return 0;
  }
  struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
  if (!strcmp(host, "localhost"))
    strcpy(host, "127.0.0.1");
  if (!*host)
    return bad(err, errlen, s, "no host (0.0.0.0 listens on every interface)");
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
    return bad(err, errlen, s, "the host must be an IP address or localhost (no name lookups)");
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  a->salen = (socklen_t)sizeof *in;
  a->kind = LISTEN_TCP4;
  a->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  return 0;
}

int listen_policy(const struct listen_addr *a, bool tls, bool insecure_http, bool *warn, char *err, size_t errlen)
{
  *warn = false;
  if (a->loopback || tls)
    return 0;
  if (insecure_http) {
    *warn = true;
    return 0;
  }
  snprintf(err, errlen,
           "--listen %s is not a loopback address: give --tls-cert FILE --tls-key FILE, or --insecure-http to serve "
           "tokens in clear text anyway",
           a->text);
  return WEFT_EDENIED;
}

static int unix_in_use(const struct sockaddr_un *un, socklen_t len)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int r = connect(fd, (const struct sockaddr *)un, len) == 0;
  close(fd);
  return r;
}

int listen_open(const struct listen_addr *a, int *out, char *err, size_t errlen)
{
  *out = -1;
  int dom = a->kind == LISTEN_UNIX ? AF_UNIX : a->kind == LISTEN_TCP6 ? AF_INET6 : AF_INET;
  if (a->kind == LISTEN_UNIX) {
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
    struct stat st;
    if (lstat(un->sun_path, &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "--listen %s: that path exists and is not a socket", a->text);
        return WEFT_EIO;
      }
      if (unix_in_use(un, a->salen)) {
        snprintf(err, errlen, "--listen %s: another server answers on that socket", a->text);
        return WEFT_EIO;
      }
      unlink(un->sun_path); /* left by a server that died */
    }
  }
  int fd = socket(dom, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
    return WEFT_EIO;
  }
  int one = 1;
  if (dom != AF_UNIX)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (dom == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) || listen(fd, 512)) {
    snprintf(err, errlen, "cannot listen on %s: %s%s", a->text, strerror(errno),
             errno == EADDRINUSE ? " (another process uses it; pick another --listen)" : "");
    close(fd);
    return WEFT_EIO;
  }
  if (dom == AF_UNIX)
    chmod(((const struct sockaddr_un *)&a->sa)->sun_path, 0660);
  *out = fd;
  return 0;
}

unsigned listen_bound_port(int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len))
    return 0;
  if (ss.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}
