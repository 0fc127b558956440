/* test_secrets.c — util/secrets: loading secrets.json (mode 0600 only) and
 * WEFT_SECRET_*, and the masker's forms (raw, JSON-escaped, URL-encoded). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/secrets.h"

static char *tmp_home(void)
{
  char *d = strdup("/tmp/weft-secrets-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  return d;
}

static void write_secrets(const char *home, const char *text, mode_t mode)
{
  char p[512];
  snprintf(p, sizeof p, "%s/secrets.json", home);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
  chmod(p, mode);
}

static void rm_home(char *home)
{
  char p[512];
  snprintf(p, sizeof p, "%s/secrets.json", home);
  unlink(p);
  rmdir(home);
  free(home);
}

Test(secrets_load, file_and_env_env_wins)
{
  char *home = tmp_home();
  write_secrets(home, "{\"a\": \"from-file\", \"b\": \"bee\"}", 0600);
  setenv("WEFT_SECRET_a", "from-env", 1);
  setenv("WEFT_SECRET_c", "see", 1);
  json_t *s = NULL;
  char *err = NULL;
  cr_assert_eq(secrets_load(home, &s, &err), 0);
  cr_assert_str_eq(json_string_value(json_object_get(s, "a")), "from-env");
  cr_assert_str_eq(json_string_value(json_object_get(s, "b")), "bee");
  cr_assert_str_eq(json_string_value(json_object_get(s, "c")), "see");
  unsetenv("WEFT_SECRET_a");
  unsetenv("WEFT_SECRET_c");
  json_decref(s);
  rm_home(home);
}

Test(secrets_load, group_readable_file_is_refused)
{
  char *home = tmp_home();
  write_secrets(home, "{\"a\": \"x\"}", 0640);
  json_t *s = NULL;
  char *err = NULL;
  cr_assert_eq(secrets_load(home, &s, &err), WEFT_EDENIED);
  cr_assert_null(s);
  cr_assert_not_null(strstr(err, "chmod 600"));
  free(err);
  rm_home(home);
}

Test(secrets_load, not_an_object_and_missing_file)
{
  char *home = tmp_home();
  json_t *s = NULL;
  char *err = NULL;
  cr_assert_eq(secrets_load(home, &s, &err), 0); /* no file: {} */
  cr_assert_eq(json_object_size(s), 0);
  json_decref(s);
  write_secrets(home, "[1]", 0600);
  cr_assert_eq(secrets_load(home, &s, &err), WEFT_EPARSE);
  cr_assert_not_null(err);
  free(err);
  rm_home(home);
}

Test(masker, every_form_is_masked)
{
  json_t *s = json_pack("{s:s}", "t", "a/\"b\" c&d");
  struct masker *m = masker_new(s);
  const char *in[] = {
    "raw a/\"b\" c&d end",
    "json a/\\\"b\\\" c&d end",
    "url a%2F%22b%22%20c%26d end",
    "plus a%2F%22b%22+c%26d end",
    "lower a%2f%22b%22%20c%26d end",
  };
  for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
    char *t = masker_text(m, in[i]);
    cr_assert_not_null(t, "%s", in[i]);
    cr_assert_not_null(strstr(t, "***"), "%s -> %s", in[i], t);
    cr_assert_null(strstr(t, "c&d"), "%s -> %s", in[i], t);
    cr_assert_null(strstr(t, "c%26d"), "%s -> %s", in[i], t);
    free(t);
  }
  cr_assert_null(masker_text(m, "nothing secret here"));
  masker_free(m);
  json_decref(s);
}

Test(masker, json_values_keys_and_numbers)
{
  json_t *s = json_pack("{s:s,s:i}", "t", "hunter2", "pin", 48151623);
  struct masker *m = masker_new(s);
  json_t *v = json_pack("{s:s,s:[s,i,i],s:s}", "x", "pw=hunter2", "list", "hunter2", 48151623, 7,
                        "hunter2", "key");
  json_t *o = masker_json(m, v);
  char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  cr_assert_str_eq(txt, "{\"***\":\"key\",\"list\":[\"***\",\"***\",7],\"x\":\"pw=***\"}");
  free(txt);
  json_decref(o);
  json_decref(v);
  masker_free(m);
  json_decref(s);
}

Test(masker, empty_masks_nothing)
{
  struct masker *m = masker_new(NULL);
  cr_assert(masker_empty(m));
  cr_assert_null(masker_forms(m));
  cr_assert_null(masker_text(m, "anything"));
  json_t *v = json_string("x");
  json_t *o = masker_json(m, v);
  cr_assert_eq(o, v);
  json_decref(o);
  json_decref(v);
  masker_free(m);
}

