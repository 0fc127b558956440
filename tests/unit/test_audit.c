/* test_audit.c — the hash-chained audit log: append, verify, tampering
 * detected with the right first bad entry (edit, deletion in the middle,
 * reordering, deletion of the last entry, head removal), atomicity with the
 * transition, and export as JSON lines. Tampering uses a raw sqlite3
 * connection, as an attacker with file access would. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/store.h"
#include "util/err.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-audit-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
}

static void rm_home(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(audit, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  int rc = store_open(home, &s, &err);
  cr_assert_eq(rc, 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

/* Five entries, seq 1..5, of two runs, and the two (queued) runs in the
 * store: a store that agrees with its log (verify checks that too). */
static struct store *five_entries(void)
{
  struct store *s = open_store();
  static const char *kinds[] = {"run.created", "run.created", "step.status", "attempt.started",
                                "run.status"};
  for (int i = 0; i < 2; i++) {
    struct store_run r = {.id = i ? "01RUNB" : "01RUNA", .workflow = "wf", .status = "queued",
                          .created_at = 1};
    cr_assert_eq(store_run_put(s, &r), 0);
  }
  for (int i = 0; i < 5; i++) {
    char data[64];
    int64_t seq;
    snprintf(data, sizeof data, "{\"i\":%d,\"b\":\"x\",\"a\":[1,2]}", i);
    cr_assert_eq(store_audit_append(s, 1000 + i, i % 2 ? "01RUNB" : "01RUNA", kinds[i], data, &seq),
                 0);
    cr_assert_eq(seq, i + 1);
  }
  return s;
}

static void raw_exec(const char *sql)
{
  char path[300];
  sqlite3 *db;
  char *e = NULL;
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &e), SQLITE_OK, "%s: %s", sql, e ? e : "");
  sqlite3_close(db);
}

static void expect_bad(struct store *s, int64_t want)
{
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_eq(bad, want, "first bad seq %lld, want %lld (%s)", (long long)bad, (long long)want,
               msg ? msg : "");
  cr_assert_not_null(msg);
  free(msg);
}

Test(audit, canonical_data_sorts_keys_and_is_compact)
{
  char *c;
  cr_assert_eq(audit_canonical("{ \"b\": 1, \"a\": [true, null] }", &c), 0);
  cr_assert_str_eq(c, "{\"a\":[true,null],\"b\":1}");
  free(c);
  cr_assert_eq(audit_canonical(NULL, &c), 0);
  cr_assert_str_eq(c, "null");
  free(c);
  cr_assert_eq(audit_canonical("{nope", &c), WEFT_EPARSE);
}

Test(audit, entry_hash_covers_every_field)
{
  char base[65], h[65];
  audit_entry_hash(1, 2, "r", "k", "{}", AUDIT_GENESIS, base);
  audit_entry_hash(2, 2, "r", "k", "{}", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 3, "r", "k", "{}", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 2, NULL, "k", "{}", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 2, "", "k", "{}", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 2, "r", "kk", "{}", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 2, "r", "k", "[]", AUDIT_GENESIS, h);
  cr_assert_str_neq(h, base);
  audit_entry_hash(1, 2, "r", "k", "{}", "1", h);
  cr_assert_str_neq(h, base);
  /* field boundaries are unambiguous */
  char x[65], y[65];
  audit_entry_hash(1, 2, "ab", "c", "{}", AUDIT_GENESIS, x);
  audit_entry_hash(1, 2, "a", "bc", "{}", AUDIT_GENESIS, y);
  cr_assert_str_neq(x, y);
}

Test(audit, empty_log_verifies)
{
  struct store *s = open_store();
  int64_t bad = -1;
  cr_assert_eq(audit_verify(s, &bad, NULL), 0);
  cr_assert_eq(bad, 0);
  store_close(s);
}

Test(audit, intact_chain_verifies)
{
  struct store *s = five_entries();
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  cr_assert_null(msg);
  cr_assert_eq(bad, 0);
  store_close(s);
}

