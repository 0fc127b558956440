/* test_outputs.c — the $WEFT_OUTPUT parser (src/exec/outputs.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "exec/outputs.h"
#include "util/err.h"

static json_t *ok(const char *s)
{
  json_t *o = NULL;
  char *err = NULL;
  int rc = outputs_parse(s, strlen(s), &o, &err);
  cr_assert_eq(rc, 0, "rc %d err %s for [%s]", rc, err ? err : "", s);
  cr_assert_null(err);
  cr_assert(json_is_object(o));
  return o;
}

static char *bad(const char *s, size_t n, int want)
{
  json_t *o = (json_t *)1;
  char *err = NULL;
  int rc = outputs_parse(s, n, &o, &err);
  cr_assert_eq(rc, want, "rc %d", rc);
  cr_assert_null(o);
  cr_assert_not_null(err);
  return err;
}

static void expect_json(json_t *o, const char *want)
{
  json_error_t je;
  json_t *w = json_loads(want, 0, &je);
  cr_assert_not_null(w, "bad expectation %s", want);
  char *got = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
  cr_assert(json_equal(o, w), "got %s want %s", got, want);
  free(got);
  json_decref(w);
  json_decref(o);
}

Test(outputs, empty_input_is_empty_object) { expect_json(ok(""), "{}"); }

Test(outputs, whitespace_only_is_empty_object) { expect_json(ok(" \n\r\n\t\n"), "{}"); }

Test(outputs, json_object_is_taken_whole)
{
  expect_json(ok("  {\"a\": 1, \"b\": [true, null], \"c\": {\"d\": \"x\"}}\n"),
              "{\"a\":1,\"b\":[true,null],\"c\":{\"d\":\"x\"}}");
}

Test(outputs, json_object_keeps_64bit_integers)
{
  expect_json(ok("{\"n\": 9007199254740993}"), "{\"n\":9007199254740993}");
}

Test(outputs, invalid_json_object_is_an_error_with_position)
{
  const char *s = "{\"a\": 1,\n \"b\": }";
  char *err = bad(s, strlen(s), WEFT_EPARSE);
  cr_assert(strstr(err, "not a valid JSON object"), "%s", err);
  cr_assert(strstr(err, "line 2"), "%s", err);
  free(err);
}

Test(outputs, json_object_followed_by_garbage_is_an_error)
{
  const char *s = "{\"a\": 1} {\"b\": 2}";
  free(bad(s, strlen(s), WEFT_EPARSE));
}

Test(outputs, key_value_values_parse_as_json_when_they_can)
{
  expect_json(ok("n=42\nf=1.5\nt=true\nz=null\narr=[1,2]\nobj={\"k\":\"v\"}\nq=\"quoted\"\n"),
              "{\"n\":42,\"f\":1.5,\"t\":true,\"z\":null,\"arr\":[1,2],\"obj\":{\"k\":\"v\"},"
              "\"q\":\"quoted\"}");
}

Test(outputs, key_value_values_that_are_not_json_are_strings)
{
  expect_json(ok("s=hello world\nlead=01\nempty=\npath=/tmp/x=y\n"),
              "{\"s\":\"hello world\",\"lead\":\"01\",\"empty\":\"\",\"path\":\"/tmp/x=y\"}");
}

Test(outputs, key_value_blank_lines_and_crlf_are_ignored)
{
  expect_json(ok("\n\na=1\r\n   \r\n\tb=two\r\n\n"), "{\"a\":1,\"b\":\"two\"}");
}

Test(outputs, key_value_last_line_without_newline_counts)
{
  expect_json(ok("a=1\nb=2"), "{\"a\":1,\"b\":2}");
}

Test(outputs, key_value_later_key_replaces_earlier)
{
  expect_json(ok("a=1\na=2\n"), "{\"a\":2}");
}

Test(outputs, key_value_key_is_trimmed)
{
  expect_json(ok("  spaced key\t=x\n"), "{\"spaced key\":\"x\"}");
}

Test(outputs, line_without_equals_is_an_error_naming_the_line)
{
  const char *s = "a=1\n\nthis is not output\nb=2\n";
  char *err = bad(s, strlen(s), WEFT_EPARSE);
  cr_assert(strstr(err, "line 3"), "%s", err);
  cr_assert(strstr(err, "this is not output"), "%s", err);
  free(err);
}

Test(outputs, json_array_at_top_is_a_line_error)
{
  const char *s = "[1, 2]";
  char *err = bad(s, strlen(s), WEFT_EPARSE);
  cr_assert(strstr(err, "line 1"), "%s", err);
  free(err);
}

Test(outputs, empty_key_is_an_error)
{
  const char *s = "=5\n";
  char *err = bad(s, strlen(s), WEFT_EPARSE);
  cr_assert(strstr(err, "empty key"), "%s", err);
  free(err);
}

Test(outputs, heredoc_value_is_a_multiline_string)
{
  expect_json(ok("a=1\nnotes<<EOF\nfirst line\n\nthird = line\nEOF\nb=2\n"),
              "{\"a\":1,\"notes\":\"first line\\n\\nthird = line\",\"b\":2}");
}

Test(outputs, heredoc_without_end_is_an_error)
{
  const char *s = "notes<<END\nline\n";
  char *err = bad(s, strlen(s), WEFT_EPARSE);
  cr_assert(strstr(err, "line 1"), "%s", err);
  cr_assert(strstr(err, "never closed"), "%s", err);
  free(err);
}

Test(outputs, invalid_utf8_value_is_an_error)
{
  const char s[] = "a=\xff\xfe\n";
  char *err = bad(s, sizeof s - 1, WEFT_EPARSE);
  cr_assert(strstr(err, "UTF-8"), "%s", err);
  cr_assert(strstr(err, "\\xff"), "message escapes the byte: %s", err);
  free(err);
}

Test(outputs, utf8_values_and_keys_are_kept)
{
  expect_json(ok("gr\xc3\xbc\xc3\x9f" "e=caf\xc3\xa9\n"), "{\"gr\xc3\xbc\xc3\x9f" "e\":\"caf\xc3\xa9\"}");
}

Test(outputs, nul_byte_in_key_is_an_error)
{
  const char s[] = "a\0b=1\n";
  free(bad(s, sizeof s - 1, WEFT_EPARSE));
}

Test(outputs, over_one_mib_is_a_limit_error)
{
  size_t n = OUTPUTS_MAX + 1;
  char *s = malloc(n);
  memset(s, 'x', n);
  s[0] = 'a';
  s[1] = '=';
  char *err = bad(s, n, WEFT_ELIMIT);
  cr_assert(strstr(err, "1 MiB"), "%s", err);
  free(err);
  free(s);
}

Test(outputs, exactly_one_mib_is_accepted)
{
  size_t n = OUTPUTS_MAX;
  char *s = malloc(n);
  memset(s, 'x', n);
  s[0] = 'a';
  s[1] = '=';
  json_t *o = NULL;
  char *err = NULL;
  cr_assert_eq(outputs_parse(s, n, &o, &err), 0);
  cr_assert_eq(json_string_length(json_object_get(o, "a")), n - 2);
  json_decref(o);
  free(s);
}

Test(outputs, nul_in_a_value_is_an_error_not_a_shorter_value)
{
  /* escaped in the JSON object form, nested */
  const char *j = "{\"a\": 1, \"b\": {\"c\": [\"x\", \"ab\\u0000cd\"]}}";
  char *err = bad(j, strlen(j), WEFT_EPARSE);
  cr_assert(strstr(err, "output \"b.c[1]\" contains a NUL byte"), "%s", err);
  free(err);
  /* a raw NUL byte in the key=value form, and escaped in a JSON value there */
  const char raw[] = "ok=1\ntok=ab\0cd\n";
  err = bad(raw, sizeof raw - 1, WEFT_EPARSE);
  cr_assert(strstr(err, "output \"tok\" contains a NUL byte"), "%s", err);
  free(err);
  const char *kv = "v=\"ab\\u0000cd\"\n";
  err = bad(kv, strlen(kv), WEFT_EPARSE);
  cr_assert(strstr(err, "output \"v\" contains a NUL byte"), "%s", err);
  free(err);
  /* multi-line values too */
  const char hd[] = "m<<EOF\nab\0cd\nEOF\n";
  err = bad(hd, sizeof hd - 1, WEFT_EPARSE);
  cr_assert(strstr(err, "output \"m\""), "%s", err);
  free(err);
}
