#!/usr/bin/env python3
"""bench_bigrun.py — big runs stay inspectable (hardening item 7).

  python3 bench/bench_bigrun.py [--weft build/weft] [--runs 5] [--items 1000000]
                                [--store-items 100000]

1. `weft run` of a for_each over --items `set` instances (default 1,000,000),
   then `weft status RUN --json` and `weft status RUN` (text), each --runs
   times under /usr/bin/time -v: median wall time and the largest peak RSS.
   Goal: < 200 ms and < 50 MB. CPU (user + system, 10 ms resolution) is
   recorded too: on a loaded machine wall time mostly measures waiting. Also the duration the run reports (it must not
   be "0ms": the engine settles all instances in one call).
2. Bytes on disk per finished `set` instance: a fresh home, `weft run` of a
   for_each over --store-items instances (default 100,000), then the WAL
   checkpointed (TRUNCATE) and (weft.db + weft.db-wal) / instances.
   Goal: <= 150 bytes.

Nothing is asserted: results go to stdout and bench/out/bigrun.json; the
numbers of record are in bench/README.md. Run weft builds side by side
(--weft A --weft B) to compare them on the same machine.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

FOREACH = """name: bigrun
steps:
  s:
    for_each: {n}
    set: {{v: "${{{{ .item }}}}"}}
"""


def timed(cmd, env):
    """(wall s, peak RSS KB, stdout, CPU s) of cmd under /usr/bin/time -v"""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)",
                                           p.stderr))
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, int(m.group(1)) if m else -1, p.stdout, cpu


def run_big(weft, tmp, n):
    home = os.path.join(tmp, "home")
    shutil.rmtree(home, ignore_errors=True)
    path = os.path.join(tmp, "big.yaml")
    with open(path, "w") as f:
        f.write(FOREACH.format(n=n))
    env = dict(os.environ, WEFT_HOME=home)
    wall, rss, out, _ = timed([weft, "run", path], env)
    rid = json.loads(subprocess.run([weft, "runs", "--json"], env=env, capture_output=True,
                                    text=True).stdout)[0]["id"]
    said = out.strip().splitlines()[-1] if out.strip() else ""
    return home, env, rid, {"run_wall_s": round(wall, 2), "run_peak_rss_mb": round(rss / 1024, 1),
                            "run_says": said}


def bench_status(weft, tmp, n, runs):
    home, env, rid, res = run_big(weft, tmp, n)
    for form, extra in (("json", ["--json"]), ("text", [])):
        walls, rsss, cpus = [], [], []
        for _ in range(runs):
            wall, rss, _, cpu = timed([weft, "status", rid, *extra], env)
            walls.append(wall)
            rsss.append(rss)
            cpus.append(cpu)
        res[f"status_{form}_wall_ms"] = round(statistics.median(walls) * 1000, 1)
        res[f"status_{form}_cpu_ms"] = round(statistics.median(cpus) * 1000, 1)
        res[f"status_{form}_peak_rss_mb"] = round(max(rsss) / 1024, 1)
    shutil.rmtree(home, ignore_errors=True)
    return res


def bench_store(weft, tmp, n):
    home, env, rid, res = run_big(weft, tmp, n)
    db = os.path.join(home, "weft.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = os.path.getsize(db)
    if os.path.exists(db + "-wal"):
        size += os.path.getsize(db + "-wal")
    shutil.rmtree(home, ignore_errors=True)
    return {"store_instances": n, "store_bytes": size,
            "bytes_per_instance": round(size / n, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", action="append")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--items", type=int, default=1000000)
    ap.add_argument("--store-items", type=int, default=100000)
    a = ap.parse_args()
    wefts = a.weft or [os.path.join(ROOT, "build", "weft")]
    out = {"load_start": os.getloadavg()[0], "results": {}}
    tmp = tempfile.mkdtemp(prefix="weft-bigrun-")
    try:
        for w in wefts:
            r = bench_store(w, tmp, a.store_items)
            print(w, json.dumps(r), flush=True)
            s = bench_status(w, tmp, a.items, a.runs)
            print(w, json.dumps(s), flush=True)
            out["results"][w] = {**r, **s}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_end"] = os.getloadavg()[0]
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "bigrun.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