struct links {
  int n;
  char prev[65];
};

static int check_link(void *ctx, const struct store_audit *e)
{
  struct links *l = ctx;
  cr_assert_eq(e->seq, l->n + 1);
  cr_assert_str_eq(e->prev_hash, l->prev);
  snprintf(l->prev, sizeof l->prev, "%s", e->hash);
  l->n++;
  return 0;
}

Test(audit, chain_links_each_entry_to_the_previous_hash)
{
  struct store *s = five_entries();
  struct store_audit head = {0};
  struct links l = {.prev = AUDIT_GENESIS};
  cr_assert_eq(store_audit_scan(s, NULL, &head, check_link, &l), 0);
  cr_assert_eq(l.n, 5);
  cr_assert_eq(head.seq, 5);
  cr_assert_str_eq(head.hash, l.prev);
  store_audit_clear(&head);
  store_close(s);
}

Test(audit, edited_data_detected_at_that_entry)
{
  struct store *s = five_entries();
  raw_exec("UPDATE audit SET data = '{\"i\":99}' WHERE seq = 3");
  expect_bad(s, 3);
  store_close(s);
}

Test(audit, edited_time_detected_at_that_entry)
{
  struct store *s = five_entries();
  raw_exec("UPDATE audit SET at = at + 1 WHERE seq = 2");
  expect_bad(s, 2);
  store_close(s);
}

Test(audit, deleted_middle_entry_detected)
{
  struct store *s = five_entries();
  raw_exec("DELETE FROM audit WHERE seq = 3");
  expect_bad(s, 3);
  store_close(s);
}

Test(audit, deleted_middle_entry_with_renumbering_detected)
{
  struct store *s = five_entries();
  raw_exec("DELETE FROM audit WHERE seq = 3;"
           "UPDATE audit SET seq = seq - 1 WHERE seq > 3;"
           "UPDATE audit_head SET seq = 4");
  expect_bad(s, 3);
  store_close(s);
}

Test(audit, swapped_entries_detected_at_the_first)
{
  struct store *s = five_entries();
  raw_exec("UPDATE audit SET seq = -1 WHERE seq = 2;"
           "UPDATE audit SET seq = 2 WHERE seq = 4;"
           "UPDATE audit SET seq = 4 WHERE seq = -1");
  expect_bad(s, 2);
  store_close(s);
}

Test(audit, deleted_last_entry_detected)
{
  struct store *s = five_entries();
  raw_exec("DELETE FROM audit WHERE seq = 5");
  expect_bad(s, 5);
  store_close(s);
}

Test(audit, deleted_head_record_detected)
{
  struct store *s = five_entries();
  raw_exec("DELETE FROM audit_head");
  expect_bad(s, 5);
  /* and appending refuses to start a second chain */
  cr_assert_eq(store_audit_append(s, 1, NULL, "run.created", "{}", NULL), WEFT_ECORRUPT);
  store_close(s);
}

Test(audit, replaced_last_entry_detected_by_head)
{
  struct store *s = five_entries();
  /* rewrite entry 5 with a self-consistent hash: only the head can tell */
  char h[65], sql[512];
  struct store_audit head = {0};
  char prev[65];
  sqlite3 *db;
  sqlite3_stmt *st;
  snprintf(sql, sizeof sql, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(sql, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT prev_hash FROM audit WHERE seq = 5", -1, &st, NULL),
               SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  audit_entry_hash(5, 1004, "01RUNA", "run.status", "{\"forged\":true}", prev, h);
  snprintf(sql, sizeof sql,
           "UPDATE audit SET data = '{\"forged\":true}', hash = '%s' WHERE seq = 5", h);
  raw_exec(sql);
  expect_bad(s, 5);
  store_audit_clear(&head);
  store_close(s);
}

Test(audit, entry_rolls_back_with_its_transition)
{
  struct store *s = five_entries();
  struct store_run r = {.id = "01TX", .workflow = "wf", .status = "queued", .created_at = 1};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_audit_append(s, 1, r.id, "run.created", "{}", NULL), 0);
  cr_assert_eq(store_rollback(s), 0);
  int64_t bad;
  cr_assert_eq(audit_verify(s, &bad, NULL), 0);
  int64_t seq;
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_audit_append(s, 1, r.id, "run.created", "{}", &seq), 0);
  cr_assert_eq(store_commit(s), 0);
  cr_assert_eq(seq, 6);
  cr_assert_eq(audit_verify(s, &bad, NULL), 0);
  store_close(s);
}

