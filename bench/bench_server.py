#!/usr/bin/env python3
"""bench_server.py — `weft server` figures on loopback (server issue, item 10).

  python3 bench/bench_server.py [--weft build/weft] [--runs 5] [--duration 10]
                                [--only start,get,engine]

start   exec -> first 200 from /readyz (a tight raw-socket poll), the server's
        own "ready in X ms", and the idle RSS 1 s after start; a fresh home
        each time (store created and migrated). Goals: < 50 ms, < 20 MB.
get     `wrk -t2 -c16 --latency` against GET /api/v1/runs/ID with a viewer's
        token, (a) on an idle server and (b) while `weft run` executes
        10,000-step runs (a chain of `set` steps, one after another, in the
        same home, for the whole measurement). Goal: >= 10,000 req/s with
        p99 < 10 ms. The answer's status is recorded: a route that is not
        wired yet answers 503 after authentication (a token lookup in the
        store), so the figure is then that of the front and its store read.
engine  the steps/s of `weft run` of a 10,000-step layered DAG of `set` steps
        in the server's home, with the server idle and while wrk sends it
        ~1,000 req/s (a Lua script pacing each of 20 connections with
        delay(): 19 ms between a connection's requests; the rate reached is
        recorded, it falls when answers are slow), interleaved. Both the
        wall-clock rate and the rate per CPU second of `weft run` are
        recorded: on a loaded machine the second is the steadier one.
        Goal: a drop <= 10 %.
runs    a one-step `set` workflow deployed with POST /api/v1/workflows, then
        started with `wrk -t2 -c16` on POST /api/v1/workflows/one/runs for
        --runs-duration s (default 30); completed = runs that succeeded,
        counted in the store (read-only) until every run started has ended,
        over the time from the first start to the last end. Goal: >= 1,000
        runs/s sustained. Skipped when the route is not in the build.

Every figure is a median of --runs runs; the load average is recorded at the
start and end (the machine is shared: wall time mostly measures waiting).
Nothing is asserted: results go to stdout and bench/out/server.json; the
numbers of record are in bench/README.md.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CHILDREN = []  # every process started, killed at the end whatever happens


def spawn(*args, **kw):
    p = subprocess.Popen(*args, **kw)
    CHILDREN.append(p)
    return p


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_s(pid):
    """user + system CPU seconds of a process so far"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Server:
    def __init__(self, weft, home, tmp):
        self.log = tempfile.NamedTemporaryFile("w+", dir=tmp, delete=False)
        self.t0 = time.perf_counter()
        self.proc = spawn([weft, "server", "--listen", "127.0.0.1:0"],
                                     env=dict(os.environ, WEFT_HOME=home), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        while self.port is None:
            self.log.seek(0)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+).*ready in ([0-9.]+) ms", self.log.read())
            if m:
                self.port, self.self_ms = int(m.group(1)), float(m.group(2))
            elif self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit("the server exited: " + self.log.read())
        while True:
            with socket.create_connection(("127.0.0.1", self.port)) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    break
        self.ready_ms = (time.perf_counter() - self.t0) * 1000

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def bench_start(a, tmp):
    rows = []
    for i in range(a.runs):
        home = os.path.join(tmp, "start%d" % i)
        srv = Server(a.weft, home, tmp)
        time.sleep(1)
        rows.append({"exec_to_ready_ms": srv.ready_ms, "self_reported_ms": srv.self_ms,
                     "idle_rss_kib": rss_kib(srv.proc.pid)})
        srv.stop()
        print("start %d: exec->readyz %.1f ms, self-reported %.1f ms, idle RSS %d KiB" %
              (i + 1, srv.ready_ms, srv.self_ms, rows[-1]["idle_rss_kib"]), flush=True)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} | {"all": rows}


def weft(a, home, *args, check=True):
    p = subprocess.run([a.weft, *args], env=dict(os.environ, WEFT_HOME=home), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit("weft %s: %s" % (" ".join(args), p.stderr))
    return p


def prepare(a, tmp, name):
    """a home with a viewer's token and one finished run"""
    home = os.path.join(tmp, name)
    os.makedirs(home)
    with open(os.path.join(home, "users.json"), "w") as f:
        json.dump({"users": {"bench": {"role": "viewer"}}}, f)
    os.chmod(os.path.join(home, "users.json"), 0o600)
    token = weft(a, home, "token", "create", "bench").stdout.strip()
    one = os.path.join(tmp, "one.yaml")
    with open(one, "w") as f:
        f.write("name: one\nsteps:\n  a: {set: {v: 1}}\n")
    weft(a, home, "run", one)
    run_id = json.loads(weft(a, home, "runs", "--json").stdout)[0]["id"]
    lua = os.path.join(tmp, name + ".lua")
    with open(lua, "w") as f:
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
    return home, token, run_id, lua


def chain_file(tmp, n=10000):
    path = os.path.join(tmp, "chain.yaml")
    with open(path, "w") as f:
        f.write("name: chain\nsteps:\n  s0: {set: {v: 0}}\n")
        for i in range(1, n):
            f.write("  s%d: {set: {v: %d}, needs: [s%d]}\n" % (i, i, i - 1))
    return path


def lattice_file(tmp, n=10000, width=100):
    path = os.path.join(tmp, "lattice.yaml")
    with open(path, "w") as f:
        f.write("name: lattice\nsteps:\n")
        for i in range(n):
            layer, k = divmod(i, width)
            needs = "" if layer == 0 else ", needs: [s%d, s%d]" % ((layer - 1) * width + k,
                                                                    (layer - 1) * width + (k + 1) % width)
            f.write("  s%d: {set: {v: %d}%s}\n" % (i, i, needs))
    return path


def unit_ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]


