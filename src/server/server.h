/* server.h — the `weft server` process: one home, its HTTP front, its
 * runtime thread, its signals and its logs.
 *
 * server_run owns the process's life from the moment the CLI has parsed the
 * flags and opened the store: it takes the home's server lock (one server per
 * SQLite home: HOME/server.lock, flock'd, holding the owner's pid), starts the
 * HTTP front (httpd.h: libmicrohttpd's own threads), starts the runtime on its
 * own thread (the libuv loop: resumes every run a dead engine left behind,
 * then keeps running), and waits for signals on the main thread: SIGTERM and
 * SIGINT stop (readyz 503, live streams end, in-flight runs get up to the
 * drain time, then exit 0), SIGHUP re-reads users.json and deploys
 * --workflows DIR again (api_workflows.h). HTTP never waits for
 * the loop: its reads go through their own store connection.
 *
 * Ownership: the options' strings are borrowed; the store given is closed by
 * server_run. */
#ifndef WEFT_SERVER_SERVER_H
#define WEFT_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "server/listen.h"
#include "store/store.h"

enum server_log_format { SERVER_LOG_TEXT, SERVER_LOG_JSON };

struct server_opts {
  const char *home;               /* the resolved home folder */
  struct listen_addr addr;        /* parsed and allowed by listen_policy */
  bool insecure_warn;             /* off loopback with --insecure-http: warn at start */
  char *tls_cert_pem, *tls_key_pem; /* read from --tls-cert/--tls-key, or NULL */
  int64_t drain_ms;               /* --drain */
  enum server_log_format log_format;
  bool metrics_public;            /* GET /metrics without a token */
  const char *workflows_dir;      /* --workflows DIR: deployed at start and on SIGHUP; NULL */
  unsigned http_threads;          /* --http-threads: libmicrohttpd's pool; 0: SERVER_HTTP_THREADS */
};

/* HTTP threads by default: enough that many starts wait for one commit
 * together (a thread waits for its start's commit) */
#define SERVER_HTTP_THREADS 8
#define SERVER_HTTP_THREADS_MAX 64

/* Returns the process's exit code: 0 after a clean stop, 2 when the server
 * cannot start (another server owns the home, the address cannot be bound),
 * 1 when the store failed while running. Closes store. */
int server_run(const struct server_opts *o, struct store *store);

/* The lock of one server per home: 0 and *fd (keep it open) when this
 * process now owns HOME/server.lock; WEFT_EBUSY with *owner_pid (0 when
 * unknown) when another live process holds it; WEFT_EIO otherwise. */
int server_lock(const char *home, int *fd, long *owner_pid);

#endif