Test(audit, new_workflow_version_is_audited_once)
{
  struct store *s = open_store();
  char hash[65];
  cr_assert_eq(store_workflow_put(s, "wf", "wf.yaml", "name: wf\n", 5, hash, NULL), 0);
  cr_assert_eq(store_workflow_put(s, "wf", "wf.yaml", "name: wf\n", 6, hash, NULL), 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_eq(audit_export(s, NULL, f), 0);
  fclose(f);
  json_error_t e;
  json_t *o = json_loads(buf, JSON_DISABLE_EOF_CHECK, &e);
  cr_assert_not_null(o, "%s", e.text);
  cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "definition");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "data"), "hash")), hash);
  json_decref(o);
  cr_assert_eq(strchr(buf, '\n') - buf + 1, (long)len, "exactly one line");
  free(buf);
  store_close(s);
}

/* Parses every line of text as one JSON object; returns how many. */
static int parse_lines(char *text, const char *want_run)
{
  int n = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    cr_assert_not_null(o, "line %d: %s: %s", n + 1, e.text, line);
    cr_assert(json_is_object(o));
    cr_assert(json_is_integer(json_object_get(o, "seq")));
    cr_assert(json_is_string(json_object_get(o, "at")));
    cr_assert(json_is_integer(json_object_get(o, "at_ms")));
    cr_assert(json_is_string(json_object_get(o, "kind")));
    cr_assert(json_is_object(json_object_get(o, "data")));
    cr_assert_eq(strlen(json_string_value(json_object_get(o, "hash"))), 64);
    cr_assert_eq(strlen(json_string_value(json_object_get(o, "prev_hash"))), 64);
    if (want_run)
      cr_assert_str_eq(json_string_value(json_object_get(o, "run")), want_run);
    json_decref(o);
    n++;
  }
  return n;
}

Test(audit, export_prints_json_lines)
{
  struct store *s = five_entries();
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_eq(audit_export(s, NULL, f), 0);
  fclose(f);
  cr_assert_eq(buf[len - 1], '\n');
  cr_assert_eq(parse_lines(buf, NULL), 5);
  free(buf);
  store_close(s);
}

Test(audit, export_of_one_run_has_only_its_entries)
{
  struct store *s = five_entries();
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_eq(audit_export(s, "01RUNB", f), 0);
  fclose(f);
  cr_assert_eq(parse_lines(buf, "01RUNB"), 2);
  free(buf);
  store_close(s);
}

Test(audit, append_rejects_data_that_is_not_json)
{
  struct store *s = open_store();
  cr_assert_eq(store_audit_append(s, 1, NULL, "run.created", "{oops", NULL), WEFT_EPARSE);
  int64_t bad;
  cr_assert_eq(audit_verify(s, &bad, NULL), 0);
  store_close(s);
}

/* The entry hash's SHA-256 (SHA-NI when the CPU has it) agrees with the
 * portable util/sha256.c for every length around the block boundaries. */
