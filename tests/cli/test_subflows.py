"""End-to-end: `workflow` steps (sub-workflows).

The child is its own run linked to its parent (status both ways, `parent` in
--json), its outputs are the step's outputs, a failed child fails the step,
cancelling the parent cancels the child, recursion stops at the depth limit,
and after SIGKILL `weft resume` finishes both parent and child."""
from harness import WeftTest, main
import json
import os
import signal
import time


class Subflows(WeftTest):
    def runs(self):
        r = self.weft("runs", "--json")
        return r.json() if r.code == 0 else []

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def child_of(self, parent_id):
        for r in self.runs():
            if r["id"] != parent_id and self.status(r["id"]).get("parent") == parent_id:
                return r["id"]
        return None

    def write_pair(self, child_step='run: echo "sum=$((A + B))" >> "$WEFT_OUTPUT"'):
        self.write("lib/add.yaml", f"""
            name: add
            inputs:
              a: {{type: integer}}
              b: {{type: integer, default: 10}}
            steps:
              sum:
                env: {{A: "${{{{ .inputs.a }}}}", B: "${{{{ .inputs.b }}}}"}}
                {child_step}
            outputs:
              total: ${{{{ .steps.sum.outputs.sum }}}}
        """)
        return self.write("flows/parent.yaml", """
            name: parent
            steps:
              first:
                workflow: {file: ../lib/add.yaml, inputs: {a: 2, b: 3}}
              second:
                needs: first
                workflow:
                  file: ../lib/add.yaml
                  inputs: {a: "${{ .steps.first.outputs.total }}"}
            outputs:
              result: ${{ .steps.second.outputs.total }}
        """)

    def test_child_outputs_become_step_outputs_and_runs_are_linked(self):
        p = self.write_pair()
        os.makedirs(os.path.join(self.tmp, "elsewhere"))
        env = dict(self.env)
        r = self.weft("run", p, "--json")  # the file path is relative to the parent file
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["status"], "succeeded")
        self.assertIsNone(j["parent"])
        self.assertEqual(j["steps"]["first"]["outputs"], {"total": 5})
        self.assertEqual(j["outputs"], {"result": 15})
        # one JSON document: the children are not reported as runs of their own
        runs = self.runs()
        self.assertEqual(len(runs), 3)
        children = [x for x in runs if x["id"] != j["id"]]
        for c in children:
            s = self.status(c["id"])
            self.assertEqual(s["parent"], j["id"])
            self.assertEqual(s["workflow"], "add")
            self.assertEqual(s["status"], "succeeded")
            txt = self.weft("status", c["id"]).out
            self.assertIn(j["id"], txt)
        txt = self.weft("status", j["id"]).out
        for c in children:
            self.assertIn(c["id"], txt)

    def test_failed_child_fails_the_step(self):
        p = self.write_pair(child_step="run: 'echo broken >&2; exit 4'")
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        j = r.json()
        first = j["steps"]["first"]
        self.assertEqual(first["status"], "failed")
        self.assertIn("sub-workflow run", first["error"]["message"])
        self.assertIn("failed", first["error"]["message"])
        self.assertEqual(j["steps"]["second"]["status"], "skipped")
        child = self.child_of(j["id"])
        self.assertEqual(self.status(child)["status"], "failed")

    def test_bad_child_inputs_and_missing_file(self):
        self.write("kid.yaml", """
            name: kid
            inputs: {n: {type: integer, required: true}}
            steps: {s: {run: 'true'}}
        """)
        p = self.write("p.yaml", """
            name: p
            steps:
              noinput: {workflow: {file: kid.yaml}}
              nofile: {workflow: {file: nowhere.yaml}}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        j = r.json()
        self.assertIn("inputs", j["steps"]["noinput"]["error"]["message"])
        self.assertIn("nowhere.yaml", j["steps"]["nofile"]["error"]["message"])

    def test_recursion_stops_at_the_depth_limit(self):
        p = self.write("loop.yaml", """
            name: loop
            steps:
              again: {workflow: {file: loop.yaml}}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        j = r.json()
        self.assertEqual(j["status"], "failed")
        msg = self.weft("status", j["id"], "--json").json()["steps"]["again"]["error"]["message"]
        # the innermost failure names the limit; it travels up through every level
        self.assertIn("sub-workflow", msg)
        self.assertIn("nest more than 16", msg)
        runs = self.runs()
        self.assertEqual(len(runs), 17)  # the top run and 16 nested children
        deepest = [x for x in runs if not self.child_of(x["id"])]
        self.assertEqual(len(deepest), 1)
        e = self.status(deepest[0]["id"])["steps"]["again"]["error"]
        self.assertIn("nest more than 16", e["message"])

    def test_cancelling_the_parent_cancels_the_child(self):
        self.write("kid.yaml", """
            name: kid
            steps:
              block: {wait: {event: never}}
        """)
        p = self.write("p.yaml", """
            name: p
            steps:
              sub: {workflow: {file: kid.yaml}}
        """)
        proc = self.spawn("run", p, "--json")
        parent = self.wait_for(lambda: next((x["id"] for x in self.runs() if x["workflow"] == "p"), None),
                               "the parent run")
        child = self.wait_for(lambda: self.child_of(parent), "the child run")
        self.wait_for(lambda: self.status(child)["steps"]["block"]["status"] == "waiting",
                      "the child to wait")
        self.assertExit(self.weft("cancel", parent), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 3, err)
        self.assertEqual(json.loads(out)["status"], "cancelled")
        self.assertEqual(self.status(child)["status"], "cancelled")

    def test_sigkill_then_resume_finishes_parent_and_child(self):
        self.write("kid.yaml", """
            name: kid
            steps:
              slow:
                run: |
                  echo x >> "$WEFT_WORKSPACE/count"
                  if [ ! -f "$WEFT_WORKSPACE/../go" ]; then touch "$WEFT_WORKSPACE/started"; sleep 300; fi
                  echo "v=ok" >> "$WEFT_OUTPUT"
            outputs: {v: "${{ .steps.slow.outputs.v }}"}
        """)
        p = self.write("p.yaml", """
            name: p
            steps:
              sub: {workflow: {file: kid.yaml}}
              after: {needs: sub, command: [echo, "${{ .steps.sub.outputs.v }}"]}
            outputs: {v: "${{ .steps.sub.outputs.v }}"}
        """)
        for how in ("all", "parent"):
            with self.subTest(how=how):
                proc = self.spawn("run", p, "--json")
                parent = self.wait_for(
                    lambda: next((x["id"] for x in self.runs()
                                  if x["workflow"] == "p" and x["status"] == "running"), None),
                    "the parent run")
                child = self.wait_for(lambda: self.child_of(parent), "the child run")
                ws = os.path.join(self.home, "workspaces", child)
                self.wait_for(lambda: os.path.exists(os.path.join(ws, "started")), "the child step")
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                open(os.path.join(self.home, "workspaces", "go"), "w").close()
                r = self.weft("resume", "--json") if how == "all" else self.weft("resume", parent, "--json")
                self.assertExit(r, 0)
                j = json.loads(r.out)
                self.assertEqual(j["id"], parent)
                self.assertEqual(j["status"], "succeeded")
                self.assertEqual(j["outputs"], {"v": "ok"})
                cs = self.status(child)
                self.assertEqual(cs["status"], "succeeded")
                self.assertEqual(cs["steps"]["slow"]["attempts"], 2)
                # the child was taken over, not started again
                self.assertEqual(len([x for x in self.runs() if x["workflow"] == "kid"]),
                                 1 if how == "all" else 2)
                os.remove(os.path.join(self.home, "workspaces", "go"))


if __name__ == "__main__":
    main()
