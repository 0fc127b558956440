"""End-to-end: the CLI against a server (`--server URL` / $WEFT_SERVER with
$WEFT_TOKEN). A real `weft server` on a free loopback port serves the test's
home; runs are made in that home with `weft run`; then each command is run
both ways, locally and through the server, and stdout, stderr and the exit
code must be the same. The token is the operating-system user's (an admin in
users.json), so the acting user is the same both ways and nothing needs
normalising except what necessarily differs between two runs or two calls
(a run id, a step name, an event's inbox id). Error cases: a bad token, an
unknown run, a server that is down, no token, a token on argv, --as."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from harness import BIN, WeftTest, main, os_user

LISTEN_RE = re.compile(r"server listening on (\S+?)(?: with TLS)? \(pid")

SUCCEEDS = """
name: hello
steps:
  greet:
    run: echo hello; echo world
  after:
    needs: [greet]
    run: echo done
"""

FAILS = """
name: broken
steps:
  ok:
    run: echo fine
  bad:
    needs: [ok]
    run: echo about to fail; exit 3
"""

WAITS = """
name: gate
steps:
  first:
    approval:
      message: ship it?
  second:
    approval:
      message: and this?
  after:
    needs: [first, second]
    run: echo shipped
"""

FORM = """
name: form
steps:
  ok:
    approval:
      message: publish?
      fields:
        version: {type: string, default: "1"}
        risk: {type: integer, default: 1}
  show:
    needs: [ok]
    env: {V: "${{ .steps.ok.outputs.fields.version }}", R: "${{ .steps.ok.outputs.fields.risk }}"}
    run: echo "version=$V risk=$R"
"""

EACH = """
name: each
steps:
  sq:
    for_each: ${{ [1, 2, 3] }}
    max_parallel: 1
    run: echo "item $WEFT_ITEM"; test "$WEFT_ITEM" != 2
  one:
    for_each: ${{ [7] }}
    run: echo "only $WEFT_ITEM"
"""

MIXED = """
name: mixed
steps:
  calc:
    set: {x: 1}
  sq:
    for_each: ${{ [1, 2] }}
    run: echo "i $WEFT_ITEM"
  bad:
    needs: [calc]
    retry: {attempts: 2}
    run: echo try; exit 3
  quiet:
    run: "true"
"""

CHILD = """
name: child
steps:
  c1:
    run: echo in child; exit 3
"""

PARENT = """
name: parent
steps:
  first:
    run: echo first
  sub:
    needs: [first]
    workflow: {file: child.yaml}
"""

SLEEPS = """
name: sleepy
steps:
  nap:
    run: sleep 60
"""

TICKS = """
name: ticks
steps:
  tick:
    run: echo one; sleep 1; echo two; sleep 1; echo three
"""

TYPED = """
name: typed
inputs:
  n: {type: integer, default: 1}
  v: {type: string, default: "x"}
steps:
  greet:
    env: {N: "${{ .inputs.n }}", V: "${{ .inputs.v }}"}
    run: echo hello $N $V; test "$N" != 13
"""

INVALID = """
name: invalid
steps:
  a:
    run: 3
    nope: 1
"""

EVENTS = """
name: listener
steps:
  hear:
    wait:
      event: model-trained
