/* listen.h — the server's listen address: parsing, the loopback policy, the socket.
 *
 * ADDR is HOST:PORT (an IPv4 literal, [IPv6], or localhost) or unix:/path
 * (SERVER.md §1). No DNS: a name other than localhost is refused, so the
 * address the operator wrote is the one bound. Off loopback, the server must
 * have TLS (--tls-cert/--tls-key) or be told --insecure-http. */
#ifndef WEFT_SERVER_LISTEN_H
#define WEFT_SERVER_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum listen_kind { LISTEN_TCP4, LISTEN_TCP6, LISTEN_UNIX };

struct listen_addr {
  enum listen_kind kind;
  struct sockaddr_storage sa;
  socklen_t salen;
  bool loopback;  /* 127.0.0.0/8, ::1, or a unix socket */
  char text[128]; /* as the operator wrote it */
};

#define LISTEN_DEFAULT "127.0.0.1:7700"

/* 0, or WEFT_EINVAL with err saying what a valid address looks like. */
int listen_parse(const char *s, struct listen_addr *a, char *err, size_t errlen);
/* 0 when this address may be served: loopback, or TLS, or insecure_http
 * (then *warn is set); WEFT_EDENIED with err saying which flags to add. */
int listen_policy(const struct listen_addr *a, bool tls, bool insecure_http, bool *warn, char *err, size_t errlen);
/* A bound, listening, non-blocking, close-on-exec socket. A unix socket path
 * left by a dead server is replaced; one that a live server answers on is
 * refused. 0, or WEFT_EIO with err. */
int listen_open(const struct listen_addr *a, int *fd, char *err, size_t errlen);
/* The port actually bound (for port 0), or 0 for a unix socket. */
unsigned listen_bound_port(int fd);

#endif
