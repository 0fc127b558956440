#!/usr/bin/env python3
"""bench_pg.py — the same workflows on the SQLite store and on PostgreSQL
(the synchronous first step of the PostgreSQL backend, issue 16).

  python3 bench/bench_pg.py [--weft build/weft] [--runs 3]

Starts a throwaway PostgreSQL 15 cluster (tests/cli/pgcluster.py: unix socket,
default fsync settings) and, interleaved, runs with each store: a chain of
1,000 `set` steps, a fan-out of 2,000 `set` steps (one for_each), 200
`command: [true]` steps (fan-out), and a one-step `weft run` (wall of the
whole command: connect, schema check, run). Each run gets a fresh home and,
on PostgreSQL, a fresh database, created (schema) before the timed command. Medians of --runs; the load average at start
and end. Nothing is asserted; results on stdout and in bench/out/pg.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cli"))
import pgcluster  # noqa: E402

CHAIN = "name: chain\nsteps:\n" + "".join(
    f"  s{i}:\n    set: {{v: {i}}}\n" + (f"    needs: [s{i-1}]\n" if i else "") for i in range(1000))
FANOUT = "name: fan\nsteps:\n  s:\n    for_each: 2000\n    set: {v: \"${{ .item }}\"}\n"
PROGRAMS = "name: prog\nsteps:\n" + "".join(f"  p{i}: {{command: [\"true\"]}}\n" for i in range(200))
ONE = "name: one\nsteps:\n  a: {set: {v: 1}}\n"
CASES = [("chain of 1,000 set steps", CHAIN, 1000), ("for_each of 2,000 set steps", FANOUT, 2000),
         ("200 command: [true] steps", PROGRAMS, 200), ("one-step weft run", ONE, 1)]


def one(weft, text, store_url):
    tmp = tempfile.mkdtemp(prefix="weft-bench-pg-")
    path = os.path.join(tmp, "w.yaml")
    with open(path, "w") as f:
        f.write(text)
    env = dict(os.environ, WEFT_HOME=os.path.join(tmp, "home"))
    env.pop("WEFT_STORE", None)
    if store_url:
        env["WEFT_STORE"] = store_url
    # the store is created first (schema, untimed): the figures are of a store in use
    subprocess.run([weft, "runs"], env=env, capture_output=True, cwd=tmp, check=True)
    t0 = time.perf_counter()
    r = subprocess.run([weft, "run", path], env=env, capture_output=True, text=True, cwd=tmp)
    wall = time.perf_counter() - t0
    subprocess.run(["rm", "-rf", tmp])
    if r.returncode != 0:
        sys.exit(f"weft run failed ({'postgres' if store_url else 'sqlite'}): {r.stderr[-500:]}")
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    load0 = os.getloadavg()
    cluster = pgcluster.shared()
    out = {"load_start": load0, "cases": []}
    for name, text, steps in CASES:
        walls = {"sqlite": [], "postgres": []}
        for _ in range(a.runs):
            walls["sqlite"].append(one(a.weft, text, None))
            walls["postgres"].append(one(a.weft, text, cluster.new_database()))
        row = {"case": name, "steps": steps}
        for store, w in walls.items():
            m = statistics.median(w)
            row[store] = {"wall_s": round(m, 3), "steps_per_s": round(steps / m, 1)}
        out["cases"].append(row)
        print(f"{name:32} sqlite {row['sqlite']['wall_s']:7.3f} s ({row['sqlite']['steps_per_s']:8.1f}/s)"
              f"   postgres {row['postgres']['wall_s']:7.3f} s ({row['postgres']['steps_per_s']:8.1f}/s)",
              flush=True)
    out["load_end"] = os.getloadavg()
    print("load average: start %.1f, end %.1f" % (load0[0], out["load_end"][0]))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "pg.json"), "w") as f:
        json.dump(out, f, indent=2)
    cluster.stop()


if __name__ == "__main__":
    main()
