#!/usr/bin/env python3
"""bench_ready.py — `weft server`: exec to the first 200 from /readyz, and
the idle memory (server issue, item 10: < 50 ms, < 20 MB).

  python3 bench/bench_ready.py [--weft build/weft] [--runs 20]

Each start: a free loopback port is picked, `weft server --listen
127.0.0.1:PORT` is started, and /readyz is polled in a tight loop (connect,
GET, read) until it answers 200; twice per round: on a fresh home (the store
is created and migrated: a first start) and on a home that already has its
store (a restart). Also recorded per start: the server's own CPU time until
ready (/proc/PID/schedstat: time on a CPU, ns), which does not depend on the
machine's load the way the wall time does, and its RSS 1 s after ready with
nothing running. Medians of --runs; the load average beside them. Nothing
is asserted; results to stdout and bench/out/ready.json.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def oncpu_ms(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e6


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def one(weft, home):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.perf_counter()
    p = subprocess.Popen([weft, "server", "--listen", "127.0.0.1:%d" % port], env=dict(os.environ, WEFT_HOME=home),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port))
            except OSError:
                if p.poll() is not None:
                    raise SystemExit("the server exited with %d" % p.returncode)
                continue
            with c:
                c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if c.recv(64).startswith(b"HTTP/1.1 200"):
                    break
        ready_ms = (time.perf_counter() - t0) * 1000
        cpu = oncpu_ms(p.pid)
        time.sleep(1)
        return {"exec_to_ready_ms": ready_ms, "cpu_to_ready_ms": cpu, "idle_rss_kib": rss_kib(p.pid)}
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    weft = os.path.abspath(a.weft)
    tmp = tempfile.mkdtemp(prefix="weft-bench-ready-")
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": open("/proc/loadavg").read().split()[:3],
           "fresh": [], "existing": []}
    try:
        existing = os.path.join(tmp, "existing")
        subprocess.run([weft, "runs"], env=dict(os.environ, WEFT_HOME=existing), capture_output=True, check=True)
        for i in range(a.runs):
            res["fresh"].append(one(weft, os.path.join(tmp, "fresh%d" % i)))
            res["existing"].append(one(weft, existing))
            print("start %d: fresh home %.1f ms (CPU %.1f ms), existing home %.1f ms (CPU %.1f ms), idle RSS %d KiB" %
                  (i + 1, res["fresh"][-1]["exec_to_ready_ms"], res["fresh"][-1]["cpu_to_ready_ms"],
                   res["existing"][-1]["exec_to_ready_ms"], res["existing"][-1]["cpu_to_ready_ms"],
                   res["existing"][-1]["idle_rss_kib"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_end"] = open("/proc/loadavg").read().split()[:3]
    for k in ("fresh", "existing"):
        res[k + "_median"] = {m: statistics.median(r[m] for r in res[k]) for m in res[k][0]}
        res[k + "_min_ms"] = min(r["exec_to_ready_ms"] for r in res[k])
    print(json.dumps({k: res[k] for k in res if k.endswith("median") or k.endswith("min_ms") or k.startswith("load")}))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "ready.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
