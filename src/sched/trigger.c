/* trigger.c — the `.trigger` object, webhook signatures and delivery keys
 * (trigger.h). */
#include "sched/trigger.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "util/wtime.h"

json_t *sched_trigger_json(const char *type, int64_t at_ms, int64_t scheduled_for_s, const char *name,
                           const json_t *body, const json_t *headers, const json_t *event)
{
  char at[32], sf[32];
  wt_fmt_rfc3339(at_ms, at);
  json_t *o = json_object();
  if (!o)
    return NULL;
  int bad = json_object_set_new(o, "type", json_string(type ? type : "manual"));
  bad |= json_object_set_new(o, "at", json_string(at));
  if (scheduled_for_s != SCHED_NO_TIME) {
    wt_fmt_rfc3339(scheduled_for_s * 1000, sf);
    /* whole seconds: drop the ".000" */
    char *dot = strchr(sf, '.');
    if (dot)
      memmove(dot, dot + 4, strlen(dot + 4) + 1);
    bad |= json_object_set_new(o, "scheduled_for", json_string(sf));
  } else {
    bad |= json_object_set_new(o, "scheduled_for", json_null());
  }
  bad |= json_object_set_new(o, "name", name ? json_string(name) : json_null());
  bad |= json_object_set_new(o, "body", body ? json_deep_copy(body) : json_null());
  bad |= json_object_set_new(o, "headers", headers ? json_deep_copy(headers) : json_object());
  bad |= json_object_set_new(o, "event", event ? json_deep_copy(event) : json_null());
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static void hmac(const char *secret, size_t secret_len, const void *body, size_t body_len,
                 unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
  crypto_auth_hmacsha256_state st;
  if (sodium_init() < 0) { /* cannot happen on Linux; HMAC needs no init anyway */
  }
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, secret_len);
  crypto_auth_hmacsha256_update(&st, body, body_len);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
}

void hook_signature(const char *secret, size_t secret_len, const void *body, size_t body_len, char out[72])
{
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  hmac(secret, secret_len, body, body_len, mac);
  memcpy(out, "sha256=", 7);
  sodium_bin2hex(out + 7, 65, mac, sizeof mac);
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool hook_signature_ok(const char *secret, size_t secret_len, const void *body, size_t body_len,
                       const char *header)
{
  if (!header || strncmp(header, "sha256=", 7) != 0 || strlen(header) != 7 + 2 * crypto_auth_hmacsha256_BYTES)
    return false;
  unsigned char given[crypto_auth_hmacsha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
  for (size_t i = 0; i < sizeof given; i++) {
    int hi = hexval(header[7 + 2 * i]), lo = hexval(header[8 + 2 * i]);
    if (hi < 0 || lo < 0)
      return false;
    given[i] = (unsigned char)(hi << 4 | lo);
  }
  hmac(secret, secret_len, body, body_len, mac);
  bool ok = sodium_memcmp(given, mac, sizeof mac) == 0;
  sodium_memzero(mac, sizeof mac);
  return ok;
}

bool hook_delivery_key(const char *name, const char *id, char *out, size_t outlen)
{
  if (!id || !*id)
    return false;
  size_t n = strlen(id);
  if (n > HOOK_DELIVERY_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
      return false;
  int w = snprintf(out, outlen, "hook:%s:%s", name, id);
  return w > 0 && (size_t)w < outlen;
}
