"""End-to-end: schedule triggers under the real `weft server` (SERVER.md §3).

Each scheduled time runs exactly once, even when the server is SIGKILLed
around fire times again and again (the run is keyed by (workflow, trigger,
time) and the schedule's row advances in the same transaction); catch_up
none/latest/all after downtime; overlap skip/allow; `.trigger` and
`.run.trigger` in a run's expressions; `weft schedules` and GET
/api/v1/schedules; `weft backfill` (twice starts nothing new; at most K at
once); and a new deployed version taking over its schedule without a
double fire.

Which times a run was made for is read from the public audit log (`weft
audit export`: each run.created entry names its scheduled_for), and each
run's own view from its step's log. Downtime of days is simulated by moving
a schedule row's next fire time back in the store (self.store_db()), the one place
a test reaches inside: waiting days is not an option."""
import calendar
import datetime
import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

from harness import BIN, WeftTest, main

LISTEN_RE = re.compile(r"server listening on (\S+?)(?: with TLS)? \(pid")


class Server:
    """A running `weft server` on a free loopback port; stderr to a file."""

    def __init__(self, test, *args):
        self.test = test
        self.log_path = os.path.join(test.tmp, f"server-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "server", "--listen", "127.0.0.1:0", *args], cwd=test.tmp,
                                     env=test.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        test.addCleanup(self.kill)
        self.addr = test.wait_for(self._addr, "the server's start line")
        self.base = "http://" + self.addr

    def _addr(self):
        m = LISTEN_RE.search(self.text())
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            self.test.fail("the server exited %s: %s" % (self.proc.returncode, self.text()))
        return None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def parse_time(s):
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


class SchedulesTest(WeftTest):
    def deploy(self, name, text):
        path = self.write(name, text)
        r = self.weft("deploy", path)
        self.assertExit(r, 0)
        return path

    def created(self, workflow=None):
        """run.created entries of the audit log: [(run, data)]"""
        r = self.weft("audit", "export")
        self.assertExit(r, 0)
        out = []
        for line in r.out.splitlines():
            e = json.loads(line)
            if e["kind"] == "run.created" and (workflow is None or e["data"]["workflow"] == workflow):
                out.append((e["run"], e["data"]))
        return out

    def scheduled(self, workflow, trigger=None):
        return [parse_time(d["scheduled_for"]) for _, d in self.created(workflow)
                if "scheduled_for" in d and (trigger is None or d["trigger_index"] == trigger)]

    def runs(self, workflow):
        r = self.weft("runs", "--workflow", workflow, "--limit", "10000", "--json")
        self.assertExit(r, 0)
        return r.json()

    def all_ended(self, workflow):
        rs = self.runs(workflow)
        return all(r["status"] in ("succeeded", "failed", "cancelled") for r in rs) and rs

    def db(self):
        return self.store_db()  # SQLite or PostgreSQL (WEFT_TEST_STORE)

    # ---- exactly once -------------------------------------------------------------------

    def test_each_scheduled_time_runs_exactly_once_across_sigkills(self):
        self.deploy("tick.yaml", """
            name: tick
            triggers:
              - schedule: "@every 1s"
                catch_up: all
                overlap: allow
                inputs: {when: "${{ .trigger.scheduled_for }}"}
            inputs:
              when: {type: string}
            steps:
              a:
                run: echo "$W"
                env: {W: "${{ .inputs.when }}"}
            """)
        rnd = random.Random(1414)
        kills = 12
        for i in range(kills):
            srv = Server(self)
            # let some fires happen (or none), then kill at an arbitrary point
            time.sleep(rnd.uniform(0.05, 1.6))
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            srv.log.close()
            time.sleep(rnd.uniform(0.0, 1.2))
        # a last server catches up and runs everything to its end
        last_kill = int(time.time())
        srv = Server(self)
        self.wait_for(lambda: any(t > last_kill + 1 for t in self.scheduled("tick")), "a fire after the last kill")
        srv.stop()
        times = self.scheduled("tick")
        self.assertEqual(len(times), len(set(times)), "a scheduled time fired twice: %s" % sorted(times))
        # catch_up: all, downtimes far below 100 s: no time between the first and the last is lost
        self.assertEqual(sorted(times), list(range(min(times), max(times) + 1)))
        self.assertGreater(len(times), kills)
        # every recorded run was executed (the last server resumed the ones a kill interrupted)
        srv2 = Server(self)
        self.wait_for(lambda: self.all_ended("tick"), "every run to end")
        srv2.stop()
        # srv2 fired the times since srv stopped too (catch_up: all): count again
        times = self.scheduled("tick")
        self.assertEqual(len(times), len(set(times)), "a scheduled time fired twice: %s" % sorted(times))
        self.assertEqual(sorted(times), list(range(min(times), max(times) + 1)))
        runs = self.runs("tick")
        self.assertEqual(len(runs), len(times))
        self.assertTrue(all(r["status"] == "succeeded" for r in runs), runs)
        # each run saw its own scheduled time
        run, data = self.created("tick")[-1]
        r = self.weft("logs", run, "a")
        self.assertExit(r, 0)
        self.assertEqual(r.out.strip(), data["scheduled_for"])

    # ---- catch_up -------------------------------------------------------------------------

    def test_catch_up_none_latest_all_after_days_of_downtime(self):
        self.deploy("daily.yaml", """
            name: daily
            triggers:
              - {schedule: "0 0 * * *", catch_up: none}
              - {schedule: "0 0 * * *", catch_up: latest}
              - {schedule: "0 0 * * *", catch_up: all}
              - {schedule: "0 0 * * *"}
            steps:
              a: {run: "true"}
            """)
        now = time.time()
        if now % 86400 > 86400 - 30 or now % 86400 < 30:
            time.sleep(65)  # not across midnight UTC
        srv = Server(self)  # records the rows (next fire: the coming midnight)
        srv.stop()
        today = int(time.time()) // 86400 * 86400
        with self.db() as db:  # the server was down for five days
            db.execute("UPDATE schedules SET next_at = ? WHERE workflow = 'daily'", (today - 5 * 86400,))
        srv = Server(self)
        self.wait_for(lambda: len(self.scheduled("daily")) == 1 + 6 + 1, "the catch-up runs")
        self.wait_for(lambda: "missed while no server ran" in srv.text(), "the log of dropped times")
        srv.stop()
        self.assertEqual(self.scheduled("daily", 1), [])
        self.assertEqual(self.scheduled("daily", 2), [today])
        self.assertEqual(sorted(self.scheduled("daily", 3)), [today - k * 86400 for k in range(5, -1, -1)])
        self.assertEqual(self.scheduled("daily", 4), [today], "latest is the default")
        # the rows moved on: nothing fires again at the next start
        srv = Server(self)
        r = self.weft("schedules", "--json")
        self.assertExit(r, 0)
        for s in r.json()["schedules"]:
            self.assertEqual(parse_time(s["next"][0]), today + 86400)
        srv.stop()
        self.assertEqual(len(self.scheduled("daily")), 8)

    def test_catch_up_all_fires_at_most_a_hundred(self):
        self.deploy("minutely.yaml", """
            name: minutely
            triggers:
              - {schedule: "* * * * *", catch_up: all}
            steps:
              a: {run: "true"}
            """)
        srv = Server(self)
        srv.stop()
        start = int(time.time()) // 60 * 60 - 300 * 60
        with self.db() as db:
            db.execute("UPDATE schedules SET next_at = ? WHERE workflow = 'minutely'", (start,))
        srv = Server(self)
        self.wait_for(lambda: len(self.scheduled("minutely")) >= 100, "the catch-up runs")
        srv.stop()
        times = sorted(self.scheduled("minutely"))
        missed = [t for t in times if t < times[0] + 100 * 60]
        self.assertEqual(len(missed), 100)
        self.assertEqual(missed, list(range(missed[0], missed[0] + 100 * 60, 60)))
        self.assertGreaterEqual(missed[0], start + 199 * 60, "the newest hundred, not the oldest")

    # ---- overlap --------------------------------------------------------------------------

    def overlap_runs(self, policy, sleep="2.5", ended=("succeeded",)):
        text = """
            name: slow
            triggers:
              - {schedule: "@every 1s", overlap: %s}
            steps:
              a: {run: "sleep %s"}
            """
        self.deploy("slow.yaml", text % (policy, sleep))
        srv = Server(self)
        self.wait_for(lambda: len([r for r in self.runs("slow") if r["status"] in ended]) >= 2,
                      "two runs to end")
        # a version without the schedule: the server drops its row and fires no more
        self.deploy("slow.yaml", """
            name: slow
            steps:
              a: {run: "true"}
            """)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.all_ended("slow"), "every run to end")
        srv.stop()
        runs = [r for r in self.runs("slow") if r.get("finished_at")]
        spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
        overlapping = any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))
        return overlapping, runs

    def test_overlap_skip_never_runs_two_at_once(self):
        overlapping, runs = self.overlap_runs("skip")
        self.assertFalse(overlapping, runs)
        r = self.weft("audit", "export")
        self.assertIn('"kind":"schedule.skipped"', r.out)

    def test_overlap_queue_runs_every_time_one_after_another(self):
        overlapping, runs = self.overlap_runs("queue", sleep="1.4")
        self.assertFalse(overlapping, runs)
        times = self.scheduled("slow")
        self.assertEqual(sorted(times), list(range(min(times), max(times) + 1)), "no time skipped")
        self.assertEqual(len(runs), len(times))
        self.assertTrue(all(r["status"] == "succeeded" for r in runs), runs)

    def test_overlap_cancel_previous_cancels_the_active_run(self):
        overlapping, runs = self.overlap_runs("cancel_previous", sleep="30", ended=("cancelled",))
        self.assertIn("cancelled", [r["status"] for r in runs])
        cancels = [json.loads(line) for line in self.weft("audit", "export").out.splitlines()
                   if '"cancel.requested"' in line]
        self.assertTrue(cancels and all(c["data"]["by"] == "scheduler" for c in cancels), cancels)

    def test_overlap_allow_runs_them_side_by_side(self):
        overlapping, runs = self.overlap_runs("allow")
        self.assertTrue(overlapping, runs)

    # ---- .trigger, weft schedules, GET /schedules ---------------------------------------

    def test_trigger_object_and_schedules_listing(self):
        self.deploy("nightly.yaml", """
            name: nightly
            triggers:
              - schedule: "30 2 * * *"
                timezone: Europe/Berlin
              - schedule: "@every 1s"
                inputs: {mode: "${{ .trigger.type }}"}
            inputs:
              mode: {type: string, default: full}
            steps:
              show:
                run: echo "$T|$R|$M"
                env:
                  T: "${{ .trigger | tojson }}"
                  R: "${{ .run.trigger.scheduled_for }}"
                  M: "${{ .inputs.mode }}"
            """)
        r = self.weft("schedules", "--json")
        self.assertExit(r, 0)
        s = r.json()["schedules"]
        self.assertEqual([(x["workflow"], x["trigger"], x["schedule"], x["timezone"]) for x in s],
                         [("nightly", 1, "30 2 * * *", "Europe/Berlin"), ("nightly", 2, "@every 1s", "UTC")])
        self.assertEqual(len(s[0]["next"]), 5)
        for t in s[0]["next"]:  # 02:30 in Berlin is 00:30 or 01:30 UTC
            self.assertRegex(t, r"T0[01]:30:00Z$")
        self.assertEqual(s[0]["catch_up"], "latest")
        self.assertEqual(s[0]["overlap"], "skip")
        text = self.weft("schedules")
        self.assertIn('nightly trigger 1: "30 2 * * *" (Europe/Berlin', text.out)
        srv = Server(self)
        self.wait_for(lambda: self.scheduled("nightly", 2), "a fire")
        tok = self.weft("token", "create", os.environ.get("USER", "tester"))
        self.assertExit(tok, 0)
        auth = {"Authorization": "Bearer " + tok.out.strip()}
        code, body = srv.request("GET", "/api/v1/schedules", headers=auth)
        self.assertEqual(code, 200, body)
        self.assertEqual([x["trigger"] for x in json.loads(body)["schedules"]], [1, 2])
        # the lag of the last scheduled fire: the timer wakes just after the
        # scheduled time (a millisecond or so; 0 when it lands on the millisecond)

        def lag():
            code, metrics = srv.request("GET", "/metrics", headers=auth)
            self.assertEqual(code, 200, metrics)
            v = float(re.search(r"^weft_schedule_lag_seconds (\S+)$", metrics, re.M).group(1))
            self.assertGreaterEqual(v, 0)
            return v > 0
        self.wait_for(lag, "a scheduled fire's lag")
        run, data = [c for c in self.created("nightly") if "scheduled_for" in c[1]][0]
        # the first fire's run must have run its step before the server stops
        # (on a loaded machine it may still be queued when the lag shows)
        self.wait_for(lambda: self.weft("status", run, "--json").json().get("status") == "succeeded",
                      "the first scheduled run to succeed")
        srv.stop()
        r = self.weft("logs", run, "show")
        self.assertExit(r, 0)
        tj, rsf, mode = r.out.strip().split("|")
        t = json.loads(tj)
        self.assertEqual(t["type"], "schedule")
        self.assertEqual(t["scheduled_for"], data["scheduled_for"])
        self.assertEqual(rsf, data["scheduled_for"])
        self.assertEqual(t["name"], "@every 1s")
        self.assertEqual(set(t), {"type", "at", "scheduled_for", "name", "body", "headers", "event"})
        self.assertEqual(mode, "schedule")
        st = self.weft("status", run, "--json").json()
        self.assertEqual(st["trigger"], "schedule")

    def test_manual_runs_have_a_trigger_object_too(self):
        path = self.write("m.yaml", """
            name: m
            steps:
              a:
                run: echo "$T"
                env: {T: "${{ .trigger.type }}/${{ .run.trigger.type }}/${{ .trigger.scheduled_for }}"}
            """)
        r = self.weft("run", path, "--json")
        self.assertExit(r, 0)
        self.assertEqual(self.weft("logs", r.json()["id"], "a").out.strip(), "manual/manual/")

    # ---- backfill -------------------------------------------------------------------------

    def test_backfill_twice_starts_nothing_new(self):
        self.deploy("report.yaml", """
            name: report
            triggers:
              - schedule: "0 3 * * *"
                inputs: {day: "${{ .trigger.scheduled_for[0:10] }}"}
            inputs:
              day: {type: string}
            steps:
              a:
                run: echo "$D"
                env: {D: "${{ .inputs.day }}"}
            """)
        r = self.weft("backfill", "report", "--from", "2026-01-01", "--to", "2026-01-06", "--json")
        self.assertExit(r, 0)
        out = r.json()
        self.assertEqual([x["scheduled_for"] for x in out["started"]],
                         ["2026-01-0%dT03:00:00Z" % d for d in range(1, 6)])
        self.assertEqual(out["existing"], 0)
        again = self.weft("backfill", "report", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-06", "--json")
        self.assertExit(again, 0)
        self.assertEqual(again.json()["started"], [])
        self.assertEqual(again.json()["existing"], 5)
        # a wider window adds only the new times
        wider = self.weft("backfill", "report", "--from", "2025-12-31", "--to", "2026-01-07")
        self.assertExit(wider, 0)
        self.assertIn("2 runs queued", wider.out)
        self.assertEqual(len(self.runs("report")), 7)
        self.assertTrue(all(r["status"] == "queued" for r in self.runs("report")))
        srv = Server(self)
        self.wait_for(lambda: self.all_ended("report"), "the backfilled runs")
        srv.stop()
        days = sorted(self.weft("logs", r["id"], "a").out.strip() for r in self.runs("report"))
        self.assertEqual(days, ["2025-12-31"] + ["2026-01-0%d" % d for d in range(1, 7)])

    def test_backfill_max_runs_at_once(self):
        self.deploy("bf.yaml", """
            name: bf
            triggers:
              - schedule: "@hourly"
            steps:
              a: {run: "sleep 0.6"}
            """)
        r = self.weft("backfill", "bf", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T06:00:00Z",
                      "--max-runs-at-once", "2")
        self.assertExit(r, 0)
        srv = Server(self)
        self.wait_for(lambda: len(self.runs("bf")) == 6 and self.all_ended("bf"), "the backfilled runs")
        srv.stop()
        spans = [(r["started_at"], r["finished_at"]) for r in self.runs("bf")]
        for s in spans:  # at no start were two others running
            active = [o for o in spans if o[0] <= s[0] < o[1]]
            self.assertLessEqual(len(active), 2, spans)

    def test_backfill_refusals(self):
        self.deploy("r.yaml", """
            name: r
            triggers:
              - {schedule: "@daily"}
              - {event: go}
            steps:
              a: {run: "true"}
            """)
        for args, what in [(["--from", "yesterday", "--to", "2026-01-02"], "RFC 3339"),
                           (["--from", "2026-01-02", "--to", "2026-01-01"], "after --from"),
                           (["--from", "2026-01-01", "--to", "2026-01-02", "--trigger", "2"], "not a schedule"),
                           (["--from", "2026-01-01", "--to", "2026-01-02", "--trigger", "9"], "no trigger 9"),
                           (["--from", "2000-01-01", "--to", "2030-01-01"], "more than 10000")]:
            r = self.weft("backfill", "r", *args)
            self.assertExit(r, 2)
            self.assertIn(what, r.err)
            self.assertTrue(r.err.startswith("weft: "), r.err)
        r = self.weft("backfill", "nope", "--from", "2026-01-01", "--to", "2026-01-02")
        self.assertExit(r, 4)
        self.assertEqual(self.runs("r"), [])

    # ---- a new version takes over ---------------------------------------------------------

    def test_a_new_version_takes_over_without_a_double_fire(self):
        text = """
            name: tock
            triggers:
              - {schedule: "@every 1s", catch_up: all, overlap: allow}
            steps:
              a: {run: "echo v%d"}
            """
        self.deploy("tock.yaml", text % 1)
        srv = Server(self)
        self.wait_for(lambda: len(self.scheduled("tock")) >= 2, "two fires of version 1")
        self.deploy("tock.yaml", text % 2)
        srv.proc.send_signal(signal.SIGHUP)  # the server takes the new version's schedules up
        v2 = self.created("tock")
        self.wait_for(lambda: any(d["version"] == 2 for _, d in self.created("tock")), "a fire of version 2")
        self.wait_for(lambda: len([1 for _, d in self.created("tock") if d["version"] == 2]) >= 2,
                      "two fires of version 2")
        srv.stop()
        times = self.scheduled("tock")
        self.assertEqual(len(times), len(set(times)), sorted(times))
        self.assertEqual(sorted(times), list(range(min(times), max(times) + 1)))
        versions = [d["version"] for _, d in self.created("tock")]
        self.assertEqual(versions, sorted(versions), "version 1 fires stop when version 2 begins")
        self.assertTrue(v2)

    def test_a_deploy_beside_the_server_is_taken_up(self):
        self.deploy("late.yaml", """
            name: late
            steps:
              a: {run: "true"}
            """)
        srv = Server(self)
        self.deploy("late.yaml", """
            name: late
            triggers:
              - {schedule: "@every 1s"}
            steps:
              a: {run: "true"}
            """)
        # no SIGHUP, no API call: the server notices the new version by itself
        self.wait_for(lambda: self.scheduled("late"), "a fire of the new version's schedule")
        srv.stop()


if __name__ == "__main__":
    main()
