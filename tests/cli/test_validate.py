"""End-to-end: weft validate, graph, help, version and their exit codes."""
from harness import WeftTest, main, ROOT
import glob
import os


class Validate(WeftTest):
    def test_valid_file_exits_zero(self):
        p = self.write("ok.yaml", """
            name: ok
            steps:
              a: {run: echo hi}
              b: {needs: a, command: [echo, "${{ .steps.a.status }}"]}
        """)
        r = self.weft("validate", p)
        self.assertExit(r, 0)
        self.assertIn("ok", r.out)

    def test_every_problem_is_reported_with_position(self):
        p = self.write("bad.yaml", """
            name: bad
            steps:
              a:
                run: echo hi
                nedds: [b]
              b:
                needs: [zz]
                run: echo "${{ .inputs.x }}"
        """)
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        lines = [l for l in r.err.splitlines() if l.startswith(p + ":")]
        self.assertGreaterEqual(len(lines), 3, r)
        self.assertTrue(any(":5:5:" in l and "did you mean" in l and "needs" in l for l in lines), r)
        self.assertTrue(any("zz" in l and ":7:" in l for l in lines), r)
        self.assertTrue(any("env" in l and ":8:" in l for l in lines), r)

    def test_cycle_lists_the_whole_cycle(self):
        p = self.write("cycle.yaml", """
            name: cyc
            steps:
              a: {needs: c, run: "true"}
              b: {needs: a, run: "true"}
              c: {needs: b, run: "true"}
        """)
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        self.assertRegex(r.err, r"cycle.*(a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c|a -> c -> b -> a|c -> b -> a -> c|b -> a -> c -> b)")

    def test_missing_file_is_not_found(self):
        r = self.weft("validate", "nope.yaml")
        self.assertExit(r, 4)
        self.assertTrue(r.err.startswith("weft: "), r)

    def test_no_arguments_is_usage_error(self):
        r = self.weft("validate")
        self.assertExit(r, 2)
        self.assertIn("usage:", r.err)

    def test_all_examples_are_valid(self):
        files = sorted(glob.glob(os.path.join(ROOT, "examples", "*.yaml")))
        self.assertTrue(files)
        r = self.weft("validate", *files)
        self.assertExit(r, 0)

    def test_several_files_report_each(self):
        good = self.write("g.yaml", "name: g\nsteps: {a: {run: 'true'}}\n")
        bad = self.write("b.yaml", "name: B!\nsteps: {a: {run: 'true'}}\n")
        r = self.weft("validate", good, bad)
        self.assertExit(r, 2)
        self.assertIn(bad + ":1:7:", r.err)
        self.assertNotIn(good + ":", r.err)


class Graph(WeftTest):
    def setUp(self):
        super().setUp()
        self.p = self.write("g.yaml", """
            name: g
            steps:
              a: {run: "true"}
              b: {needs: a, run: "true"}
              c: {needs: [a, b], run: "true"}
            finally:
              z: {run: "true"}
        """)

    def test_text(self):
        r = self.weft("graph", self.p)
        self.assertExit(r, 0)
        self.assertLess(r.out.index(" a "), r.out.index(" b "))
        self.assertIn("c [run] <- a, b", r.out)

    def test_dot(self):
        r = self.weft("graph", self.p, "--format", "dot")
        self.assertExit(r, 0)
        self.assertIn('"a" -> "b";', r.out)
        self.assertIn('"b" -> "c";', r.out)
        self.assertTrue(r.out.startswith("digraph"))

    def test_mermaid(self):
        r = self.weft("graph", self.p, "--format=mermaid")
        self.assertExit(r, 0)
        self.assertIn("a --> c", r.out)

    def test_bad_format(self):
        r = self.weft("graph", self.p, "--format", "png")
        self.assertExit(r, 2)


class Help(WeftTest):
    def test_help_lists_commands(self):
        r = self.weft("help")
        self.assertExit(r, 0)
        for cmd in ["run", "validate", "graph", "status", "runs", "logs", "cancel", "retry",
                    "resume", "approvals", "approve", "reject", "event", "audit"]:
            self.assertIn(cmd, r.out)

    def test_command_help(self):
        for cmd in ["run", "validate", "graph", "status"]:
            r = self.weft(cmd, "--help")
            self.assertExit(r, 0)
            self.assertIn("usage: weft " + cmd, r.out)

    def test_version(self):
        r = self.weft("version")
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"^weft \d+\.\d+\.\d+")

    def test_unknown_command(self):
        r = self.weft("frobnicate")
        self.assertExit(r, 2)
        self.assertTrue(r.err.startswith("weft: unknown command"))


if __name__ == "__main__":
    main()
