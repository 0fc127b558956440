"""End-to-end: the role of a local actor (SERVER.md §4, docs/internals/ops.md).
The owner of the home acts as admin; a user users.json gives a "role" has
it; anyone else is a viewer: reads and decides approvals (the step's
approvers rule decides), but cannot cancel, send events or prune. The test
runs as root and gives the home to another uid so that root is not its
owner (root can still read and write it)."""
from harness import WeftTest, main, os_user
import json
import os
import unittest

GATE = """
name: gate
steps:
  ok:
    approval: {message: "ship?", allow_self_approval: true}
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root to give the home to another uid")
class Roles(WeftTest):
    def waiting_run(self):
        """a run waiting at its approval, with no weft process executing it"""
        proc = self.spawn("run", self.write("w.yaml", GATE))
        def find():
            r = self.weft("approvals", "--json")
            return r.json()[0] if r.code == 0 and r.json() else None
        rid = self.wait_for(find, "the approval to wait")["run"]
        proc.kill()
        proc.communicate(timeout=30)
        return rid

    def disown(self):
        os.chown(self.home, 65534, -1)

    def audit_kinds(self, rid):
        r = self.weft("audit", "export", rid)
        self.assertExit(r, 0)
        return [json.loads(l)["kind"] for l in r.out.splitlines()]

    def test_the_home_owner_may_cancel(self):
        rid = self.waiting_run()
        r = self.weft("cancel", rid)
        self.assertExit(r, 0)
        self.assertIn("cancel of run %s recorded" % rid, r.out)

    def test_an_unlisted_user_is_a_viewer(self):
        rid = self.waiting_run()
        self.disown()
        r = self.weft("cancel", rid)
        self.assertExit(r, 2)
        self.assertEqual("weft: cancel_run needs the operator role; %s has viewer\n" % os_user(), r.err)
        self.assertNotIn("cancel.requested", self.audit_kinds(rid))
        r = self.weft("event", "send", "go")
        self.assertExit(r, 2)
        self.assertIn("send_event needs the operator role", r.err)
        r = self.weft("prune", "--older-than", "1d")
        self.assertExit(r, 2)
        self.assertIn("prune needs the admin role", r.err)
        # a viewer reads
        self.assertExit(self.weft("runs"), 0)
        self.assertExit(self.weft("status", rid, "--json"), 0)
        self.assertExit(self.weft("audit", "verify"), 0)
        # and decides: the approvers rule decides, not a role
        r = self.weft("approve", rid, "ok")
        self.assertExit(r, 0)
        self.assertIn("approval.decided", self.audit_kinds(rid))

    def test_a_role_from_users_json(self):
        rid = self.waiting_run()
        self.disown()
        self.write_users({os_user(): {"role": "operator"}}, allow_as=None)
        r = self.weft("cancel", rid)
        self.assertExit(r, 0)
        self.assertIn("cancel.requested", self.audit_kinds(rid))
        r = self.weft("prune", "--older-than", "1d")
        self.assertExit(r, 2)
        self.assertIn("prune needs the admin role; %s has operator" % os_user(), r.err)
        self.write_users({os_user(): {"role": "admin"}}, allow_as=None)
        self.assertExit(self.weft("prune", "--older-than", "1d"), 0)

    def test_an_unknown_role_is_an_error_not_a_guess(self):
        rid = self.waiting_run()
        self.disown()
        self.write_users({os_user(): {"role": "superuser"}}, allow_as=None)
        r = self.weft("cancel", rid)
        self.assertExit(r, 2)
        self.assertIn('users.json: user "%s" has role "superuser"; a role is "viewer", "operator" '
                      'or "admin"' % os_user(), r.err)


if __name__ == "__main__":
    main()
