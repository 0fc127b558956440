/* fuzz_uiserve.c — libFuzzer entry point for the web UI's path lookup
 * (uiserve_find, src/server/uiserve.c), which reads any client's request
 * path: it may not crash or read past the text, and whatever it answers is
 * an entry of the embedded table that the path names exactly ("/", "/login"
 * and "/index.html" for the page, "/ui/" + the entry's path otherwise), so
 * no path with "..", "%" or anything else reaches outside the table. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/uiserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  const struct uiasset *a = uiserve_find(text);
  if (a) {
    if (a < uiassets || a >= uiassets + uiassets_count)
      abort();
    bool page = !strcmp(text, "/") || !strcmp(text, "/login") || !strcmp(text, "/index.html");
    if (page ? strcmp(a->path, "/index.html") : strncmp(text, "/ui/", 4) || strcmp(text + 3, a->path))
      abort();
    if (strstr(text, "..") || strchr(text, '%'))
      abort();
  }
  free(text);
  return 0;
}
