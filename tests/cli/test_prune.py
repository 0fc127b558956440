"""End-to-end: `weft prune --older-than D [--dry-run]` deletes runs that
ended more than D ago with their logs and workspaces, writes one run.pruned
audit entry per run, and leaves a log that still verifies (with checkpoints
taken before, too). Sub-workflow runs go with their top-level run only.
Ages are set in the store (finished_at) so nothing depends on the clock."""
from harness import WeftTest, main
import json
import os

DAY = 86400 * 1000

PARENT = """
name: parent
steps:
  a: {run: 'echo parent > "$WEFT_WORKSPACE/p.txt"'}
  kid: {needs: a, workflow: {file: kid.yaml}}
"""
KID = """
name: kid
steps:
  k: {run: 'echo kid'}
"""
PLAIN = """
name: plain
steps:
  a: {run: 'echo plain'}
"""


class Prune(WeftTest):
    def run_wf(self, name, text):
        r = self.weft("run", self.write(name, text), "--json")
        self.assertExit(r, 0)
        return r.json()["id"]

    def age(self, rid, days):
        """makes run rid (and its sub-workflow runs) have ended `days` ago"""
        with self.store_db() as db:  # either store (WEFT_TEST_STORE)
            db.execute("UPDATE runs SET finished_at = finished_at - ? WHERE id = ? OR parent_id = ?",
                       (days * DAY, rid, rid))

    def runs(self):
        return {r["id"] for r in self.weft("runs", "--json").json()}

    def entries(self, kind=None):
        r = self.weft("audit", "export")
        self.assertExit(r, 0)
        es = [json.loads(l) for l in r.out.splitlines()]
        return [e for e in es if kind is None or e["kind"] == kind]

    def setUp(self):
        super().setUp()
        self.write("kid.yaml", KID)
        self.old = self.run_wf("p.yaml", PARENT)
        self.new = self.run_wf("plain.yaml", PLAIN)
        self.kid = [r["id"] for r in self.weft("runs", "--json").json()
                    if r["workflow"] == "kid"][0]
        self.age(self.old, 40)
        self.assertTrue(os.path.isdir(os.path.join(self.home, "workspaces", self.old)))
        self.assertTrue(os.path.isdir(os.path.join(self.home, "logs", self.old)))

    def test_prune_then_verify_is_intact(self):
        cp = os.path.join(self.tmp, "cp.jsonl")
        self.assertExit(self.weft("audit", "checkpoint", "--out", cp), 0)
        before = len(self.entries())
        r = self.weft("prune", "--older-than", "30d")
        self.assertExit(r, 0)
        self.assertIn("pruned " + self.old, r.out)
        self.assertIn("with 1 sub-workflow run", r.out)
        self.assertEqual(self.runs(), {self.new})
        for sub in ("logs", "workspaces"):
            for rid in (self.old, self.kid):
                self.assertFalse(os.path.exists(os.path.join(self.home, sub, rid)), (sub, rid))
        self.assertTrue(os.path.isdir(os.path.join(self.home, "logs", self.new)))
        pruned = self.entries("run.pruned")
        self.assertEqual(sorted(e["run"] for e in pruned), sorted([self.old, self.kid]))
        self.assertEqual(len(self.entries()), before + 2)  # every earlier entry stays
        self.assertExit(self.weft("status", self.old), 4)
        r = self.weft("audit", "verify")
        self.assertExit(r, 0)
        r = self.weft("audit", "verify", "--checkpoint", cp)
        self.assertExit(r, 0)
        # nothing left to prune
        r = self.weft("prune", "--older-than", "30d")
        self.assertExit(r, 0)
        self.assertIn("pruned 0 runs", r.out)

    def test_dry_run_deletes_nothing(self):
        before = self.entries()
        r = self.weft("prune", "--older-than", "30d", "--dry-run")
        self.assertExit(r, 0)
        self.assertIn("would prune " + self.old, r.out)
        self.assertNotIn(self.new, r.out)
        self.assertEqual(self.runs(), {self.old, self.new, self.kid})
        self.assertEqual(self.entries(), before)
        self.assertTrue(os.path.isdir(os.path.join(self.home, "workspaces", self.old)))
        self.assertTrue(os.path.isdir(os.path.join(self.home, "logs", self.kid)))

    def test_young_runs_and_children_of_young_parents_are_kept(self):
        # the sub-workflow run alone is old: it goes only with its parent
        with self.store_db() as db:  # either store (WEFT_TEST_STORE)
            db.execute("UPDATE runs SET finished_at = finished_at + ? WHERE id = ?",
                       (40 * DAY, self.old))
        r = self.weft("prune", "--older-than", "30d")
        self.assertExit(r, 0)
        self.assertIn("pruned 0 runs", r.out)
        self.assertEqual(self.runs(), {self.old, self.new, self.kid})

    def test_a_tree_with_an_active_run_is_kept(self):
        self.verify_at_end = False  # the store is edited by hand below
        with self.store_db() as db:  # either store (WEFT_TEST_STORE)
            db.execute("UPDATE runs SET status = 'waiting' WHERE id = ?", (self.kid,))
        r = self.weft("prune", "--older-than", "30d")
        self.assertExit(r, 0)
        self.assertIn("kept " + self.old, r.out)
        self.assertIn(self.old, self.runs())

    def test_bad_arguments_are_usage_errors(self):
        for args in (["prune"], ["prune", "--older-than", "30"], ["prune", "--older-than", "x"],
                     ["prune", "--older-than", "1d", "--nope"]):
            r = self.weft(*args)
            self.assertExit(r, 2)
            self.assertTrue(r.err.startswith("weft: "), r.err)
        self.assertEqual(self.runs(), {self.old, self.new, self.kid})


if __name__ == "__main__":
    main()
