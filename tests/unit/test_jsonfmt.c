/* test_jsonfmt.c — util/jsonfmt: reals in their shortest round-trip form. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"
#include "util/secrets.h"

static void dumps_is(json_t *v, size_t flags, const char *want)
{
  char *t = wjson_dumps(v, flags);
  cr_assert_not_null(t);
  cr_assert_str_eq(t, want);
  free(t);
  json_decref(v);
}

Test(jsonfmt, shortest_real_text)
{
  char b[32];
  wjson_real(0.83, 1, b); cr_assert_str_eq(b, "0.83");
  wjson_real(0.1, 1, b); cr_assert_str_eq(b, "0.1");
  wjson_real(1.0 / 3, 1, b); cr_assert_str_eq(b, "0.3333333333333333");
  wjson_real(0.1 + 0.2, 1, b); cr_assert_str_eq(b, "0.30000000000000004");
  wjson_real(2.0, 1, b); cr_assert_str_eq(b, "2.0");
  wjson_real(2.0, 0, b); cr_assert_str_eq(b, "2");
  wjson_real(1e21, 1, b); cr_assert_str_eq(b, "1e21");
  wjson_real(-1.5e-7, 1, b); cr_assert_str_eq(b, "-1.5e-7");
  double ds[] = {5e-324, 1.7976931348623157e308, 123456789.123, -0.0, 9007199254740993.0};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    wjson_real(ds[i], 1, b);
    cr_assert_eq(strtod(b, NULL), ds[i], "%s", b);
  }
}

Test(jsonfmt, dumps_shortens_reals_and_nothing_else)
{
  dumps_is(json_pack("{s:f, s:[f, I, s]}", "x", 0.83, "a", 0.1, (json_int_t)12345678901LL, "0.82999999999999996"),
           JSON_COMPACT, "{\"x\":0.83,\"a\":[0.1,12345678901,\"0.82999999999999996\"]}");
  dumps_is(json_pack("{s:f}", "k\"1.5", 2.5), JSON_INDENT(2), "{\n  \"k\\\"1.5\": 2.5\n}");
  dumps_is(json_real(3.0), JSON_ENCODE_ANY, "3.0");
  dumps_is(json_real(-2.5e-300), JSON_ENCODE_ANY, "-2.5e-300");
}

/* A secret that is a real number is masked in the form weft prints it. */
Test(jsonfmt, a_real_secret_is_masked_as_printed)
{
  json_t *sec = json_pack("{s:f}", "rate", 0.83);
  struct masker *m = masker_new(sec);
  cr_assert_not_null(m);
  char *out = masker_text(m, "rate=0.83");
  cr_assert_not_null(out, "0.83 was not recognised as the secret");
  cr_assert_str_eq(out, "rate=***");
  free(out);
  json_t *v = json_real(0.83);
  json_t *mv = masker_json(m, v);
  cr_assert(json_is_string(mv) && !strcmp(json_string_value(mv), "***"));
  json_decref(mv);
  json_decref(v);
  masker_free(m);
  json_decref(sec);
}
