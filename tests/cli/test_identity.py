"""End-to-end: who a local command acts as (the Identity paragraph of the CLI
contract). The identity is the OS user of the effective uid, never $USER;
users.json may map it ("os_user"); `--as` is refused unless users.json says
"allow_as": true, and then every record carries both names and the evidence
marks the identity as asserted. users.json writable by others is refused."""
from harness import WeftTest, main, os_user
import json
import os
import sqlite3

GATE = """
name: gate
steps:
  ok:
    approval: {message: "ship?", min_approvals: 2, allow_self_approval: true}
"""


class Identity(WeftTest):
    def start(self, text=GATE, *extra, env=None):
        proc = self.spawn(*extra, "run", self.write("w.yaml", text), env=env)
        def find():
            r = self.weft("approvals", "--json")
            return r.json()[0] if r.code == 0 and r.json() else None
        return proc, self.wait_for(find, "the approval to wait")["run"]

    def entries(self, rid, kind):
        r = self.weft("audit", "export", rid)
        self.assertExit(r, 0)
        return [json.loads(l) for l in r.out.splitlines() if json.loads(l)["kind"] == kind]

    def stop(self, proc):
        proc.kill()
        proc.communicate(timeout=30)

    def test_as_is_refused_without_allow_as(self):
        self.write_users({"bob": {}}, allow_as=None)
        proc, rid = self.start()
        try:
            r = self.weft("approve", rid, "ok", "--as", "bob")
            self.assertExit(r, 2)
            self.assertIn("--as bob is refused", r.err)
            self.assertIn('"allow_as": true', r.err)
            self.assertTrue(r.err.startswith("weft: "), r.err)
            # nothing was decided or recorded
            self.assertEqual(self.entries(rid, "approval.decided"), [])
            self.assertEqual(self.entries(rid, "approval.refused"), [])
            # refused for any command, also before it runs anything
            self.assertExit(self.weft("--as", "bob", "runs"), 2)
        finally:
            self.stop(proc)

    def test_one_person_cannot_pass_a_two_person_gate(self):
        self.write_users({"bob": {}, "carol": {}}, allow_as=False)
        proc, rid = self.start()
        try:
            self.assertExit(self.weft("approve", rid, "ok"), 0)       # 1 of 2, as the OS user
            r = self.weft("approve", rid, "ok")                        # the same person again
            self.assertExit(r, 2)
            self.assertIn("already approved", r.err)
            self.assertExit(self.weft("approve", rid, "ok", "--as", "bob"), 2)
            self.assertExit(self.weft("--as", "carol", "approve", rid, "ok"), 2)
            env = dict(self.env, USER="carol", LOGNAME="carol")        # $USER is not who you are
            r = self.weft("approve", rid, "ok", env=env)
            self.assertExit(r, 2)
            self.assertIn("already approved", r.err)
            st = self.weft("status", rid, "--json").json()
            self.assertEqual(st["steps"]["ok"]["status"], "waiting")
            self.assertEqual([e["data"]["by"] for e in self.entries(rid, "approval.decided")],
                             [os_user()])
        finally:
            self.stop(proc)

    def test_user_variable_does_not_change_who_started_the_run(self):
        env = dict(self.env, USER="alice", LOGNAME="alice")
        r = self.weft("run", self.write("w.yaml", "name: x\nsteps:\n  a: {run: 'true'}\n"),
                      "--json", env=env)
        self.assertExit(r, 0)
        rid = r.json()["id"]
        self.assertEqual(self.weft("status", rid, "--json").json()["started_by"], os_user())
        created = self.entries(rid, "run.created")[0]
        self.assertEqual(created["data"]["started_by"], os_user())
        self.assertNotIn("asserted_by", created["data"])
        self.assertEqual(created["identity"], "verified")

    def test_separation_of_duties_counts_the_os_identity(self):
        self.write_users({}, allow_as=None)
        proc, rid = self.start("name: s\nsteps:\n  ok: {approval: {message: m}}\n")
        try:
            env = dict(self.env, USER="someone-else")
            r = self.weft("approve", rid, "ok", env=env)
            self.assertExit(r, 2)
            self.assertIn("separation of duties", r.err)
        finally:
            self.stop(proc)

    def test_os_user_maps_to_a_weft_user(self):
        self.write_users({"alice": {"os_user": os_user()}}, allow_as=None)
        r = self.weft("run", self.write("w.yaml", "name: x\nsteps:\n  a: {run: 'true'}\n"),
                      "--json")
        self.assertExit(r, 0)
        self.assertEqual(self.weft("status", r.json()["id"], "--json").json()["started_by"],
                         "alice")

    def test_os_user_claimed_by_another_entry_is_refused(self):
        # the weft user named like the OS user is someone else's account
        self.write_users({os_user(): {"os_user": "not-" + os_user()}}, allow_as=None)
        r = self.weft("run", self.write("w.yaml", "name: x\nsteps:\n  a: {run: 'true'}\n"))
        self.assertExit(r, 2)
        self.assertIn("os_user", r.err)

    def test_as_with_allow_as_records_both_names_and_marks_them_asserted(self):
        self.write_users({"alice": {}, "bob": {}}, allow_as=True)
        proc, rid = self.start(GATE, "--as", "alice")
        try:
            st = self.weft("status", rid, "--json").json()
            self.assertEqual(st["started_by"], "alice")
            created = self.entries(rid, "run.created")[0]
            self.assertEqual(created["data"]["asserted_by"], os_user())
            self.assertEqual(created["identity"], "asserted")
            r = self.weft("approve", rid, "ok", "--as", "bob")
            self.assertExit(r, 0)
            self.assertIn("asserted", r.out)
            d = self.entries(rid, "approval.decided")[0]
            self.assertEqual(d["data"]["by"], "bob")
            self.assertEqual(d["data"]["asserted_by"], os_user())
            self.assertEqual(d["identity"], "asserted")
            # the OS user itself is not asserted
            self.assertExit(self.weft("approve", rid, "ok"), 0)
            d = self.entries(rid, "approval.decided")[1]
            self.assertNotIn("asserted_by", d["data"])
            self.assertEqual(d["identity"], "verified")
        finally:
            proc.communicate(timeout=60)

    def test_events_sent_with_as_carry_both_names(self):
        self.write_users({"bob": {}}, allow_as=True)
        self.assertExit(self.weft("--as", "bob", "event", "send", "go"), 0)
        self.assertExit(self.weft("event", "send", "go"), 0)
        r = self.weft("audit", "export")
        sent = [json.loads(l) for l in r.out.splitlines() if json.loads(l)["kind"] == "event.sent"]
        self.assertEqual([(e["data"]["by"], e["data"].get("asserted_by"), e["identity"])
                          for e in sent],
                         [("bob", os_user(), "asserted"), (os_user(), None, "verified")])

    def test_users_json_writable_by_others_is_refused(self):
        for mode, who in ((0o666, "everyone"), (0o620, "its group")):
            path = self.write_users({"bob": {}}, allow_as=True, mode=mode)
            r = self.weft("--as", "bob", "runs")
            self.assertExit(r, 2)
            self.assertIn(path, r.err)
            self.assertIn("writable by " + who, r.err)
            self.assertIn("chmod go-w", r.err)
            r = self.weft("run", self.write("w.yaml", "name: x\nsteps:\n  a: {run: 'true'}\n"))
            self.assertExit(r, 2)
            self.assertIn("chmod", r.err)
        os.chmod(path, 0o644)  # readable by others is fine: it holds no secret
        self.assertExit(self.weft("--as", "bob", "runs"), 0)


if __name__ == "__main__":
    main()
