#!/usr/bin/env python3
"""bench_sse.py — 1,000 live-event subscribers of a 10,000-step run (server
issue, item 10).

  python3 bench/bench_sse.py [--weft build/weft] [--subscribers 1000] [--steps 10000] [--runs 3]

One fresh home and `weft server` per run. bench/sse_clients.c (compiled here
with cc into bench/out/) opens --subscribers connections to GET
/api/v1/events/stream (epoll, one process) with an operator's token; once
every one has its 200, a --steps chain of `set` steps, deployed with POST
/api/v1/workflows, is started with POST /api/v1/workflows/chain/runs, so the
server's own loop executes it and wakes the live stream after each commit.
The client counts each connection's events until every connection has seen
the run succeed, and takes each event's delivery latency: its arrival minus
its "committed_at" (when the server learned of the commit; sse_pump.c). A
subscriber the server drops for being too slow reconnects with
Last-Event-ID, as a browser's EventSource does (the replayed events carry no
committed_at: their latency counts from "at", the transition's time).
Every subscriber must get every audit entry written after it subscribed
(counted in the store afterwards). Memory: the server's RSS before the
subscribers connect and its peak while they are served (/proc, every 50 ms).
Goals: all events to all 1,000, p99 < 50 ms after commit, < 50 MB extra.
Nothing is asserted; results to stdout and bench/out/sse.json.
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import CHILDREN, ROOT, Server, chain_file, cpu_s, loadavg, rss_kib, spawn, weft  # noqa: E402


def api(port, token, method, path, body=None, ctype="application/json"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def one(a, tmp, client, i):
    home = os.path.join(tmp, "sse%d" % i)
    os.makedirs(home)
    with open(os.path.join(home, "users.json"), "w") as f:
        json.dump({"users": {"bench": {"role": "operator"}}}, f)
    os.chmod(os.path.join(home, "users.json"), 0o600)
    token = weft(a, home, "token", "create", "bench").stdout.strip()
    srv = Server(a.weft, home, tmp)
    try:
        with open(chain_file(tmp, a.steps), "rb") as f:
            api(srv.port, token, "POST", "/api/v1/workflows", f.read(), "text/plain")
        time.sleep(0.5)
        rss0 = rss_kib(srv.proc.pid)
        cl = spawn([client, str(srv.port), "/api/v1/events/stream", token, str(a.subscribers),
                    '"workflow":"chain","step":null,"index":null,"status":"succeeded"', str(a.timeout)],
                   stdout=subprocess.PIPE, text=True)
        assert cl.stdout.readline().strip() == "ready", "the subscribers did not connect"
        peak = [rss_kib(srv.proc.pid)]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_kib(srv.proc.pid))
                except OSError:
                    return
                time.sleep(0.05)
        th = threading.Thread(target=sample)
        th.start()
        perf = spawn(["perf", "record", "-F", "299", "--call-graph", "dwarf,16384", "--all-user", "-p", str(srv.proc.pid), "-o", a.perf],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if a.perf else None
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(home, "weft.db"), uri=True, timeout=60)
        seq0 = db.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0]
        t0 = time.perf_counter()
        run = api(srv.port, token, "POST", "/api/v1/workflows/chain/runs", b"{}")
        srv_cpu0 = cpu_s(srv.proc.pid)
        res = json.loads(cl.stdout.readline())
        _, _, ru = os.wait4(cl.pid, 0)
        cl.returncode = 0
        wall = time.perf_counter() - t0
        res["client_cpu_s"] = ru.ru_utime + ru.ru_stime
        res["server_cpu_s"] = cpu_s(srv.proc.pid) - srv_cpu0
        stop.set()
        th.join()
        if perf:
            perf.send_signal(2)
            perf.wait()
        expected = db.execute("SELECT count(*) FROM audit WHERE seq > ?", (seq0,)).fetchone()[0]
        status = db.execute("SELECT status FROM runs WHERE id = ?", (run["id"],)).fetchone()[0]
        db.close()
        res.update({"expected_events": expected, "run_status": status, "seconds": wall,
                    "rss_before_kib": rss0, "rss_peak_kib": peak[0], "extra_mib": (peak[0] - rss0) / 1024,
                    "load": loadavg()})
        print("run %d: %d/%d subscribers saw the run end (%d reconnects after a drop); events per subscriber %d..%d "
              "of %d expected; "
              "delivery p50 %.1f ms, p99 %.1f ms, max %.1f ms; RSS %d -> peak %d KiB (+%.1f MiB); %.1f s "
              "(CPU: server %.1f s, clients %.1f s); load %s" %
              (i + 1, res["ok"], res["conns"], res["reconnects"], res["events_min"], res["events_max"], expected,
               res["lat_ms"]["p50"], res["lat_ms"]["p99"], res["lat_ms"]["max"], rss0, peak[0], res["extra_mib"],
               wall, res["server_cpu_s"], res["client_cpu_s"], res["load"]), flush=True)
        return res
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--perf", help="record the server with `perf record -g` into this file while it serves")
    a = ap.parse_args()
    a.weft = os.path.abspath(a.weft)
    out_dir = os.path.join(ROOT, "bench", "out")
    os.makedirs(out_dir, exist_ok=True)
    client = os.path.join(out_dir, "sse_clients")
    subprocess.run(["cc", "-O2", "-Wall", "-o", client, os.path.join(ROOT, "bench", "sse_clients.c")], check=True)
    tmp = tempfile.mkdtemp(prefix="weft-bench-sse-")
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": loadavg(), "runs": []}
    try:
        for i in range(a.runs):
            res["runs"].append(one(a, tmp, client, i))
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", tmp])
    res["load_end"] = loadavg()
    rs = res["runs"]
    res["median"] = {"p99_ms": statistics.median(r["lat_ms"]["p99"] for r in rs),
                     "p50_ms": statistics.median(r["lat_ms"]["p50"] for r in rs),
                     "extra_mib": statistics.median(r["extra_mib"] for r in rs),
                     "all_received": all(r["ok"] == r["conns"] and r["events_min"] == r["expected_events"]
                                         for r in rs)}
    print(json.dumps(res["median"]))
    with open(os.path.join(out_dir, "sse.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
