#!/usr/bin/env python3
"""Trigger figures of `weft server` (issue 14 item 7), one command:

    python3 bench/bench_triggers.py --weft build/weft            # all parts, ~6 min
    python3 bench/bench_triggers.py --only idle --schedules 10000
    python3 bench/bench_triggers.py --only lag --minutes 3
    python3 bench/bench_triggers.py --only hooks --duration 10

idle   N schedules (100 workflows x N/100 schedule triggers, none due during
       the bench) on one server: the server's CPU over --cpu-seconds (60 s),
       read from /proc/PID/stat (utime + stime), as % of one core. The
       schedules loop keeps ONE timer armed for the earliest next fire.
lag    N schedules spread over the hour (trigger k fires at minute k % 60:
       N/60 fire together every minute), each fire starting a one-step run:
       lag = when the run was recorded (its run.created audit entry) minus
       its scheduled time, over every fire of --minutes minutes; p50, p99,
       max. --burst: every schedule "* * * * *" (N fire together each minute).
hooks  W workflows (100) with one webhook trigger each, a secret; wrk (a Lua
       script cycling through bodies signed beforehand here with Python's
       hmac, each with its own X-Weft-Delivery id, so every request is
       verified and starts a run), as fast as --connections allow for
       --duration s: 202s/s, then how long until every run of them has
       started and ended.

Results print as JSON lines and go to bench/out/triggers.json. Say the load
average beside any figure (printed too): the machine is shared."""
import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "bench-hook-secret"


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Server:
    def __init__(self, weft, home, tmp):
        self.log_path = os.path.join(tmp, "server-%d.log" % time.time_ns())
        self.log = open(self.log_path, "w")
        env = dict(os.environ, WEFT_HOME=home)
        self.proc = subprocess.Popen([weft, "server", "--listen", "127.0.0.1:0"], cwd=tmp, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        end = time.time() + 120
        self.port = None
        while time.time() < end and not self.port:
            with open(self.log_path) as f:
                m = re.search(r"listening on [^ ]*:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                sys.exit("the server exited: " + open(self.log_path).read())
            else:
                time.sleep(0.05)

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def weft(a, home, *args, check=True):
    env = dict(os.environ, WEFT_HOME=home)
    r = subprocess.run([a.weft, *args], env=env, capture_output=True, text=True)
    if check and r.returncode:
        sys.exit("weft %s: %s" % (" ".join(args), r.stderr))
    return r


def deploy_schedules(a, tmp, home, n, expr_of):
    per = max(1, n // 100)
    k = 0
    w = 0
    while k < n:
        path = os.path.join(tmp, "s%d.yaml" % w)
        with open(path, "w") as f:
            f.write("name: sched-%d\ntriggers:\n" % w)
            for _ in range(min(per, n - k)):
                f.write('  - schedule: "%s"\n' % expr_of(k))
                k += 1
            f.write("steps:\n  a: {}\n")
        weft(a, home, "deploy", path)
        w += 1
    return w


def wait_synced(a, home, n):
    """until `weft schedules` lists n rows with a next time (the server synced them)"""
    end = time.time() + 600
    while time.time() < end:
        r = weft(a, home, "schedules", "--json", check=False)
        if r.returncode == 0 and len(json.loads(r.stdout)["schedules"]) >= n:
            return
        time.sleep(1)
    sys.exit("the schedules were not synced")


def bench_idle(a, tmp):
    home = os.path.join(tmp, "idle")
    os.makedirs(home)
    w = deploy_schedules(a, tmp, home, a.schedules, lambda k: "%d %d 1 1 *" % (k % 60, k % 24))
    srv = Server(a.weft, home, tmp)
    t0 = time.time()
    wait_synced(a, home, a.schedules)
    sync_s = time.time() - t0
    time.sleep(5)  # settle: the start's sync and resumes are done
    hz = os.sysconf("SC_CLK_TCK")
    c0, t0 = srv.cpu_ticks(), time.time()
    time.sleep(a.cpu_seconds)
    c1, t1 = srv.cpu_ticks(), time.time()
    rss = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % srv.proc.pid).read()).group(1))
    srv.stop()
    return {"part": "idle", "schedules": a.schedules, "workflows": w, "sync_listed_s": round(sync_s, 2),
            "cpu_seconds": round((c1 - c0) / hz, 3), "wall_seconds": round(t1 - t0, 1),
            "cpu_percent": round(100.0 * (c1 - c0) / hz / (t1 - t0), 3), "rss_kib": rss, "load": load()}


def parse_rfc3339(s):
    import calendar
    base = calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))
    return float(base)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None