def parse_wrk(out):
    r = {"req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for p in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        r["p" + p + "_ms"] = unit_ms(*m.groups()) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    r["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    return r


def status_of(port, path, token):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n" %
                   (path, token)).encode())
        return int(s.recv(64).split()[1])


def bench_get(a, tmp):
    home, token, run_id, lua = prepare(a, tmp, "get")
    chain = chain_file(tmp)
    srv = Server(a.weft, home, tmp)
    path = "/api/v1/runs/" + run_id
    url = "http://127.0.0.1:%d%s" % (srv.port, path)
    out = {"status": status_of(srv.port, path, token), "idle": [], "busy": []}
    print("GET %s answers %d" % (path, out["status"]), flush=True)
    for i in range(a.runs):
        for mode in ("idle", "busy"):
            bg, stop = None, os.path.join(tmp, "stop")
            if mode == "busy":  # 10,000-step runs back to back for the whole measurement
                if os.path.exists(stop):
                    os.unlink(stop)
                bg = spawn(["bash", "-c", 'n=0; while [ ! -f "$1" ]; do "$2" run "$3" >/dev/null || exit 1;'
                                       ' n=$((n+1)); done; echo $n', "loop", stop, a.weft, chain],
                                      env=dict(os.environ, WEFT_HOME=home), stdout=subprocess.PIPE, text=True)
                time.sleep(0.5)
            c0 = cpu_s(srv.proc.pid)
            w = subprocess.run(["wrk", "-t2", "-c%d" % a.connections, "-d%ds" % a.duration, "--latency", "-s", lua,
                                url], capture_output=True, text=True)
            r = parse_wrk(w.stdout)
            r["server_cpu_us_per_req"] = (cpu_s(srv.proc.pid) - c0) * 1e6 / max(r["requests"], 1)
            if bg:
                open(stop, "w").close()
                r["chain_runs_meanwhile"] = int(bg.communicate()[0].strip() or 0)
            out[mode].append(r)
            print("get %s %d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, server CPU %.1f us/req%s" %
                  (mode, i + 1, r["req_s"], r["p50_ms"], r["p99_ms"], r["non_2xx"], r["server_cpu_us_per_req"],
                   ", 10,000-step runs meanwhile: %d" % r["chain_runs_meanwhile"] if bg else ""), flush=True)
    out["rss_after_kib"] = rss_kib(srv.proc.pid)
    srv.stop()
    for mode in ("idle", "busy"):
        out[mode + "_median"] = {k: statistics.median(r[k] for r in out[mode]) for k in ("req_s", "p50_ms", "p99_ms", "server_cpu_us_per_req")}
    return out