Test(audit, fast_sha256_matches_portable)
{
  unsigned char buf[1100];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(i * 131 + 7);
  for (size_t n = 0; n < sizeof buf; n += n < 200 ? 1 : 37) {
    char a[SHA256_HEX_LEN + 1], b[SHA256_HEX_LEN + 1];
    audit_sha256_hex(buf, n, a); /* SHA-NI where the CPU has it */
    int was = sha256_use_hw(0);
    audit_sha256_hex(buf, n, b); /* the portable code */
    if (was)
      sha256_use_hw(1);
    cr_assert_str_eq(a, b, "length %zu", n);
  }
  char h[SHA256_HEX_LEN + 1];
  audit_sha256_hex("abc", 3, h);
  cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static int keep_data(void *ctx, const struct store_audit *e)
{
  snprintf(ctx, 128, "%s", e->data ? e->data : "");
  return 0;
}

/* Appends inside one transaction chain through the in-memory head; the head
 * row is written at commit, and a rollback forgets the cached head. */
Test(audit, head_cached_within_transaction)
{
  struct store *s = open_store();
  cr_assert_eq(store_audit_append(s, 1, NULL, "a", "{}", NULL), 0);
  cr_assert_eq(store_begin(s), 0);
  int64_t seq = 0;
  for (int i = 0; i < 5; i++)
    cr_assert_eq(store_audit_append(s, 2, NULL, "b", "{\"i\":1}", &seq), 0);
  cr_assert_eq(seq, 6);
  cr_assert_eq(store_rollback(s), 0);
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_audit_append(s, 3, NULL, "c", NULL, &seq), 0);
  cr_assert_eq(seq, 2, "a rollback must forget the cached head");
  json_t *v = json_pack("{s:s,s:i}", "z", "\xc3\xa9", "a", 1);
  cr_assert_eq(store_audit_append_json(s, 3, NULL, "d", v, &seq), 0);
  json_decref(v);
  cr_assert_eq(store_commit(s), 0);
  cr_assert_eq(seq, 3);
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  free(msg);
  struct store_audit head = {0};
  char last[128] = "";
  cr_assert_eq(store_audit_scan(s, NULL, &head, keep_data, last), 0);
  cr_assert_eq(head.seq, 3, "the head row is written at commit");
  cr_assert_str_eq(last, "{\"a\":1,\"z\":\"\\u00E9\"}", "canonical: sorted, ASCII: %s", last);
  store_audit_clear(&head);
  store_close(s);
}

/* ---- the store against the log (audit/xcheck.c) ---- */

static struct store *one_failed_step(void)
{
  struct store *s = open_store();
  struct store_run r = {.id = "01X", .workflow = "wf", .status = "failed", .created_at = 1};
  struct store_step st = {.run_id = "01X", .step = "a", .index = 2, .status = "failed",
                          .attempts = 1};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_step_put(s, &st), 0);
  cr_assert_eq(store_audit_append(s, 1, "01X", "run.created", "{}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 2, "01X", "step.expanded",
                                  "{\"step\":\"a\",\"instances\":3}", NULL), 0);
  /* nested "status" keys (an http error) must not be taken for the step's */
  cr_assert_eq(store_audit_append(s, 3, "01X", "step.status",
                                  "{\"attempts\":1,\"error\":{\"status\":\"running\",\"x\":[{\"status"
                                  "\":1}]},\"index\":2,\"status\":\"failed\",\"step\":\"a\"}",
                                  NULL), 0);
  cr_assert_eq(store_audit_append(s, 4, "01X", "run.status", "{\"status\":\"failed\"}", NULL), 0);
  cr_assert_eq(store_commit(s), 0);
  return s;
}

Test(audit, store_that_agrees_with_its_log_verifies)
{
  struct store *s = one_failed_step();
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  store_close(s);
}

Test(audit, cut_tail_with_head_moved_is_found_by_the_store)
{
  struct store *s = one_failed_step();
  store_close(s);
  /* entries 3 and 4 go; the head is moved to entry 2: the chain is sound */
  raw_exec("DELETE FROM audit WHERE seq > 2;"
           "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit WHERE seq = 2);");
  s = open_store();
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_eq(bad, 0); /* not a chain position: the store has what the log lacks */
  cr_assert_not_null(strstr(msg, "run 01X"), "%s", msg);
  free(msg);
  store_close(s);
}

