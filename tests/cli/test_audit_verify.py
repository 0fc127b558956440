"""End-to-end: what `weft audit verify` finds, with and without checkpoints.

The chain walk finds an edited, reordered or removed entry (and a rewritten
link between two entries); the cross-check of the store against the log finds
what the chain alone cannot: a cut tail with the head moved, an emptied log,
a run removed from the store. A chain recomputed from scratch together with
its head is found only against a signed checkpoint taken before (documented
in docs/audit.md). A store file that is empty or not a database is an error
for every command, never silently a fresh store."""
from harness import WeftTest, main
import hashlib
import json
import os

WF = """
name: tamper
steps:
  a: {run: 'echo one'}
  fan:
    needs: a
    for_each: [1, 2, 3]
    run: 'echo "$X"'
    env: {X: "${{ .item }}"}
  ok:
    needs: fan
    approval: {message: "go?", timeout: 1s, on_timeout: approve}
"""


def entry_hash(seq, at, run, kind, data, prev):
    """the hash of an entry, as docs/internals/audit.md defines it"""
    def ns(x):
        if x is None:
            return b"~,"
        b = x.encode() if isinstance(x, str) else x
        return str(len(b)).encode() + b":" + b + b","
    return hashlib.sha256(b"weft-audit-1\n" + ns(str(seq)) + ns(str(at)) + ns(run) + ns(kind)
                          + ns(data) + ns(prev)).hexdigest()