Test(masker, longest_form_first)
{
  /* "abc" is inside "abcdef": the longer one must go as a whole */
  json_t *s = json_pack("{s:s,s:s}", "short", "abc", "long", "abcdef");
  struct masker *m = masker_new(s);
  char *t = masker_text(m, "x abcdef y abc z");
  cr_assert_str_eq(t, "x *** y *** z");
  free(t);
  masker_free(m);
  json_decref(s);
}
static const char *const b64_cases[][2] = {
  {"czNjcjN0LUszeS94Pz5+", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5+", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5-", "czNjcjN0LUszeS94Pz5-"},
  {"czNjcjN0LUszeS94Pz5-", "czNjcjN0LUszeS94Pz5-"},
  {"czNjcjN0LUszeS94Pz5+eno=", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5+eno", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5-eno=", "czNjcjN0LUszeS94Pz5-"},
  {"czNjcjN0LUszeS94Pz5-eno", "czNjcjN0LUszeS94Pz5-"},
  {"czNjcjN0LUszeS94Pz5+cQ==", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5+cQ", "czNjcjN0LUszeS94Pz5+"},
  {"czNjcjN0LUszeS94Pz5-cQ==", "czNjcjN0LUszeS94Pz5-"},
  {"czNjcjN0LUszeS94Pz5-cQ", "czNjcjN0LUszeS94Pz5-"},
  {"YXMzY3IzdC1LM3kveD8+fg==", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8+fg", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8-fg==", "MzY3IzdC1LM3kveD8-f"},
  {"YXMzY3IzdC1LM3kveD8-fg", "MzY3IzdC1LM3kveD8-f"},
  {"YXMzY3IzdC1LM3kveD8+fnp6", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8+fnp6", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8-fnp6", "MzY3IzdC1LM3kveD8-f"},
  {"YXMzY3IzdC1LM3kveD8-fnp6", "MzY3IzdC1LM3kveD8-f"},
  {"YXMzY3IzdC1LM3kveD8+fnE=", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8+fnE", "MzY3IzdC1LM3kveD8+f"},
  {"YXMzY3IzdC1LM3kveD8-fnE=", "MzY3IzdC1LM3kveD8-f"},
  {"YXMzY3IzdC1LM3kveD8-fnE", "MzY3IzdC1LM3kveD8-f"},
  {"YWJzM2NyM3QtSzN5L3g/Pn4=", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g/Pn4", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn4=", "zM2NyM3QtSzN5L3g_Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn4", "zM2NyM3QtSzN5L3g_Pn"},
  {"YWJzM2NyM3QtSzN5L3g/Pn56eg==", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g/Pn56eg", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn56eg==", "zM2NyM3QtSzN5L3g_Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn56eg", "zM2NyM3QtSzN5L3g_Pn"},
  {"YWJzM2NyM3QtSzN5L3g/Pn5x", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g/Pn5x", "zM2NyM3QtSzN5L3g/Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn5x", "zM2NyM3QtSzN5L3g_Pn"},
  {"YWJzM2NyM3QtSzN5L3g_Pn5x", "zM2NyM3QtSzN5L3g_Pn"},
};

Test(masker, base64_every_alignment_both_alphabets_padded_or_not)
{
  /* the secret's base64 inside a longer encoded stream: the characters that
   * depend on the secret alone must be masked whatever precedes or follows */
  json_t *s = json_pack("{s:s}", "t", "s3cr3t-K3y/x?>~");
  struct masker *m = masker_new(s);
  for (size_t i = 0; i < sizeof b64_cases / sizeof *b64_cases; i++) {
    char in[200];
    snprintf(in, sizeof in, "b64 %s end", b64_cases[i][0]);
    char *t = masker_text(m, in);
    cr_assert_not_null(t, "%s", in);
    cr_assert_null(strstr(t, b64_cases[i][1]), "%s -> %s", in, t);
    cr_assert_not_null(strstr(t, "***"), "%s -> %s", in, t);
    free(t);
  }
  masker_free(m);
  json_decref(s);
}

Test(masker, hex_lower_and_upper)
{
  json_t *s = json_pack("{s:s}", "t", "s3cr3t-K3y/x?>~");
  struct masker *m = masker_new(s);
  char *t = masker_text(m, "h=7333637233742d4b33792f783f3e7e H=7333637233742D4B33792F783F3E7E");
  cr_assert_str_eq(t, "h=*** H=***");
  free(t);
  masker_free(m);
  json_decref(s);
}

Test(masker, each_line_of_a_multi_line_secret)
{
  const char *pem = "-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                    "bm90IGEgcmVhbCBrZXkgYXQgYWxs\n}\n-----END PRIVATE KEY-----\n";
  json_t *s = json_pack("{s:s}", "pem", pem);
  struct masker *m = masker_new(s);
  /* a program that prints the key one line at a time, or one line of it */
  char *t = masker_text(m, "line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nnext bm90IGEgcmVhbCBrZXkgYXQgYWxs");
  cr_assert_str_eq(t, "line: ***\nnext ***");
  free(t);
  /* short lines ("}") are not masked alone: they would hide unrelated text */
  cr_assert_null(masker_text(m, "if (x) { y(); }"));
  masker_free(m);
  json_decref(s);
}

Test(masker, too_many_forms_is_refused_not_partly_masked)
{
  json_t *s = json_object();
  for (int i = 0; i < 2000; i++) {
    char k[32], v[64];
    snprintf(k, sizeof k, "s%d", i);
    snprintf(v, sizeof v, "secret-value-number-%06d", i);
    json_object_set_new(s, k, json_string(v));
  }
  struct masker *m = NULL;
  cr_assert_eq(masker_make(s, &m), WEFT_ELIMIT);
  cr_assert_null(m);
  json_decref(s);
}
