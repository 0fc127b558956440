/* authfail.h — the failed-authentication limiter (SERVER.md §4).
 *
 * Ten failed authentications from one address within a minute block that
 * address for a minute (429). Memory is fixed: a table of 1,024 addresses,
 * the least recently seen evicted first, so a flood from many addresses
 * cannot grow it. Thread-safe (one mutex; HTTP threads share it). Time is
 * passed in, in milliseconds, so tests need no clock. */
#ifndef WEFT_SERVER_AUTHFAIL_H
#define WEFT_SERVER_AUTHFAIL_H

#include <stdbool.h>
#include <stdint.h>

#define AUTHFAIL_LIMIT 10
#define AUTHFAIL_WINDOW_MS 60000
#define AUTHFAIL_BLOCK_MS 60000

struct authfail;

struct authfail *authfail_new(void);
void authfail_free(struct authfail *a);
/* true while addr is blocked; *retry_after_s says for how long */
bool authfail_blocked(struct authfail *a, const char *addr, int64_t now_ms, int *retry_after_s);
/* counts one failure; true when this one starts a block */
bool authfail_record(struct authfail *a, const char *addr, int64_t now_ms);

#endif
