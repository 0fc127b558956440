/* uiassets.h — the web UI's files (ui/), compiled into the binary.
 *
 * The table is generated at build time by cmake/embed_ui.cmake (one entry per
 * file under ui/, sorted by path); uiserve.c serves it. Paths start with '/'
 * and are relative to ui/ ("/app.js", "/pages/runs.js"); etag is the quoted
 * start of the file's SHA-256, so it changes exactly when the file does.
 *
 * Ownership: static, read-only data. */
#ifndef WEFT_SERVER_UIASSETS_H
#define WEFT_SERVER_UIASSETS_H

#include <stddef.h>

struct uiasset {
  const char *path;
  const char *ctype;
  const unsigned char *data;
  size_t len;
  const char *etag;
};

extern const struct uiasset uiassets[];
extern const size_t uiassets_count;

#endif
