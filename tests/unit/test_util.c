/* test_util.c — util: durations, RFC 3339, capped buffers, diagnostics, ids. */
#include <criterion/criterion.h>
#include <string.h>
#include <stdlib.h>

#include "util/term.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/err.h"
#include "util/ids.h"
#include "util/wtime.h"

Test(duration, units_and_sums)
{
  int64_t ms;
  cr_assert_eq(wt_parse_duration("250ms", &ms), 0); cr_assert_eq(ms, 250);
  cr_assert_eq(wt_parse_duration("30s", &ms), 0); cr_assert_eq(ms, 30000);
  cr_assert_eq(wt_parse_duration("10m", &ms), 0); cr_assert_eq(ms, 600000);
  cr_assert_eq(wt_parse_duration("2h", &ms), 0); cr_assert_eq(ms, 7200000);
  cr_assert_eq(wt_parse_duration("1d", &ms), 0); cr_assert_eq(ms, 86400000);
  cr_assert_eq(wt_parse_duration("1h30m", &ms), 0); cr_assert_eq(ms, 5400000);
  cr_assert_eq(wt_parse_duration("1m500ms", &ms), 0); cr_assert_eq(ms, 60500);
}

Test(duration, bare_number_and_junk_rejected)
{
  int64_t ms;
  cr_assert_eq(wt_parse_duration("30", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_duration("", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_duration("5x", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_duration("-5s", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_duration("1h 30m", &ms), WEFT_EPARSE);
}

Test(duration, overflow_is_limit)
{
  int64_t ms;
  cr_assert_eq(wt_parse_duration("99999999999999999d", &ms), WEFT_ELIMIT);
  cr_assert_eq(wt_parse_duration("999999999999999999999999s", &ms), WEFT_ELIMIT);
}

Test(rfc3339, format_has_milliseconds_and_z)
{
  char s[32];
  wt_fmt_rfc3339(1764064800123LL, s);
  cr_assert_str_eq(s, "2025-11-25T10:00:00.123Z");
}

Test(rfc3339, parse_round_trip_and_offsets)
{
  int64_t ms;
  cr_assert_eq(wt_parse_rfc3339("2025-11-25T10:00:00.123Z", &ms), 0);
  cr_assert_eq(ms, 1764064800123LL);
  cr_assert_eq(wt_parse_rfc3339("2025-11-25T11:00:00+01:00", &ms), 0);
  cr_assert_eq(ms, 1764064800000LL);
  cr_assert_eq(wt_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
  cr_assert_eq(ms, 0);
  cr_assert_eq(wt_parse_rfc3339("2025-13-01T00:00:00Z", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_rfc3339("2025-11-25", &ms), WEFT_EPARSE);
  cr_assert_eq(wt_parse_rfc3339("2025-11-25T10:00:00", &ms), WEFT_EPARSE);
}

Test(buf, cap_is_an_error_and_keeps_content)
{
  struct buf b;
  buf_init(&b, 8);
  cr_assert_eq(buf_puts(&b, "abcd"), 0);
  cr_assert_eq(buf_puts(&b, "efghi"), WEFT_ELIMIT);
  cr_assert_str_eq(b.p, "abcd");
  cr_assert_eq(buf_printf(&b, "%d", 1234), 0);
  cr_assert_str_eq(b.p, "abcd1234");
  cr_assert_eq(buf_append(&b, "x", 1), WEFT_ELIMIT);
  buf_free(&b);
}

Test(diag, sorted_and_formatted)
{
  struct diag_list l = {0};
  diag_add(&l, "f.yaml", 5, 3, "second %d", 2);
  diag_add(&l, "f.yaml", 2, 9, "first");
  diag_add(&l, "f.yaml", 0, 0, "whole file");
  diag_sort(&l);
  char *a = diag_format(&l.v[0]), *b = diag_format(&l.v[1]), *c = diag_format(&l.v[2]);
  cr_assert_str_eq(a, "f.yaml: whole file");
  cr_assert_str_eq(b, "f.yaml:2:9: first");
  cr_assert_str_eq(c, "f.yaml:5:3: second 2");
  free(a); free(b); free(c);
  diag_list_free(&l);
}

Test(ids, ulids_sort_by_time_and_are_unique)
{
  char a[WEFT_ID_LEN + 1], b[WEFT_ID_LEN + 1], c[WEFT_ID_LEN + 1];
  ids_ulid(a, 1000);
  ids_ulid(b, 1000);
  ids_ulid(c, 2000);
  cr_assert_eq(strlen(a), 26);
  cr_assert(strcmp(a, b) < 0);
  cr_assert(strcmp(b, c) < 0);
}

Test(err, every_code_has_text)
{
  cr_assert_str_eq(weft_strerror(WEFT_ELIMIT), "limit exceeded");
  cr_assert_str_eq(weft_strerror(0), "ok");
  cr_assert_str_eq(weft_strerror(12345), "unknown error");
}

#include "util/utf8.h"

Test(utf8, well_formed_and_first_bad_offset)
{
  const unsigned char ok[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
  cr_assert(utf8_valid(ok, sizeof ok - 1));
  cr_assert_eq(utf8_invalid_offset((const unsigned char *)"ab\xea", 3), 2);       /* truncated */
  cr_assert_eq(utf8_invalid_offset((const unsigned char *)"a\xc0\xaf", 3), 1);    /* overlong */
  cr_assert_eq(utf8_invalid_offset((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
  cr_assert_eq(utf8_invalid_offset((const unsigned char *)"x\xf4\x90\x80\x80", 5), 1); /* > U+10FFFF */
  cr_assert_eq(utf8_invalid_offset((const unsigned char *)"abc", 3), 3);
}

Test(term, control_characters_become_visible)
{
  const char *in = "ok?\r\x1b[2K\tdeploy\n\x7f \xc2\x9b x \xc3\xa9 \\";
  cr_assert(term_needs_escape(in, strlen(in)));
  char *e = term_escape(in, strlen(in));
  cr_assert_str_eq(e, "ok?\\r\\x1b[2K\\tdeploy\\n\\x7f \\u009b x \xc3\xa9 \\");
  free(e);
  const char *plain = "plain text, caf\xc3\xa9";
  cr_assert_eq(term_safe(plain), plain); /* no copy when nothing to escape */
  cr_assert_str_eq(term_safe("a\x1b"), "a\\x1b");
  cr_assert_null(term_safe(NULL));
}
