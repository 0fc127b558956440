/* test_expr_refs.c — expr_refs_fields(): what validation's name checks see
 * of an expression (`.inputs.X`, `.steps.X.FIELD`, `.needs.X.FIELD`), and
 * what they must not see (anything after a `|`, whole-object reads). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr.h"

struct seen {
  char text[512];
};

static void on_ref(void *ud, const struct expr_ref *r)
{
  struct seen *s = ud;
  size_t n = strlen(s->text);
  snprintf(s->text + n, sizeof s->text - n, "%s%s.%.*s%s%.*s", n ? " " : "", r->root,
           (int)r->name_len, r->name, r->field ? "." : "", (int)r->field_len,
           r->field ? r->field : "");
}

static void sees(const char *expr, const char *want)
{
  struct seen s = {{0}};
  expr_refs_fields(expr, strlen(expr), on_ref, &s);
  cr_expect_str_eq(s.text, want, "%s", expr);
}

Test(expr_refs_fields, inputs_where_the_input_is_the_context)
{
  sees(".inputs.a", "inputs.a");
  sees(".inputs[\"b\"] + .inputs.\"c\"", "inputs.b inputs.c");
  sees("[.inputs.a, {x: .inputs.b}] | length", "inputs.a inputs.b");
  sees("if .inputs.a then .inputs.b else 1 end", "inputs.a inputs.b");
  sees("\"v\\(.inputs.a)\"", "inputs.a");
  sees(".steps.s.outputs as $o | .inputs.a", "steps.s.outputs inputs.a");
  /* not the workflow's inputs */
  sees(".steps.s.outputs | .inputs.a", "steps.s.outputs");
  sees("{inputs: {a: 1}} | .inputs.a", "");
  sees(".x.inputs.a", "");
  sees(".inputs | .a", "");
  sees(".inputs?.a", "");
}

Test(expr_refs_fields, step_fields)
{
  sees(".steps.a.status", "steps.a.status");
  sees(".steps[\"b-c\"][\"outputs\"].x", "steps.b-c.outputs");
  sees(".needs.a.exit_code", "needs.a.exit_code");
  sees(".steps.a", "steps.a");
  sees(".steps.a | .attempts", "steps.a");
  sees(".steps | keys", "");
  sees(".", "");
}