"""


def ids_in_order(text):
    """every run id named RUN1, RUN2, ... by first appearance, its
    8-character short form as SHORT (runs made in one millisecond share it),
    durations as D: what differs between two runs"""
    names = {}
    for rid in re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", text):
        names.setdefault(rid, "RUN%d" % (len(names) + 1))
    text = re.sub(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", lambda m: names[m.group(0)], text)
    text = re.sub(r"\b[0-9A-HJKMNP-TV-Z]{8}\b",
                  lambda m: "SHORT" if any(r.startswith(m.group(0)) for r in names) else m.group(0), text)
    return re.sub(r" in \d[0-9.hms]*\n", " in D\n", text)


class Server:
    """A running `weft server`; stderr goes to a file."""

    def __init__(self, test, *args):
        self.log_path = os.path.join(test.tmp, f"server-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "server", *args], cwd=test.tmp, env=test.local_env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        test.addCleanup(self.kill)
        self.addr = test.wait_for(lambda: self._addr(test), "the server's start line")

    def _addr(self, test):
        with open(self.log_path) as f:
            m = LISTEN_RE.search(f.read())
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            test.fail("the server exited %s" % self.proc.returncode)
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RemoteTest(WeftTest):
    def setUp(self):
        super().setUp()
        # the OS user is an admin by users.json (over the API roles come from
        # users.json alone), so both ways act as the same user with the same role
        # (allow_as: runs waiting for approval are started --as someone else,
        # so that the OS user may decide them: no self-approval)
        self.write_users({os_user(): {"role": "admin"}}, allow_as=True)
        self.assertExit(self.weft("runs"), 0)  # the home and its store exist
        self.srv = Server(self, "--listen", "127.0.0.1:0")
        self.url = "http://" + self.srv.addr
        r = self.weft("token", "create", os_user(), "--name", "cli")
        self.assertExit(r, 0)
        self.token = r.out.strip()

    def local_env(self):
        return dict(self.env)

    def remote_env(self, url=None, token=None):
        return dict(self.env, WEFT_SERVER=url or self.url, WEFT_TOKEN=token or self.token)

    def remote(self, *args, url=None, token=None, timeout=120):
        return self.weft(*args, env=self.remote_env(url, token), timeout=timeout)

    def both(self, *args, code=0, norm=None):
        """Runs args locally and through the server; both must print the same."""
        loc = self.weft(*args)
        rem = self.remote(*args)
        self.assertExit(loc, code)
        n = norm or (lambda s: s)
        self.assertEqual((rem.code, n(rem.out), n(rem.err)), (loc.code, n(loc.out), n(loc.err)),
                         "local %r\nremote %r" % (loc, rem))
        return loc

    def run_file(self, text, *args, code=0):
        path = self.write(f"wf-{time.time_ns()}.yaml", text)
        r = self.weft("run", path, "--json", *args)
        self.assertExit(r, code)
        return r.json()["id"]

    def background(self, text, as_user=None):
        """`weft run` left executing (it owns the run); returns (proc, run id)"""
        path = self.write(f"wf-{time.time_ns()}.yaml", text)
        p = subprocess.Popen([BIN, *(["--as", as_user] if as_user else []), "run", path], cwd=self.tmp, env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(), p.stdout.close()))
        line = p.stdout.readline()
        return p, line.split()[0]

    # ---- reading runs ----------------------------------------------------------

    def test_runs_and_status_print_the_same(self):
        ok = self.run_file(SUCCEEDS)
        bad = self.run_file(FAILS, code=1)
        self.both("runs")
        self.both("runs", "--json")
        self.both("runs", "--status", "failed")
        self.both("runs", "--workflow", "hello", "--json")
        self.both("runs", "--limit", "1")
        for rid in (ok, bad):
            self.both("status", rid)
            self.both("status", rid, "--json")
            self.both("status", rid[:10], "--all-instances", "--json")
        # a terminal run: --watch prints once and exits by its status
        self.both("status", bad, "--watch", code=1)

    def test_an_unknown_run_is_the_same_error_both_ways(self):
        self.run_file(SUCCEEDS)
        r = self.both("status", "01NOSUCHRUN", code=4)
        self.assertTrue(r.err.startswith("weft: "), r)
        self.both("logs", "01NOSUCHRUN", code=4)

    def test_logs_print_the_same(self):
        ok = self.run_file(SUCCEEDS)
        bad = self.run_file(FAILS, code=1)
        self.both("logs", ok)
        self.both("logs", ok, "greet")
        self.both("logs", bad, "bad")
        self.both("logs", bad, "bad", "--attempt", "1")
        self.both("logs", ok, "nosuchstep", code=4)

    def test_logs_that_find_nothing_say_the_same(self):
        # `weft logs` reads one log the way the server does (ops_step_log): its
        # errors are the same words and exit codes both ways (locally it used
        # to read the attempts itself and said it differently)
        rid = self.run_file(MIXED, code=1)
        r = self.both("logs", rid, "calc", code=4)     # ran no program
        self.assertEqual(r.err, "weft: no output recorded for calc in run %s (it has not run a program yet)\n"
                         % rid[:8])
        self.both("logs", rid, "bad", "--attempt", "5", code=4)   # no such attempt
        self.both("logs", rid, "sq:0", "--attempt", "3", code=4)
        self.both("logs", rid, "calc:1", code=2)   # an index on a step without instances
        self.both("logs", rid, "bad:0", code=2)
        self.both("logs", rid, "bad", "--attempt", "2")
        self.both("logs", rid, "sq", "--attempt", "3", code=4)
        self.both("logs", rid)
        r = self.both("logs", rid, "quiet")   # a program that wrote nothing: empty, not an error
        self.assertEqual(r.out, "")

    def test_logs_follow_and_status_watch_a_live_run(self):
        p, rid = self.background(TICKS)
        argv = ["logs", rid, "tick", "-f"]
        loc = subprocess.Popen([BIN, *argv], cwd=self.tmp, env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        rem = subprocess.Popen([BIN, *argv], cwd=self.tmp, env=self.remote_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        watch = subprocess.Popen([BIN, "status", rid, "--watch", "--json"], cwd=self.tmp, env=self.remote_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # -f without a step: every step's new lines, prefixed
        every = [subprocess.Popen([BIN, "logs", rid, "-f"], cwd=self.tmp, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for env in (self.env, self.remote_env())]
        lo, le = loc.communicate(timeout=120)
        ro, re_ = rem.communicate(timeout=120)
        (elo, ele), (ero, ere) = (p_.communicate(timeout=120) for p_ in every)
        self.assertEqual(elo, "[tick] one\n[tick] two\n[tick] three\n")
        self.assertEqual((every[1].returncode, ero, ere), (every[0].returncode, elo, ele))
        wo, we = watch.communicate(timeout=120)
        self.assertEqual(p.wait(timeout=60), 0)
        self.assertEqual(lo, "one\ntwo\nthree\n")
        self.assertEqual((rem.returncode, ro, re_), (loc.returncode, lo, le))
        # the watch printed the run as it changed, and last as it ended: as the local status
        self.assertEqual(watch.returncode, 0, we)
        self.assertGreaterEqual(len(wo.splitlines()), 2, wo)
        self.assertEqual(json.loads(wo.splitlines()[-1]), self.weft("status", rid, "--json").json())

    def test_for_each_logs_and_status_print_the_same(self):
        rid = self.run_file(EACH, code=1)
        self.both("status", rid)
        self.both("status", rid, "--json")
        self.both("logs", rid)
        self.both("logs", rid, "sq")     # three instances: prefixed
        self.both("logs", rid, "sq:1")
        self.both("logs", rid, "one")    # one instance: not prefixed
        self.both("logs", rid, "sq:9", code=4)
        self.both("logs", rid, "-f")        # an ended run: everything once, then the end
        self.both("logs", rid, "sq", "-f")

    # ---- acting on runs ----------------------------------------------------------

    def test_a_run_the_server_executed_can_be_retried_there_again(self):
        """The server's runtime lets go of a run once it ended (before, every
        run it ever executed stayed in its loop, and a second retry of the
        same run there was refused as "already executing here")."""
        rid = self.run_file(FAILS, code=1)
        for attempts in (2, 3):
            rem = self.remote("retry", rid)
            self.assertExit(rem, 1)
            self.assertIn("failed after %d attempts" % attempts, rem.out)
        self.assertEqual(self.weft("status", rid, "--json").json()["steps"]["bad"]["attempts"], 3)

    def test_retry_prints_the_same(self):
        """A retry through a server is executed by the server; the client prints
        its transitions (from the run's audit entries) and its end as the local
        retry prints them, and exits alike. Only the run ids and the durations
        differ (two runs)."""
        r1 = self.run_file(FAILS, code=1)
        r2 = self.run_file(FAILS, code=1)
        r3 = self.run_file(FAILS, code=1)
        loc = self.weft("retry", r1)
        rem = self.remote("retry", r2)
        self.assertExit(loc, 1)
        dur = lambda s: re.sub(r" in \S+\n", " in D\n", s)
        self.assertEqual((rem.code, dur(rem.out.replace(r2, "RUN").replace(r2[:8], "RUN8")), rem.err),
                         (loc.code, dur(loc.out.replace(r1, "RUN").replace(r1[:8], "RUN8")), loc.err))
        self.assertIn(r2 + " bad running (attempt 2)\n", rem.out)
        self.assertIn("failed after 2 attempts", rem.out)
        self.assertIn("  [bad] about to fail\n", rem.out)
        # the same refusals: a step that does not exist
        loc = self.weft("retry", r1, "--from", "nope")
        rem = self.remote("retry", r1, "--from", "nope")
        self.assertExit(loc, 4)
        self.assertEqual((rem.code, rem.out, rem.err), (loc.code, loc.out, loc.err))
        # --json: the final run on stdout, as the local status --json prints it
        rem = self.remote("retry", r3, "--json")
        self.assertExit(rem, 1)
        self.assertEqual(rem.json(), self.weft("status", r3, "--json").json())

    def test_sub_workflow_retry_prints_the_same(self):
        """the sub-workflow runs' transitions and failures are printed too, in
        commit order, as the local retry prints them"""
        self.write("child.yaml", CHILD)
        r1 = self.run_file(PARENT, code=1)
        r2 = self.run_file(PARENT, code=1)
        loc = self.weft("retry", r1)
        rem = self.remote("retry", r2)
        self.assertExit(loc, 1)
        self.assertEqual((rem.code, ids_in_order(rem.out), rem.err), (loc.code, ids_in_order(loc.out), loc.err))
        self.assertIn(" c1 failed (attempt 1): exited with status 3\n", rem.out)
        self.assertIn("sub-workflow run ", rem.out)

    def test_approvals_and_decisions_print_the_same(self):
        p, rid = self.background(WAITS, as_user="starter")
        self.wait_for(lambda: len(self.weft("approvals", "--json").json()) == 2, "both approvals waiting")
        self.both("approvals")
        self.both("approvals", "--json")
        loc = self.weft("approve", rid, "first", "--comment", "fine")
        rem = self.remote("approve", rid, "second", "--comment", "fine")
        self.assertExit(loc, 0)
        self.assertEqual((rem.code, rem.out.replace("second", "first"), rem.err), (loc.code, loc.out, loc.err))
        self.assertIn("as " + os_user(), rem.out)
        # deciding again is refused the same way (409 -> exit 2, the same message)
        self.both("approve", rid, "first", code=2)
        self.assertEqual(p.wait(timeout=60), 0)
        self.both("reject", rid, "first", code=2)

    def test_approve_with_fields_reads_them_as_the_local_command(self):
        """--field KEY=VALUE: a string field keeps the text as written (2.0 stays
        "2.0"), an integer field parses it; the same both ways."""
        runs = []
        for _ in range(2):
            p, rid = self.background(FORM, as_user="starter")
            self.wait_for(lambda: any(a["run"] == rid for a in self.weft("approvals", "--json").json()),
                          "the approval waiting")
            runs.append((p, rid))
        args = ["ok", "--field", "version=2.0", "--field", "risk=3"]
        loc = self.weft("approve", runs[0][1], *args)
        rem = self.remote("approve", runs[1][1], *args)
        self.assertExit(loc, 0)
        self.assertEqual((rem.code, rem.out.replace(runs[1][1], "RUN"), rem.err),
                         (loc.code, loc.out.replace(runs[0][1], "RUN"), loc.err))
        for p, rid in runs:
            self.assertEqual(p.wait(timeout=60), 0)
            self.assertEqual(self.weft("logs", rid, "show").out, "version=2.0 risk=3\n")
        # a value that does not fit its type is refused alike (exit 2)
        p, rid = self.background(FORM, as_user="starter")
        self.wait_for(lambda: any(a["run"] == rid for a in self.weft("approvals", "--json").json()),
                      "the approval waiting")
        self.both("approve", rid, "ok", "--field", "risk=high", code=2)

    def test_cancel_prints_the_same(self):
        p1, r1 = self.background(SLEEPS)
        p2, r2 = self.background(SLEEPS)
        loc = self.weft("cancel", r1)
        rem = self.remote("cancel", r2)
        self.assertExit(loc, 0)
        self.assertEqual((rem.code, rem.out.replace(r2, "RUN"), rem.err), (loc.code, loc.out.replace(r1, "RUN"), loc.err))
        self.assertEqual(p1.wait(timeout=60), 3)
        self.assertEqual(p2.wait(timeout=60), 3)
        self.both("cancel", r1, code=2)  # already ended: the same refusal

    def test_event_send_prints_the_same(self):
        loc = self.weft("event", "send", "model-trained", "--data", '{"model": "ranker"}')
        rem = self.remote("event", "send", "model-trained", "--data", '{"model": "ranker"}')
        self.assertExit(loc, 0)
        ids = lambda s: re.sub(r"\(id \d+\)", "(id N)", s)
        self.assertEqual((rem.code, ids(rem.out), rem.err), (loc.code, ids(loc.out), loc.err))
        self.both("event", "send", "bad name!", code=2)

    # ---- deployed workflows -------------------------------------------------------

    def assertSameTransitions(self, rem, loc, rem_out, loc_out):
        """The same exit code, stderr, first and last lines, and the same lines
        between them: steps that run in parallel may end in either order in two
        different runs, so the transition lines are compared as a multiset."""
        self.assertEqual((rem.code, rem.err), (loc.code, loc.err))
        a, b = rem_out.splitlines(), loc_out.splitlines()
        self.assertEqual((a[:1], a[-1:]), (b[:1], b[-1:]), rem_out + "\n---\n" + loc_out)
        self.assertEqual(sorted(a), sorted(b), rem_out + "\n---\n" + loc_out)

    def test_deploy_workflows_and_start(self):
        path = self.write("typed.yaml", TYPED)
        # the first deploy through the server, then the same file locally: unchanged both ways
        rem = self.remote("deploy", "typed.yaml")
        self.assertExit(rem, 0)
        self.assertEqual(rem.out, "deployed typed version 1 (hash %s)\n" % rem.out.split("hash ")[1][:8])
        self.both("deploy", "typed.yaml")
        self.both("deploy", "typed.yaml", "--json")
        self.both("workflows")
        self.both("workflows", "typed", "--json")
        self.both("workflows", "nosuch", code=4)
        # not valid: the same problems (file:line:col) and message, exit 2, nothing deployed
        self.write("invalid.yaml", INVALID)
        self.both("deploy", "invalid.yaml", code=2)
        # start: the run's id; -i read by the declared types as `weft run` reads them
        r = self.remote("start", "typed", "-i", "n=5", "-i", "v=2.0")
        self.assertExit(r, 0)
        rid = r.out.strip()
        self.assertRegex(rid, r"^[0-9A-Z]{26}$")
        st = self.wait_for(lambda: (lambda j: j["status"] in ("succeeded", "failed") and j)(
            self.weft("status", rid, "--json").json()), "the started run's end")
        self.assertEqual((st["status"], st["trigger"], st["inputs"]), ("succeeded", "api", {"n": 5, "v": "2.0"}))
        # the same idempotency key: the same run
        a = self.remote("start", "typed", "--idempotency-key", "k1")
        b = self.remote("start", "typed", "--idempotency-key", "k1")
        self.assertExit(b, 0)
        self.assertEqual(a.out, b.out)
        # --wait prints what `weft run` prints: the transitions, the failed step
        # with its log's tail, the last line; and exits alike
        loc = self.weft("run", path, "-i", "n=13")
        rem = self.remote("start", "typed", "-i", "n=13", "--wait")
        self.assertExit(loc, 1)
        lid, rid = loc.out.split()[0], rem.out.split()[0]
        norm = lambda s, i: re.sub(r" in \S+\n", " in D\n", s.replace(i, "RUN").replace(i[:8], "RUN8"))
        self.assertSameTransitions(rem, loc, norm(rem.out, rid), "RUN\n" + norm(loc.out, lid))
        self.assertIn("  [greet] hello 13 x\n", rem.out)
        # for_each: the expansion and the instances' lines too
        each = self.write("each.yaml", EACH)
        self.assertExit(self.remote("deploy", "each.yaml"), 0)
        loc = self.weft("run", each)
        rem = self.remote("start", "each", "--wait")
        self.assertExit(loc, 1)
        lid, rid = loc.out.split()[0], rem.out.split()[0]
        self.assertSameTransitions(rem, loc, norm(rem.out, rid), "RUN\n" + norm(loc.out, lid))
        self.assertIn(rid + " sq expanded to 3 instances\n", rem.out)
        rem = self.remote("start", "typed", "--wait", "--json")
        self.assertExit(rem, 0)
        self.assertEqual(rem.json(), self.weft("status", rem.json()["id"], "--json").json())
        # errors: no such workflow (4), inputs that do not fit (2)
        self.assertExit(self.remote("start", "nosuch"), 4)
        r = self.remote("start", "typed", "-i", "n=five")
        self.assertExit(r, 2)
        self.assertIn("nothing was started", r.err)

    def test_schedules_print_the_same_both_ways(self):
        """`weft schedules` locally (from the store) and through a server (GET
        /api/v1/schedules) print the same; --json is the API's answer."""
        self.write("sched.yaml", """
            name: sched
            triggers:
              - {schedule: "0 3 * * *", timezone: Europe/Berlin}
            steps:
              a: {run: "true"}
            """)
        self.assertExit(self.weft("deploy", os.path.join(self.tmp, "sched.yaml")), 0)
        req = urllib.request.Request(self.url + "/api/v1/schedules",
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=30) as a:
            body = json.loads(a.read().decode())
        self.assertEqual([s["workflow"] for s in body["schedules"]], ["sched"])
        r = self.remote("schedules", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json(), body)
        loc = self.weft("schedules", "--json")
        self.assertExit(loc, 0)
        self.assertEqual(loc.json(), body)
        text = self.remote("schedules")
        self.assertExit(text, 0)
        self.assertEqual(text.out, self.weft("schedules").out)
        self.assertIn('sched trigger 1: "0 3 * * *" (Europe/Berlin', text.out)
        r = self.remote("backfill", "sched", "--from", "2026-01-01", "--to", "2026-01-02")
        self.assertExit(r, 2)
        self.assertIn("without --server and WEFT_SERVER", r.err)
        # the refusal says the command to type there (the API has no backfill route)
        r = self.remote("backfill", "sched", "--from", "2026-01-01", "--to", "2026-01-02", "--trigger", "1")
        self.assertExit(r, 2)
        self.assertIn("On the server's machine run `weft backfill sched --from 2026-01-01 --to 2026-01-02 "
                      "--trigger 1` with the server's home", r.err)
        self.assertEqual(r.out, "")

    def test_start_without_a_server_uses_the_default_url(self):
        env = dict(self.env)
        r = self.weft("start", "typed", env=env)  # no WEFT_TOKEN: stops before connecting
        self.assertExit(r, 2)
        self.assertIn("http://127.0.0.1:7700", r.err)
        self.assertIn("set WEFT_TOKEN", r.err)

    # ---- audit and tokens ------------------------------------------------------------

    def test_audit_verify_and_export_print_the_same(self):
        rid = self.run_file(SUCCEEDS)
        self.both("audit", "verify")
        self.both("audit", "export", rid)
        self.both("audit", "export")

    def test_tokens_print_the_same(self):
        # through the server first: that call marks the token used, and the
        # local listing after it then shows the same last use
        rem = self.remote("token", "list")
        loc = self.weft("token", "list")
        self.assertEqual((rem.code, rem.out, rem.err), (loc.code, loc.out, loc.err))
        rem = self.remote("token", "list", "--json")
        loc = self.weft("token", "list", "--json")
        self.assertEqual((rem.code, rem.out, rem.err), (loc.code, loc.out, loc.err))
        # create: a new token each way, the same shape
        a = self.weft("token", "create", "bob", "--name", "ci", "--json")
        b = self.remote("token", "create", "bob", "--name", "ci", "--json")
        self.assertExit(b, 0)
        ja, jb = a.json(), b.json()
        self.assertEqual(list(jb), list(ja))
        self.assertEqual((jb["user"], jb["name"]), ("bob", "ci"))
        self.assertNotIn(jb["token"], b.err)
        # --login: BASE from --server / WEFT_SERVER
        r = self.remote("token", "create", "bob", "--login")
        self.assertExit(r, 0)
        self.assertRegex(r.out, "^" + re.escape(self.url) + r"/login#token=weft_\S+\n$")
        # revoke: one each way, the same line
        loc = self.weft("token", "revoke", ja["id"])
        rem = self.remote("token", "revoke", jb["id"])
        self.assertExit(loc, 0)
        self.assertEqual((rem.code, rem.out.replace(jb["id"], "ID"), rem.err),
                         (loc.code, loc.out.replace(ja["id"], "ID"), loc.err))
        self.both("token", "revoke", "nosuchtoken", code=4)

    # ---- errors of the client itself ------------------------------------------------

    def test_a_bad_token_is_refused_with_exit_2_and_never_printed(self):
        bad = "weft_" + "B" * 43
        r = self.remote("runs", token=bad)
        self.assertExit(r, 2)
        self.assertTrue(r.err.startswith("weft: "), r)
        self.assertIn("WEFT_TOKEN", r.err)
        self.assertIn(self.url, r.err)
        self.assertNotIn(bad, r.out + r.err)
        # a revoked token likewise
        tid = [t for t in self.weft("token", "list", "--json").json() if t["name"] == "cli"][0]["id"]
        self.assertExit(self.weft("token", "revoke", tid), 0)
        r = self.remote("runs")
        self.assertExit(r, 2)
        self.assertNotIn(self.token, r.out + r.err)

    def test_no_token_says_how_to_make_one(self):
        env = dict(self.env, WEFT_SERVER=self.url)
        r = self.weft("runs", env=env)
        self.assertExit(r, 2)
        self.assertIn("set WEFT_TOKEN", r.err)
        self.assertIn("weft token create USER", r.err)

    def test_a_token_on_the_command_line_is_refused(self):
        r = self.weft("--server", self.url, "--token", self.token, "runs")
        self.assertExit(r, 2)
        self.assertIn("set WEFT_TOKEN instead", r.err)
        self.assertNotIn(self.token, r.out + r.err)

    def test_a_server_that_is_down_is_named(self):
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        r = self.remote("runs", url=url)
        self.assertExit(r, 2)
        self.assertIn(f"cannot reach the weft server at {url}", r.err)
        r = self.weft("--server", "ftp://x", "runs", env=self.remote_env())
        self.assertExit(r, 2)
        self.assertIn("is not a server URL", r.err)

    def test_as_and_local_only_commands_with_server(self):
        r = self.weft("--as", "bob", "--server", self.url, "approvals", env=self.remote_env())
        self.assertExit(r, 2)
        self.assertIn("--as does not exist with --server", r.err)
        path = self.write("wf.yaml", SUCCEEDS)
        r = self.weft("--server", self.url, "run", path, env=self.remote_env())
        self.assertExit(r, 2)
        self.assertIn("does not go through a server", r.err)
        # $WEFT_SERVER is for the commands that go through a server: run stays local
        r = self.weft("run", path, env=self.remote_env())
        self.assertExit(r, 0)

    def test_https_with_a_private_certificate(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is needed (scripts/setup.sh installs it)")
        self.run_file(SUCCEEDS)
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.srv.kill()
        srv = Server(self, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
        url = "https://" + srv.addr
        loc = self.weft("runs")
        # the certificate is checked: unknown to the system, refused, naming the server
        r = self.remote("runs", url=url)
        self.assertExit(r, 2)
        self.assertIn(f"cannot reach the weft server at {url}: its TLS certificate is not trusted", r.err)
        self.assertIn("set WEFT_CA_CERT", r.err)
        # trusted with WEFT_CA_CERT: the same listing as locally
        r = self.weft("runs", env=dict(self.remote_env(url=url), WEFT_CA_CERT=cert))
        self.assertEqual((r.code, r.out, r.err), (loc.code, loc.out, loc.err))

    def test_flag_wins_over_the_environment_and_unix_sockets_work(self):
        self.run_file(SUCCEEDS)
        sock = os.path.join(self.tmp, "weft.sock")
        # a second server cannot serve the same home: stop the first, serve a socket
        self.srv.kill()
        Server(self, "--listen", "unix:" + sock)
        loc = self.weft("runs", "--json")
        rem = self.weft("--server", "unix:" + sock, "runs", "--json",
                        env=self.remote_env(url="http://127.0.0.1:1"))
        self.assertEqual((rem.code, rem.out, rem.err), (loc.code, loc.out, loc.err))


if __name__ == "__main__":
    main()
