/* sse_clients.c — N live-event subscribers in one process (epoll), for
 * bench/bench_sse.py: opens N connections to GET PATH of a weft server on
 * 127.0.0.1:PORT with a bearer token, counts the events each receives and
 * measures each event's delivery latency: the time it arrived minus its
 * "committed_at" (when the server learned of the commit that made it; live
 * events carry it) or, without it, its "at" (the transition's time).
 *
 *   sse_clients PORT PATH TOKEN N DONE_TEXT TIMEOUT_S
 *
 * A connection the server ends before DONE_TEXT (a subscriber too slow to
 * keep up is dropped, by design) reconnects at once with Last-Event-ID, as
 * a browser's EventSource does, and the server replays what it missed from
 * the store; events are counted once per id.
 *
 * Prints "ready" on stdout once every connection has its 200 and headers,
 * then, after every connection saw an event whose data contains DONE_TEXT
 * (or after TIMEOUT_S), one JSON line: {"conns", "ok" (connections that saw
 * DONE_TEXT), "reconnects", "events_min", "events_max" (distinct ids per
 * connection), "lat_ms": {p50, p90, p99, max}, "samples"}. HTTP/1.0 is used
 * so the stream is not chunked. Not part of weft. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  char *buf;        /* unparsed bytes */
  size_t len, cap;
  int headers_done;
  long events;
  unsigned long long cur_id, last_id; /* the event being read; the last counted */
  int done, closed;
};

static int port_g;
static const char *path_g, *token_g;
static int reconnects;

static double *lat;
static size_t nlat, caplat;

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* "2026-12-03T18:01:02.345Z" -> ms since the epoch; -1 when not that form */
static int64_t parse_ts(const char *p)
{
  struct tm tm = {0};
  int ms = 0;
  if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

static void add_lat(double v)
{
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 1 << 16;
    lat = realloc(lat, caplat * sizeof *lat);
    if (!lat)
      abort();
  }
  lat[nlat++] = v;
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static const char *done_text;

/* one data line */
static void on_data(struct conn *c, const char *line, double t)
{
  if (c->cur_id && c->cur_id <= c->last_id)
    return; /* seen before a reconnect */
  c->last_id = c->cur_id;
  c->events++;
  const char *k = strstr(line, "\"committed_at\":\"");
  size_t skip = 16;
  if (!k) {
    k = strstr(line, "\"at\":\"");
    skip = 6;
  }
  if (k) {
    int64_t at = parse_ts(k + skip);
    if (at >= 0)
      add_lat(t - (double)at);
  }
  if (strstr(line, done_text))
    c->done = 1;
}

static void parse(struct conn *c)
{
  size_t off = 0;
  if (!c->headers_done) {
    char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!e)
      return;
    if (strncmp(c->buf, "HTTP/1.", 7) || strncmp(c->buf + 9, "200", 3)) {
      fprintf(stderr, "sse_clients: %.*s\n", (int)(e - c->buf), c->buf);
      exit(2);
    }
    c->headers_done = 1;
    off = (size_t)(e - c->buf) + 4;
  }
  double t = now_ms_f();
  for (;;) {
    char *nl = memchr(c->buf + off, '\n', c->len - off);
    if (!nl)
      break;
    *nl = 0;
    if (!strncmp(c->buf + off, "id: ", 4))
      c->cur_id = strtoull(c->buf + off + 4, NULL, 10);
    else if (!strncmp(c->buf + off, "data:", 5))
      on_data(c, c->buf + off + 5, t);
    off = (size_t)(nl - c->buf) + 1;
  }
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
}

static int open_conn(struct conn *c, int ep, uint32_t i)
{
  char req[2048];
  int rl = snprintf(req, sizeof req,
                    "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                    "Accept: text/event-stream\r\n", path_g, token_g);
  if (c->last_id)
    rl += snprintf(req + rl, sizeof req - (size_t)rl, "Last-Event-ID: %llu\r\n", c->last_id);
  rl += snprintf(req + rl, sizeof req - (size_t)rl, "\r\n");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_g),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      write(c->fd, req, (size_t)rl) != rl)
    return -1;
  fcntl(c->fd, F_SETFL, O_NONBLOCK);
  c->len = 0;
  c->headers_done = 0;
  c->closed = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc != 7) {
    fprintf(stderr, "usage: sse_clients PORT PATH TOKEN N DONE_TEXT TIMEOUT_S\n");
    return 2;
  }
  int n = atoi(argv[4]), timeout_s = atoi(argv[6]);
  port_g = atoi(argv[1]);
  path_g = argv[2];
  token_g = argv[3];
  done_text = argv[5];
  struct conn *cs = calloc((size_t)n, sizeof *cs);
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) {
    struct conn *c = &cs[i];
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    if (open_conn(c, ep, (uint32_t)i) != 0) {
      fprintf(stderr, "sse_clients: connection %d: %s\n", i, strerror(errno));
      return 1;
    }
  }
  int64_t t_end = now_ms() + (int64_t)timeout_s * 1000;
  int said_ready = 0;
  struct epoll_event evs[256];
  for (;;) {
    int ready = 0, done = 0;
    for (int i = 0; i < n; i++) {
      ready += cs[i].headers_done || cs[i].last_id;
      done += cs[i].done;
    }
    if (!said_ready && ready == n) {
      printf("ready\n");
      fflush(stdout);
      said_ready = 1;
    }
    if (done == n || now_ms() > t_end)
      break;
    int k = epoll_wait(ep, evs, 256, 200);
    for (int j = 0; j < k; j++) {
      struct conn *c = &cs[evs[j].data.u32];
      for (;;) {
        if (c->cap - c->len < 8192) {
          c->cap *= 2;
          c->buf = realloc(c->buf, c->cap);
          if (!c->buf)
            abort();
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (r > 0) {
          c->len += (size_t)r;
          parse(c);
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          c->closed = 1;
          if (!c->done) { /* dropped: again, from the last id (EventSource does) */
            reconnects++;
            if (open_conn(c, ep, evs[j].data.u32) != 0)
              c->closed = 1;
          }
        }
        break;
      }
    }
  }
  long mn = -1, mx = 0;
  int ok = 0;
  for (int i = 0; i < n; i++) {
    if (mn < 0 || cs[i].events < mn)
      mn = cs[i].events;
    if (cs[i].events > mx)
      mx = cs[i].events;
    ok += cs[i].done;
  }
  qsort(lat, nlat, sizeof *lat, cmp);
#define P(q) (nlat ? lat[(size_t)((double)(nlat - 1) * (q))] : -1.0)
  printf("{\"conns\": %d, \"ok\": %d, \"reconnects\": %d, \"events_min\": %ld, \"events_max\": %ld, "
         "\"lat_ms\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f}, \"samples\": %zu}\n",
         n, ok, reconnects, mn, mx, P(0.5), P(0.9), P(0.99), nlat ? lat[nlat - 1] : -1.0, nlat);
  return 0;
}