Test(audit, pending_instance_needs_its_expansion_entry)
{
  struct store *s = one_failed_step();
  struct store_step st = {.run_id = "01X", .step = "a", .index = 5, .status = "pending"};
  cr_assert_eq(store_step_put(s, &st), 0); /* index 5 of a 3-instance expansion */
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_not_null(strstr(msg, "a[5]"), "%s", msg);
  free(msg);
  store_close(s);
}

Test(audit, instances_expanded_again_by_a_retry_are_pending_without_entries)
{
  struct store *s = open_store();
  struct store_run r = {.id = "01Y", .workflow = "wf", .status = "running", .created_at = 1};
  struct store_step st = {.run_id = "01Y", .step = "a", .index = 0, .status = "pending"};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_step_put(s, &st), 0);
  cr_assert_eq(store_audit_append(s, 1, "01Y", "run.created", "{}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 2, "01Y", "run.status", "{\"status\":\"running\"}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 3, "01Y", "step.expanded",
                                  "{\"step\":\"a\",\"instances\":1}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 4, "01Y", "step.status",
                                  "{\"attempts\":1,\"index\":0,\"status\":\"failed\",\"step\":\"a\"}",
                                  NULL), 0);
  /* `weft retry`: the step expands again and its instance rows are pending */
  cr_assert_eq(store_audit_append(s, 5, "01Y", "step.expanded",
                                  "{\"step\":\"a\",\"instances\":1}", NULL), 0);
  cr_assert_eq(store_commit(s), 0);
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  /* a row still failed after the re-expansion is not what the log says */
  st.status = "failed";
  st.attempts = 1;
  cr_assert_eq(store_step_put(s, &st), 0);
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_not_null(strstr(msg, "expanded again"), "%s", msg);
  free(msg);
  store_close(s);
}

Test(audit, instance_span_entry_covers_its_rows)
{
  /* rt_journal.c audits like transitions of instances 0..3 as one
   * step.instances entry; each of the four rows must agree with it */
  struct store *s = open_store();
  struct store_run r = {.id = "01Z", .workflow = "wf", .status = "running", .created_at = 1};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  for (int i = 0; i < 4; i++) {
    struct store_step st = {.run_id = "01Z", .step = "a", .index = i, .status = "succeeded",
                            .attempts = 1};
    cr_assert_eq(store_step_put(s, &st), 0);
  }
  cr_assert_eq(store_audit_append(s, 1, "01Z", "run.created", "{}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 2, "01Z", "run.status", "{\"status\":\"running\"}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 3, "01Z", "step.expanded",
                                  "{\"step\":\"a\",\"instances\":4}", NULL), 0);
  cr_assert_eq(store_audit_append(s, 4, "01Z", "step.instances",
                                  "{\"attempts\":1,\"from\":0,\"status\":\"succeeded\","
                                  "\"step\":\"a\",\"to\":3}", NULL), 0);
  cr_assert_eq(store_commit(s), 0);
  int64_t bad = -1;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  /* a row the span does not describe (index 2 edited to failed) is found */
  struct store_step st = {.run_id = "01Z", .step = "a", .index = 2, .status = "failed",
                          .attempts = 1};
  cr_assert_eq(store_step_put(s, &st), 0);
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_not_null(strstr(msg, "a[2]"), "%s", msg);
  free(msg);
  msg = NULL;
  /* and an instance past the span, with no entry of its own */
  st.status = "succeeded";
  cr_assert_eq(store_step_put(s, &st), 0);
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  struct store_step past = {.run_id = "01Z", .step = "a", .index = 4, .status = "succeeded",
                            .attempts = 1};
  cr_assert_eq(store_step_put(s, &past), 0);
  cr_assert_eq(audit_verify(s, &bad, &msg), WEFT_ECORRUPT);
  cr_assert_not_null(strstr(msg, "a[4]"), "%s", msg);
  free(msg);
  store_close(s);
}
