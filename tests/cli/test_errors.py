"""End-to-end: errors and set-up problems say what happened and what to do —
bad `weft logs` selectors, a for_each index past the instances, a corrupt or
read-only home, a full disk, over-deep expressions, `triggers:` outside the
server."""
from harness import WeftTest, main, BIN
import os
import shlex
import shutil
import subprocess
import unittest


def private_mounts_work():
    """A tmpfs in a private mount namespace (root, unshare, mount): how these
    tests make a read-only or a full file system without touching the host."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && "
                        "mount -o remount,ro $d && umount $d && rmdir $d"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


MOUNTS = private_mounts_work()
NO_MOUNTS = "needs root and `unshare -m` with tmpfs mounts (not available here)"

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


class ServerOnly(WeftTest):
    def test_triggers_and_notify_get_a_note_at_validate_and_run(self):
        p = self.write("trig.yaml", """
            name: trig
            concurrency: 1
            triggers:
              - schedule: "0 * * * *"
            notify:
              - {on: [failed], webhook: HOOK_URL}
            steps:
              a: {run: echo hi}
            """)
        for args in (("validate", p), ("run", p)):
            r = self.weft(*args)
            self.assertExit(r, 0)
            self.assertIn("weft: note: %s: triggers: act only under `weft server`; here nothing "
                          "is scheduled or listened for" % p, r.err)
            self.assertIn("weft: note: %s: notify: posts only from `weft server`; `weft run` tells no one" % p,
                          r.err)
            self.assertNotIn("concurrency", r.err)  # it holds for weft run too (test_concurrency.py)
        q = self.write("plain.yaml", FE)
        for args in (("validate", q), ("run", q)):
            r = self.weft(*args)
            self.assertExit(r, 0)
            self.assertNotIn("note:", r.err)


class Home(WeftTest):
    def in_tmpfs(self, script, size="2m"):
        """Runs script (sh) with $M a fresh tmpfs of `size`, private to it."""
        m = os.path.join(self.tmp, "mnt")
        os.makedirs(m, exist_ok=True)
        full = ("mount -t tmpfs -o size=%s tmpfs %s && M=%s && W=%s && cd $M && %s"
                % (size, shlex.quote(m), shlex.quote(m), shlex.quote(BIN), script))
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", full],
                           env=self.env, capture_output=True, text=True, timeout=120)
        return r

    def test_a_corrupt_store_is_named_with_what_to_do(self):
        self.sqlite_only("writes over the store's file")
        os.makedirs(self.home)
        db = os.path.join(self.home, "weft.db")
        with open(db, "wb") as f:
            f.write(b"this is not a database, just garbage bytes\x00\x01\x02" * 200)
        p = self.write("fe.yaml", FE)
        for args in (("runs",), ("run", p), ("status", "01M8")):
            r = self.weft(*args)
            self.assertExit(r, 2)
            self.assertIn("weft: %s is not a weft store or is damaged (file is not a database); "
                          "move it aside (mv %s %s.bad)" % (db, db, db), r.err)
        with open(db, "rb") as f:  # left as it was
            self.assertTrue(f.read().startswith(b"this is not a database"))

    def test_a_store_damaged_after_its_header_is_named_with_what_to_do(self):
        self.sqlite_only("damages the store's file")
        import sqlite3
        p = self.write("fe.yaml", FE)
        for _ in range(2):
            self.assertExit(self.weft("run", p), 0)
        db = os.path.join(self.home, "weft.db")
        c = sqlite3.connect(db)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # the schema's own pages stay (the store opens); a schema larger than
        # the first page has leaves on other pages
        keep = {r[0] for r in c.execute("SELECT pageno FROM dbstat WHERE name = 'sqlite_schema'")} | {1}
        c.close()
        with open(db, "r+b") as f:  # every other page is garbage
            for page in range(1, os.path.getsize(db) // 4096 + 1):
                if page not in keep:
                    f.seek((page - 1) * 4096)
                    f.write(b"\xa5" * 4096)
        r = self.weft("runs")
        self.assertExit(r, 2)
        self.assertIn("%s is damaged (database disk image is malformed); move it aside and "
                      "start an empty store, or restore it from a backup" % db, r.err)

    @unittest.skipUnless(MOUNTS, NO_MOUNTS)
    def test_a_read_only_home_says_so_and_reads_still_work(self):
        self.write("fe.yaml", FE)
        fe = os.path.join(self.tmp, "fe.yaml")
        r = self.in_tmpfs(
            "$W --home $M/h run %s >/dev/null 2>&1; mount -o remount,ro $M && "
            "$W --home $M/h runs >/dev/null; echo runs=$?; "
            "$W --home $M/h run %s; echo run=$?; "
            "$W --home $M/h event send ping; echo event=$?; "
            "$W --home $M/new runs; echo new=$?" % (fe, fe))
        self.assertIn("runs=0", r.stdout, r)
        for what in ("run=2", "event=2", "new=2"):
            self.assertIn(what, r.stdout, r)
        m = os.path.join(self.tmp, "mnt")
        self.assertIn("weft: the weft home %s/h cannot be written (Read-only file system); "
                      "weft keeps its store and logs there: use a writable folder with --home DIR"
                      % m, r.stderr)
        self.assertIn("weft: the weft home %s/new cannot be written (Read-only file system)" % m,
                      r.stderr)
        self.assertNotIn("cannot start the runtime", r.stderr)

    def test_a_home_under_a_file_says_what_to_do(self):
        f = self.write("afile", "x")
        r = self.weft("--home", os.path.join(f, "h"), "runs")
        self.assertExit(r, 2)
        self.assertIn("weft: cannot open the weft home %s/h: cannot create the weft home folder "
                      "%s/h: Not a directory (check the path, or use another folder with --home DIR)"
                      % (f, f), r.err)

    def test_a_home_without_write_permission_says_so(self):
        # as another user (nobody): root may write anywhere
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to run weft as another user")
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        os.chmod(self.tmp, 0o755)
        if subprocess.run(as_nobody + [BIN, "version"], capture_output=True).returncode != 0:
            self.skipTest("the weft binary cannot be run by nobody from where it was built")
        ro = os.path.join(self.tmp, "ro")
        os.makedirs(ro)
        os.chmod(ro, 0o555)
        for home in (os.path.join(ro, "h"), ro):
            r = subprocess.run(as_nobody + [BIN, "--home", home, "runs"], capture_output=True,
                               text=True, env=self.env, cwd=self.tmp, timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("weft: the weft home %s cannot be written (Permission denied); weft "
                          "keeps its store and logs there: use a writable folder with --home DIR "
                          "(or $WEFT_HOME), or give the current user write permission on it"
                          % home, r.stderr)

    @unittest.skipUnless(MOUNTS, NO_MOUNTS)
    def test_a_step_log_on_a_full_disk_says_no_space(self):
        self.write("big.yaml", """
            name: big
            steps:
              a:
                run: head -c 3000000 /dev/zero
            """)
        r = self.in_tmpfs("$W --home $M/h run %s; echo rc=$?"
                          % os.path.join(self.tmp, "big.yaml"), size="1m")
        m = os.path.join(self.tmp, "mnt")
        self.assertRegex(r.stderr, r"weft: a: cannot write its log %s/h/logs/\w+/a\.1\.log: "
                         r"No space left on device \(free some space" % m)

    @unittest.skipUnless(MOUNTS, NO_MOUNTS)
    def test_a_full_disk_is_said_as_such_not_only_exit_status(self):
        # the step fills the disk (a bounded write into the tmpfs only); the
        # step fails, and then either its failure is recorded with the reason
        # or the store's commit fails: both say "no space left on device"
        self.write("fill.yaml", """
            name: fill
            steps:
              a:
                run: dd if=/dev/zero of="${M:?}/filler" bs=64k count=64 2>/dev/null
            """)
        r = self.in_tmpfs("export M; $W --home $M/h run %s; echo rc=$?; "
                          "$W --home $M/h status --json $($W --home $M/h runs | awk 'NR==2{print $1}')"
                          % os.path.join(self.tmp, "fill.yaml"))
        m = os.path.join(self.tmp, "mnt")
        self.assertIn("rc=1", r.stdout, r)
        said = r.stderr + r.stdout
        self.assertTrue("no space left on device (%s/h/weft.db)" % m in said or
                        "exited with status 1 (no space left on device in %s/h)" % m in said, r)
        self.assertNotRegex(said, r"exited with status 1[^ ]")


if __name__ == "__main__":
    main()