def bench_engine(a, tmp):
    home, token, run_id, lua = prepare(a, tmp, "engine")
    with open(lua, "a") as f:
        f.write("function delay()\n  return 19\nend\n")  # 20 connections x ~50 req/s each
    lattice = lattice_file(tmp)
    srv = Server(a.weft, home, tmp)
    url = "http://127.0.0.1:%d/api/v1/runs/%s" % (srv.port, run_id)
    out = {"idle": [], "loaded": [], "wrk": [], "cpu_idle": [], "cpu_loaded": []}
    mode = [None]

    def one_run():
        """steps/s of the wall time, and of the CPU time weft run used"""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        weft(a, home, "run", lattice)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
        out["cpu_" + mode[0]].append(10000 / cpu)
        return 10000 / wall

    mode[0] = "idle"
    one_run()  # warm-up: the file and the binary in the page cache
    out["cpu_idle"].clear()
    for i in range(a.runs):
        mode[0] = "idle"
        out["idle"].append(one_run())
        mode[0] = "loaded"
        w = spawn(["wrk", "-t1", "-c20", "-d%ds" % a.duration, "--latency", "-s", lua, url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        out["loaded"].append(one_run())
        r = parse_wrk(w.communicate()[0])
        out["wrk"].append(r)
        print("engine %d: idle %.0f steps/s (CPU: %.0f), under %.0f req/s %.0f steps/s (CPU: %.0f)" %
              (i + 1, out["idle"][-1], out["cpu_idle"][-1], r["req_s"], out["loaded"][-1], out["cpu_loaded"][-1]),
              flush=True)
    srv.stop()
    idle, loaded = statistics.median(out["idle"]), statistics.median(out["loaded"])
    ci, cl = statistics.median(out["cpu_idle"]), statistics.median(out["cpu_loaded"])
    out["median"] = {"idle_steps_s": idle, "loaded_steps_s": loaded, "drop_pct": 100 * (1 - loaded / idle),
                     "cpu_idle_steps_s": ci, "cpu_loaded_steps_s": cl, "cpu_drop_pct": 100 * (1 - cl / ci),
                     "req_s": statistics.median(r["req_s"] for r in out["wrk"])}
    return out


def bench_runs(a, tmp):
    """runs/s of a one-step `set` workflow deployed and started through the
    API (POST /api/v1/workflows/NAME/runs, wrk), each completed"""
    home = os.path.join(tmp, "runs")
    os.makedirs(home)
    with open(os.path.join(home, "users.json"), "w") as f:
        json.dump({"users": {"bench": {"role": "operator"}}}, f)
    os.chmod(os.path.join(home, "users.json"), 0o600)
    token = weft(a, home, "token", "create", "bench").stdout.strip()
    srv = Server(a.weft, home, tmp)
    try:
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            body = b"name: one\nsteps:\n  a: {set: {v: 1}}\n"
            s.sendall(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                      + token.encode() + b"\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body)
            code = int(s.recv(64).split()[1])
        if code not in (200, 201):
            print("runs: deploying through the API answered %d: not measured (the route is not in this build)" % code)
            return {"skipped": "POST /api/v1/workflows answered %d" % code}
        lua = os.path.join(tmp, "runs.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.headers["Authorization"] = "Bearer %s"\n' % token)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(home, "weft.db"), uri=True, timeout=60)
        perf = spawn(["perf", "record", "-F", "299", "--call-graph", "dwarf,16384", "--all-user", "-p",
                      str(srv.proc.pid), "-o", a.perf], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL) if a.perf else None
        c0 = cpu_s(srv.proc.pid)
        t0 = time.perf_counter()
        w = subprocess.run(["wrk", "-t2", "-c%d" % a.connections, "-d%ds" % a.runs_duration, "--latency", "-s", lua,
                            "http://127.0.0.1:%d/api/v1/workflows/one/runs" % srv.port],
                           capture_output=True, text=True)
        t_wrk = time.perf_counter() - t0
        r = parse_wrk(w.stdout)
        while True:  # every run started is completed
            total, done = db.execute("SELECT count(*), count(*) FILTER (WHERE status IN "
                                     "('succeeded','failed','cancelled','timed_out')) FROM runs").fetchone()
            if done == total or time.perf_counter() - t0 > a.runs_duration + 600:
                break
            time.sleep(0.05)
        t_all = time.perf_counter() - t0
        server_cpu = cpu_s(srv.proc.pid) - c0
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        ok = db.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0]
        db.close()
        out = {"started": total, "succeeded": ok, "wrk_seconds": t_wrk, "all_done_seconds": t_all,
               "start_req_s": r["req_s"], "start_p50_ms": r["p50_ms"], "start_p99_ms": r["p99_ms"],
               "non_2xx": r["non_2xx"], "completed_runs_s": ok / t_all, "rss_after_kib": rss_kib(srv.proc.pid),
               "server_cpu_us_per_run": server_cpu * 1e6 / max(ok, 1), "load": loadavg()}
        print("runs: %d started in %.1f s (%.0f/s; start p50 %.2f ms, p99 %.2f ms; non-2xx %d), %d succeeded, "
              "all done after %.1f s: %.0f completed runs/s; server CPU %.0f us/run; load %s" %
              (total, t_wrk, r["req_s"], r["p50_ms"], r["p99_ms"], r["non_2xx"], ok, t_all, out["completed_runs_s"],
               out["server_cpu_us_per_run"], out["load"]),
              flush=True)
        return out
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16, help="wrk connections of the get figures")
    ap.add_argument("--runs-duration", type=int, default=30, help="seconds of starting runs (runs part)")
    ap.add_argument("--only", default="start,get,engine,runs")
    ap.add_argument("--perf", help="runs part: record the server with `perf record` into this file")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the finally below still cleans up
    a.weft = os.path.abspath(a.weft)
    if not shutil.which("wrk"):
        raise SystemExit("bench_server: wrk is needed (scripts/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="weft-bench-server-")
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_start": loadavg(),
           "cpus": os.cpu_count()}
    try:
        for part in a.only.split(","):
            res[part] = {"start": bench_start, "get": bench_get, "engine": bench_engine, "runs": bench_runs}[part](a, tmp)
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_end"] = loadavg()
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "server.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if not isinstance(v, dict)} |
                     {k: {kk: vv for kk, vv in v.items() if kk.endswith("median") or not isinstance(vv, list)}
                      for k, v in res.items() if isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