def bench_lag(a, tmp):
    home = os.path.join(tmp, "lag")
    os.makedirs(home)
    expr = (lambda k: "* * * * *") if a.burst else (lambda k: "%d * * * *" % (k % 60))
    w = deploy_schedules(a, tmp, home, a.schedules, expr)
    srv = Server(a.weft, home, tmp)
    wait_synced(a, home, a.schedules)
    start = time.time()
    time.sleep(a.minutes * 60)
    srv.stop()
    lags = []
    for line in weft(a, home, "audit", "export").stdout.splitlines():
        e = json.loads(line)
        if e["kind"] == "run.created" and "scheduled_for" in e["data"]:
            lags.append(e["at_ms"] / 1000.0 - parse_rfc3339(e["data"]["scheduled_for"]))
    return {"part": "lag", "schedules": a.schedules, "workflows": w, "burst": a.burst, "fires": len(lags),
            "minutes": a.minutes, "p50_s": pct(lags, 50), "p99_s": pct(lags, 99), "max_s": max(lags) if lags else None,
            "load": load()}


def bench_hooks(a, tmp):
    home = os.path.join(tmp, "hooks")
    os.makedirs(home)
    with open(os.path.join(home, "secrets.json"), "w") as f:
        json.dump({"HOOK_SECRET": SECRET}, f)
    os.chmod(os.path.join(home, "secrets.json"), 0o600)
    for w in range(a.workflows):
        path = os.path.join(tmp, "h%d.yaml" % w)
        with open(path, "w") as f:
            f.write("name: hook-%d\ntriggers:\n  - webhook: hook-%d\n    secret: HOOK_SECRET\n"
                    "    inputs: {n: \"${{ .trigger.body.n }}\"}\ninputs:\n  n: {type: integer}\n"
                    "steps:\n  a: {}\n" % (w, w))
        weft(a, home, "deploy", path)
    n = a.bodies
    lua = os.path.join(tmp, "hooks.lua")
    with open(lua, "w") as f:
        f.write("local reqs = {}\n")
        for i in range(n):
            body = json.dumps({"n": i})
            sig = "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            f.write('reqs[%d] = wrk.format("POST", "/api/v1/hooks/hook-%d", {["Content-Type"]="application/json", '
                    '["X-Weft-Signature"]="%s", ["X-Weft-Delivery"]="d-%d"}, %s)\n'
                    % (i + 1, i % a.workflows, sig, i, json.dumps(body)))
        f.write("local i = 0\n"
                "local counter = 0\n"
                "function setup(thread) thread:set('id', counter); counter = counter + 1 end\n"
                "function init(args) i = id end\n"
                "request = function() i = i + 2; return reqs[(i %% %d) + 1] end\n" % n)
    srv = Server(a.weft, home, tmp)
    url = "http://127.0.0.1:%d" % srv.port
    t0 = time.time()
    out = subprocess.run(["wrk", "-t2", "-c%d" % a.connections, "-d%ds" % a.duration, "--latency", "-s", lua, url],
                         capture_output=True, text=True).stdout
    t_wrk = time.time() - t0
    req = int(re.search(r"(\d+) requests in", out).group(1))
    non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2 = int(non2.group(1)) if non2 else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    # every run of them started and ended
    t1 = time.time()
    total = None
    while time.time() - t1 < 600:
        r = weft(a, home, "runs", "--json", "--limit", "1000000", check=False)
        runs = json.loads(r.stdout) if r.returncode == 0 else []
        done = sum(1 for x in runs if x["status"] in ("succeeded", "failed", "cancelled"))
        total = len(runs)
        if total and done == total:
            break
        time.sleep(1)
    t_all = time.time() - t0
    srv.stop()
    return {"part": "hooks", "workflows": a.workflows, "connections": a.connections, "duration_s": a.duration,
            "requests": req, "non_2xx": non2, "req_per_s": rps, "p99": p99.group(1) if p99 else None,
            "runs": total, "runs_ended_per_s": round(total / t_all, 1) if total else None,
            "all_ended_after_s": round(t_all, 1), "wrk_s": round(t_wrk, 1), "load": load()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weft", default=os.path.join(HERE, "..", "build", "weft"))
    ap.add_argument("--only", choices=["idle", "lag", "hooks"])
    ap.add_argument("--schedules", type=int, default=10000)
    ap.add_argument("--cpu-seconds", type=int, default=60)
    ap.add_argument("--minutes", type=float, default=3)
    ap.add_argument("--burst", action="store_true")
    ap.add_argument("--workflows", type=int, default=100)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--bodies", type=int, default=30000, help="distinct signed deliveries (then they repeat)")
    ap.add_argument("--connections", type=int, default=16)
    a = ap.parse_args()
    a.weft = os.path.abspath(a.weft)
    tmp = tempfile.mkdtemp(prefix="weft-bench-trg-")
    results = []
    try:
        for part, fn in (("idle", bench_idle), ("lag", bench_lag), ("hooks", bench_hooks)):
            if a.only and a.only != part:
                continue
            r = fn(a, tmp)
            print(json.dumps(r), flush=True)
            results.append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "triggers.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
