/* uiserve.c — serves the embedded web UI (uiserve.h). */
#include "server/uiserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UI_CSP                                                                                                   \
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "         \
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const char *const ui_headers[] = {
    "Content-Security-Policy", UI_CSP,  "Cache-Control", "no-cache", "Referrer-Policy", "no-referrer",
    "X-Frame-Options",         "DENY", NULL};

static const struct uiasset *by_name(const char *name)
{
  size_t lo = 0, hi = uiassets_count;
  while (lo < hi) { /* the table is sorted by path */
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, uiassets[mid].path);
    if (!c)
      return &uiassets[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

const struct uiasset *uiserve_find(const char *path)
{
  if (!path)
    return NULL;
  if (!strcmp(path, "/") || !strcmp(path, "/login") || !strcmp(path, "/index.html"))
    return by_name("/index.html");
  if (strncmp(path, "/ui/", 4) || strstr(path, "..") || strchr(path, '%'))
    return NULL;
  return by_name(path + 3);
}

bool uiserve_has(const char *path)
{
  return uiserve_find(path) != NULL;
}

void uiserve_answer(void *ud, const struct httpd_req *rq, struct httpd_resp *rs)
{
  (void)ud;
  const struct uiasset *a = uiserve_find(rq->path);
  if (!a) {
    httpd_error(rs, APIERR_NOT_FOUND, "no page at %.200s (the web UI is at /)", rq->path);
    return;
  }
  rs->headers = ui_headers;
  rs->hname = "ETag";
  snprintf(rs->hvalue, sizeof rs->hvalue, "%s", a->etag);
  const char *inm = httpd_header(rq, "If-None-Match");
  if (inm && strstr(inm, a->etag)) {
    rs->status = 304;
    rs->ctype = a->ctype;
    rs->static_body = "";
    rs->len = 0;
    return;
  }
  rs->status = 200;
  rs->ctype = a->ctype;
  rs->static_body = (const char *)a->data;
  rs->len = a->len;
}