class AuditVerify(WeftTest):
    verify_at_end = False  # these tests damage their store on purpose

    def setUp(self):
        super().setUp()
        for _ in range(2):
            self.assertExit(self.weft("run", self.write("w.yaml", WF)), 0)
        self.assertExit(self.weft("audit", "verify"), 0)

    def db(self):
        return self.store_db()  # SQLite or PostgreSQL (WEFT_TEST_STORE)

    def rows(self):
        with self.db() as db:
            return db.execute("SELECT seq, at, run_id, kind, data, prev_hash, hash FROM audit "
                              "ORDER BY seq").fetchall()

    def rechain(self, db, start):
        """recomputes every hash from entry `start` on, and the head: a
        consistent forgery of the chain"""
        prev = db.execute("SELECT hash FROM audit WHERE seq = ?", (start - 1,)).fetchone()
        prev = prev[0] if prev else "0" * 64
        for seq, at, run, kind, data in db.execute(
                "SELECT seq, at, run_id, kind, data FROM audit WHERE seq >= ? ORDER BY seq",
                (start,)).fetchall():
            h = entry_hash(seq, at, run, kind, data, prev)
            db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
            prev = h
        last = db.execute("SELECT max(seq) FROM audit").fetchone()[0] or 0
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", (last, prev))

    def checkpoint(self):
        path = os.path.join(self.tmp, "checkpoints.jsonl")  # outside the home
        r = self.weft("audit", "checkpoint", "--out", path)
        self.assertExit(r, 0)
        return path

    def test_python_hash_matches_the_stored_hashes(self):
        for seq, at, run, kind, data, prev, h in self.rows():
            self.assertEqual(entry_hash(seq, at, run, kind, data, prev), h)

    def test_rewritten_link_of_a_middle_entry_is_named(self):
        # entry k gets another prev_hash with its own hash recomputed, and the
        # entries after it are re-linked to k's new hash: every entry's hash
        # is right, and only the link from k-1 to k is false
        rows = self.rows()
        k = len(rows) // 2
        seq, at, run, kind, data, _, _ = rows[k - 1]
        with self.db() as db:
            fake_prev = hashlib.sha256(b"not the previous entry").hexdigest()
            h = entry_hash(seq, at, run, kind, data, fake_prev)
            db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                       (fake_prev, h, seq))
            self.rechain(db, seq + 1)  # everything after k is consistent with the new k
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("broken at entry %d:" % seq, r.err)
        self.assertIn("does not follow entry %d" % (seq - 1), r.err)

    def test_edited_middle_entry_with_its_hash_recomputed_is_named_by_the_next_link(self):
        rows = self.rows()
        k = len(rows) // 2
        seq, at, run, kind, data, prev, _ = rows[k - 1]
        with self.db() as db:
            data2 = data.replace("}", ',"x":1}', 1) if data.endswith("}") else '{"x":1}'
            db.execute("UPDATE audit SET data = ?, hash = ? WHERE seq = ?",
                       (data2, entry_hash(seq, at, run, kind, data2, prev), seq))
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("broken at entry %d:" % (seq + 1), r.err)

    def test_cut_tail_with_the_head_moved_is_found_by_the_store_and_by_a_checkpoint(self):
        cp = self.checkpoint()
        n = len(self.rows())
        with self.db() as db:
            db.execute("DELETE FROM audit WHERE seq > ?", (n - 3,))
            self.rechain(db, n - 3)  # the head now names the new last entry
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("does not match the store", r.err)
        self.assertIn("run.status", r.err)
        r = self.weft("audit", "verify", "--checkpoint", cp)
        self.assertExit(r, 1)
        self.assertIn("checkpoint", r.err)
        self.assertIn("broken at entry %d" % (n - 2), r.err)

    def test_deleting_every_entry_is_found(self):
        with self.db() as db:
            db.execute("DELETE FROM audit")
            db.execute("DELETE FROM audit_head")
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("does not match the store", r.err)
        self.assertIn("no run.created entry", r.err)

    def test_deleting_the_entries_of_a_run_in_the_middle_is_found(self):
        # the first run's entries go, the chain is recomputed and renumbered:
        # the chain is consistent, the store still has the run
        with self.db() as db:
            first = db.execute("SELECT id FROM runs ORDER BY id LIMIT 1").fetchone()[0]
            keep = db.execute("SELECT seq, at, run_id, kind, data FROM audit WHERE run_id IS NULL "
                              "OR run_id <> ? ORDER BY seq", (first,)).fetchall()
            db.execute("DELETE FROM audit")
            for i, (_, at, run, kind, data) in enumerate(keep, 1):
                db.execute("INSERT INTO audit VALUES(?, ?, ?, ?, ?, '', '')",
                           (i, at, run, kind, data))
            self.rechain(db, 1)
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("run " + first, r.err)

    def test_a_run_removed_from_the_store_without_prune_is_found(self):
        with self.db() as db:
            rid = db.execute("SELECT id FROM runs LIMIT 1").fetchone()[0]
            for t in ("steps", "attempts", "decisions"):
                db.execute("DELETE FROM %s WHERE run_id = ?" % t, (rid,))
            db.execute("DELETE FROM runs WHERE id = ?", (rid,))
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("without `weft prune`", r.err)

    def test_a_step_edited_in_the_store_is_found(self):
        with self.db() as db:
            db.execute("UPDATE steps SET status = 'failed' WHERE step = 'a'")
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn("step a", r.err)

    def test_chain_recomputed_from_scratch_is_found_only_with_a_checkpoint(self):
        cp = self.checkpoint()
        with self.db() as db:
            seq, data = db.execute("SELECT seq, data FROM audit WHERE kind = 'run.created' "
                                   "ORDER BY seq LIMIT 1").fetchone()
            d = json.loads(data)
            d["started_by"] = "someone-else"
            db.execute("UPDATE audit SET data = ? WHERE seq = ?",
                       (json.dumps(d, sort_keys=True, separators=(",", ":")), seq))
            self.rechain(db, 1)
        # without a checkpoint a consistent rewrite of chain and head passes
        # (docs/audit.md says so): nothing in the home can tell
        r = self.weft("audit", "verify")
        self.assertExit(r, 0)
        r = self.weft("audit", "verify", "--checkpoint", cp)
        self.assertExit(r, 1)
        self.assertIn("checkpoint", r.err)
        self.assertIn("rewritten", r.err)

    def test_a_replaced_store_is_found_with_a_checkpoint(self):
        self.sqlite_only("removes the store's files")
        cp = self.checkpoint()
        for f in ("weft.db", "weft.db-wal", "weft.db-shm"):
            p = os.path.join(self.home, f)
            if os.path.exists(p):
                os.remove(p)
        r = self.weft("audit", "verify")  # a fresh, empty store: nothing to compare
        self.assertExit(r, 0)
        r = self.weft("audit", "verify", "--checkpoint", cp)
        self.assertExit(r, 1)
        self.assertIn("ends at entry 0", r.err)

    def test_an_altered_checkpoint_is_refused(self):
        cp = self.checkpoint()
        with open(cp) as f:
            c = json.loads(f.read())
        c["seq"] -= 1
        with open(cp, "w") as f:
            f.write(json.dumps(c) + "\n")
        r = self.weft("audit", "verify", "--checkpoint", cp)
        self.assertExit(r, 1)
        self.assertIn("signature does not verify", r.err)

    def test_checkpoint_key_is_private_and_checkpoints_append(self):
        cp = self.checkpoint()
        self.checkpoint()
        st = os.stat(os.path.join(self.home, "audit.key"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertTrue(os.path.exists(os.path.join(self.home, "audit.pub")))
        with open(cp) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        self.assertEqual(len(lines), 2)
        self.assertEqual(set(lines[0]), {"seq", "hash", "at", "key", "sig"})
        self.assertEqual(lines[0]["seq"], len(self.rows()))
        r = self.weft("audit", "verify", "--checkpoint", cp, "--checkpoint", cp)
        self.assertExit(r, 0)
        self.assertIn("4 checkpoints", r.out)
        r = self.weft("audit", "checkpoint")  # to stdout
        self.assertExit(r, 0)
        self.assertEqual(json.loads(r.out)["hash"], lines[0]["hash"])

    def test_an_empty_or_foreign_store_file_is_an_error_for_every_command(self):
        self.sqlite_only("writes over the store's file")
        db = os.path.join(self.home, "weft.db")
        for content, words in ((b"", "empty (0 bytes)"),
                               (b"this is not a database at all, no" * 8, "file is not a database")):
            with open(db, "wb") as f:
                f.write(content)
            for args in (["runs"], ["audit", "verify"], ["approvals"],
                         ["run", self.write("x.yaml", "name: x\nsteps:\n  a: {run: 'true'}\n")]):
                r = self.weft(*args)
                self.assertExit(r, 2)
                self.assertIn(words, r.err)
                self.assertIn(db, r.err)
            self.assertEqual(os.path.getsize(db), len(content))  # left as it was
        # a home without a store yet is created fresh
        r = self.weft("--home", os.path.join(self.tmp, "new"), "runs")
        self.assertExit(r, 0)


if __name__ == "__main__":
    main()
