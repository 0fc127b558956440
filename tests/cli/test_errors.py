"""End-to-end: errors and set-up problems say what happened and what to do —
bad `weft logs` selectors, a for_each index past the instances, a corrupt or
read-only home, a full disk, over-deep expressions, `triggers:` outside the
server."""
from harness import WeftTest, main
import os
import re

FE = """
name: fe
steps:
  s:
    for_each: [1, 2, 3]
    run: echo "hi $WEFT_ITEM"
"""


class Logs(WeftTest):
    def fe_run(self):
        p = self.write("fe.yaml", FE)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        return r.json()["id"]

    def test_a_step_that_is_not_an_id_is_a_usage_error(self):
        run = self.fe_run()
        for arg, msg in (("s:../../x", '"s:../../x": the instance index must be a number from 0'),
                         ("../../x", '"../../x" is not a step id'),
                         ("s:-1", '"s:-1": the instance index must be a number from 0'),
                         ("s[1", '"s[1": an instance is written STEP:INDEX or STEP[INDEX]')):
            r = self.weft("logs", run, arg)
            self.assertExit(r, 2)
            self.assertIn("weft: " + msg, r.err)
            self.assertEqual(r.out, "")

    def test_attempt_must_be_a_whole_number(self):
        run = self.fe_run()
        for bad in ("1x", "0", "-2", " 1", "99999999999"):
            r = self.weft("logs", run, "s:1", "--attempt", bad)
            self.assertExit(r, 2)
            self.assertIn('weft: --attempt takes a number from 1, not "%s"' % bad, r.err)
        r = self.weft("logs", run, "s[1]", "--attempt", "1")
        self.assertExit(r, 0)
        self.assertEqual(r.out, "hi 2\n")

    def test_an_index_past_the_instances_says_how_many_there_are(self):
        run = self.fe_run()
        r = self.weft("logs", run, "s:99")
        self.assertExit(r, 4)
        self.assertIn('weft: step "s" of run %s has 3 instances (s:0 to s:2); there is no s:99'
                      % run[:8], r.err)
        self.assertEqual(self.weft("logs", run, "s:2").out, "hi 3\n")


class Expressions(WeftTest):
    def test_ten_thousand_open_brackets_are_a_validation_error(self):
        deep = "(" * 10000 + "1" + ")" * 10000
        p = self.write("deep.yaml", 'name: deep\nsteps:\n  a:\n    set: {x: "${{ %s }}"}\n' % deep)
        for cmd in ("validate", "run"):
            r = self.weft(cmd, p)
            self.assertExit(r, 2)
            self.assertIn("deep.yaml:4:15: expression nests brackets more than 1024 deep; "
                          "write it with less nesting", r.err)
            self.assertNotIn("without a closing", r.err)
        p = self.write("deep2.yaml", 'name: deep\nsteps:\n  a:\n    if: "%s"\n    run: echo\n'
                       % ("[" * 5000 + "1" + "]" * 5000))
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        self.assertIn("deep2.yaml:4:10: invalid expression: brackets nest more than 1024 deep", r.err)


if __name__ == "__main__":
    main()
