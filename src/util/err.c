/* err.c — text for the WEFT_E* codes of err.h. */
#include "util/err.h"

const char *weft_strerror(int rc)
{
  switch (rc) {
  case WEFT_OK: return "ok";
#define X(name, text) case WEFT_E##name: return text;
  WEFT_ERRNO_MAP(X)
#undef X
  default: return "unknown error";
  }
}
