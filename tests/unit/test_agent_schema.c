/* test_agent_schema.c — the JSON-schema subset of agent steps
 * (agent_schema_check: type, required, properties, items, enum) and its
 * messages, which name where the value fails. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "exec/agent.h"

static bool check(const char *schema, const char *value, char *msg, size_t n)
{
  json_t *s = json_loads(schema, 0, NULL), *v = json_loads(value, JSON_DECODE_ANY, NULL);
  cr_assert(s && v, "bad test JSON");
  msg[0] = '\0';
  bool ok = agent_schema_check(s, v, msg, n);
  json_decref(s);
  json_decref(v);
  return ok;
}

Test(agent_schema, types)
{
  char m[256];
  cr_assert(check("{\"type\":\"object\"}", "{}", m, sizeof m));
  cr_assert_not(check("{\"type\":\"object\"}", "[]", m, sizeof m));
  cr_assert_str_eq(m, "$ must be of type object");
  cr_assert(check("{\"type\":\"integer\"}", "2.0", m, sizeof m));
  cr_assert_not(check("{\"type\":\"integer\"}", "2.5", m, sizeof m));
  cr_assert(check("{\"type\":\"number\"}", "2", m, sizeof m));
  cr_assert_not(check("{\"type\":\"string\"}", "2", m, sizeof m));
  cr_assert(check("{\"type\":\"null\"}", "null", m, sizeof m));
  cr_assert(check("{\"type\":[\"string\",\"null\"]}", "null", m, sizeof m));
  cr_assert_not(check("{\"type\":[\"string\",\"null\"]}", "true", m, sizeof m));
  cr_assert(check("{\"type\":\"whatever\"}", "true", m, sizeof m)); /* unknown: no constraint */
}

Test(agent_schema, required_properties_items_enum)
{
  const char *s = "{\"type\":\"object\",\"required\":[\"verdict\"],\"properties\":{"
                  "\"verdict\":{\"enum\":[\"ok\",\"bad\"]},"
                  "\"scores\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
                  "\"who\":{\"type\":\"object\",\"required\":[\"name\"]}}}";
  char m[256];
  cr_assert(check(s, "{\"verdict\":\"ok\",\"scores\":[1,2],\"who\":{\"name\":\"a\"}}", m, sizeof m));
  cr_assert(check(s, "{\"verdict\":\"bad\",\"extra\":1}", m, sizeof m));
  cr_assert_not(check(s, "{}", m, sizeof m));
  cr_assert_str_eq(m, "$.verdict is required");
  cr_assert_not(check(s, "{\"verdict\":\"maybe\"}", m, sizeof m));
  cr_assert_str_eq(m, "$.verdict is not one of the values of enum");
  cr_assert_not(check(s, "{\"verdict\":\"ok\",\"scores\":[1,\"x\"]}", m, sizeof m));
  cr_assert_str_eq(m, "$.scores[1] must be of type integer");
  cr_assert_not(check(s, "{\"verdict\":\"ok\",\"who\":{}}", m, sizeof m));
  cr_assert_str_eq(m, "$.who.name is required");
}

Test(agent_schema, enum_compares_json_values)
{
  char m[256];
  cr_assert(check("{\"enum\":[1,{\"a\":[true]}]}", "{\"a\":[true]}", m, sizeof m));
  cr_assert_not(check("{\"enum\":[1,{\"a\":[true]}]}", "\"1\"", m, sizeof m));
}
