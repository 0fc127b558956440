/* uiserve.h — the web UI's static files over HTTP (SERVER.md §7).
 *
 * `/` and `/login` answer ui/index.html (the app; /login reads the token
 * from the URL's fragment, which no browser ever sends to a server);
 * `/ui/PATH` answers ui/PATH. Nothing here needs a token: these are public
 * static files, and every /api/ route still needs one (httpd.c only hands
 * GET/HEAD outside /api/ to this fallback). Each answer carries its content
 * type, an ETag (If-None-Match answers 304), Cache-Control: no-cache (the
 * browser revalidates; the ETag makes that a 304), a strict
 * Content-Security-Policy (everything from 'self' only, no inline script or
 * style, no framing) and nosniff. Anything else is 404.
 *
 * Ownership: answers point at the static asset table (uiassets.h). */
#ifndef WEFT_SERVER_UISERVE_H
#define WEFT_SERVER_UISERVE_H

#include "server/httpd.h"
#include "server/uiassets.h"

/* the asset a request path names, or NULL ("/" and "/login": index.html) */
const struct uiasset *uiserve_find(const char *path);
/* whether the UI has a page at path (httpd_config.fallback_has) */
bool uiserve_has(const char *path);
/* the fallback of struct httpd_config: fills rs for a GET/HEAD of path */
void uiserve_answer(void *ud, const struct httpd_req *rq, struct httpd_resp *rs);

#endif
