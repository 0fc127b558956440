#!/usr/bin/env python3
"""bench_engine.py — the durable engine's figures (issue 3), measured against
GNU make in the same run.

  python3 bench/bench_engine.py [--weft build/weft] [--runs 5] [--quick]

Program steps: the same DAGs (chain, fan-out, layered lattice) of 1,000
`command: [true]` steps run by weft (durable: every transition committed) and
by `make -j2` (nothing durable). Ratio = weft wall / make wall, median of
--runs runs each, interleaved so both see the same machine.

In-engine steps: a 10,000-step layered DAG of `set` steps (steps/s), a chain of
10,000 `set` steps (microseconds per step), a for_each over 1,000,000 items of
a `set` step (peak RSS), `weft run` of a one-step workflow (wall), and
`weft resume` of a run with 10,000 finished and 100 interrupted steps (wall).

Nothing here is asserted: results go to stdout and bench/out/engine.json; the
numbers of record are in bench/README.md. Machines are noisy: run it on a quiet
machine and read medians.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def dag(shape, n):
    """edges as {i: [needs]} for n steps"""
    needs = {}
    if shape == "chain":
        for i in range(n):
            needs[i] = [i - 1] if i else []
    elif shape == "fanout":
        for i in range(n):
            needs[i] = []
    elif shape == "lattice":
        width = 20
        for i in range(n):
            layer, pos = divmod(i, width)
            if layer == 0:
                needs[i] = []
            else:
                prev = (layer - 1) * width
                needs[i] = sorted({prev + pos, prev + (pos + 1) % width})
    return needs


def workflow(name, needs, body, max_parallel=None):
    out = [f"name: {name}"]
    if max_parallel:
        out.append(f"max_parallel: {max_parallel}")
    out.append("steps:")
    for i, nd in needs.items():
        line = f"  s{i}: {{{body}"
        if nd:
            line += ", needs: [" + ", ".join(f"s{j}" for j in nd) + "]"
        out.append(line + "}")
    return "\n".join(out) + "\n"


def makefile(needs):
    names = " ".join(f"s{i}" for i in needs)
    out = [f"all: {names}"]
    for i, nd in needs.items():
        out.append(f"s{i}: " + " ".join(f"s{j}" for j in nd))
        out.append("\t@true")
    out.append(f".PHONY: all {names}")
    return "\n".join(out) + "\n"


def timed(cmd, env=None, cwd=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt


def peak_rss_kb(cmd, env):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    return int(r.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer runs, skip the 1M for_each")
    a = ap.parse_args()
    weft = os.path.abspath(a.weft)
    runs = 2 if a.quick else a.runs
    tmp = tempfile.mkdtemp(prefix="weft-bench-")
    env = dict(os.environ, WEFT_HOME=os.path.join(tmp, "home"))
    results = {"machine": {"nproc": os.cpu_count(), "uname": os.uname().release}}

    def home_reset():
        shutil.rmtree(env["WEFT_HOME"], ignore_errors=True)

    # ---- program steps vs make -j2
    prog = {}
    for shape in ["chain", "fanout", "lattice"]:
        needs = dag(shape, 1000)
        wf = os.path.join(tmp, f"{shape}.yaml")
        mk = os.path.join(tmp, f"Makefile.{shape}")
        write(wf, workflow(shape, needs, "command: [\"true\"]", max_parallel=2))
        write(mk, makefile(needs))
        tw, tm = [], []
        for _ in range(runs):
            home_reset()
            tw.append(timed([weft, "run", wf], env=env))
            tm.append(timed(["make", "-s", "-j2", "-f", mk], cwd=tmp))
        w, m = statistics.median(tw), statistics.median(tm)
        prog[shape] = {"weft_s": round(w, 3), "make_s": round(m, 3), "ratio": round(w / m, 2)}
        print(f"1000 command steps, {shape:8s}: weft {w:.2f} s  make -j2 {m:.2f} s  ratio {w/m:.2f}")
    results["program_steps"] = prog

    # ---- set steps
    needs = dag("lattice", 10000)
    wf = os.path.join(tmp, "set-lattice.yaml")
    write(wf, workflow("setlattice", needs, "set: {v: 1}"))
    t = statistics.median([(home_reset(), timed([weft, "run", wf], env=env))[1] for _ in range(runs)])
    results["set_lattice_10000"] = {"wall_s": round(t, 3), "steps_per_s": round(10000 / t)}
    print(f"10,000 set steps, layered DAG: {t:.2f} s = {10000 / t:,.0f} steps/s (whole process)")

    needs = dag("chain", 10000)
    wf = os.path.join(tmp, "set-chain.yaml")
    write(wf, workflow("setchain", needs, "set: {v: 1}"))
    one = os.path.join(tmp, "one-set.yaml")
    write(one, "name: oneset\nsteps:\n  s: {set: {v: 1}}\n")
    tc = statistics.median([(home_reset(), timed([weft, "run", wf], env=env))[1] for _ in range(runs)])
    t1 = statistics.median([(home_reset(), timed([weft, "run", one], env=env))[1] for _ in range(runs)])
    per = (tc - t1) / 9999 * 1e6
    results["set_chain_10000"] = {"wall_s": round(tc, 3), "us_per_step": round(per, 1)}
    print(f"10,000 set steps, chain: {tc:.2f} s; {per:.1f} us per step beyond a one-step run")

    # ---- one-step run
    onep = os.path.join(tmp, "one.yaml")
    write(onep, "name: one\nsteps:\n  a: {command: [\"true\"]}\n")
    home_reset()
    timed([weft, "run", onep], env=env)  # create the home once
    t = statistics.median([timed([weft, "run", onep], env=env) for _ in range(max(runs, 5))])
    results["one_step_run_ms"] = round(t * 1000, 1)
    print(f"weft run of a one-step workflow: {t * 1000:.1f} ms")

    # ---- for_each over 1,000,000 items
    if not a.quick:
        fe = os.path.join(tmp, "foreach.yaml")
        write(fe, "name: million\nsteps:\n  s: {for_each: 1000000, set: {i: \"${{ .index }}\"}}\n")
        home_reset()
        t0 = time.perf_counter()
        rss = peak_rss_kb([weft, "run", fe], env)
        dt = time.perf_counter() - t0
        results["for_each_1m"] = {"peak_rss_mb": round(rss / 1024, 1), "wall_s": round(dt, 2)}
        print(f"for_each over 1,000,000 set items: peak RSS {rss / 1024:.0f} MB, {dt:.1f} s")

    # ---- resume of 10,000 finished + 100 interrupted
    lines = ["name: resume", "max_parallel: 100", "steps:"]
    for i in range(10000):
        lines.append(f"  f{i}: {{set: {{v: {i}}}}}")
    for i in range(100):
        lines.append(f"  p{i}: {{needs: [f9999], run: '[ \"$WEFT_ATTEMPT\" != 1 ] || sleep 600'}}")
    rs = os.path.join(tmp, "resume.yaml")
    write(rs, "\n".join(lines) + "\n")
    home_reset()
    proc = subprocess.Popen([weft, "run", rs], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        out = subprocess.run([weft, "runs", "--json"], env=env, capture_output=True, text=True)
        if out.returncode == 0 and json.loads(out.stdout):
            rid = json.loads(out.stdout)[0]["id"]
            st = subprocess.run([weft, "status", rid, "--json"], env=env, capture_output=True,
                                text=True)
            steps = json.loads(st.stdout)["steps"]
            if sum(1 for k, v in steps.items() if k.startswith("p") and v["status"] == "running") == 100:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["pkill", "-f", "sleep 600"])
    t = timed([weft, "resume", rid], env=env)
    results["resume_10000_plus_100_s"] = round(t, 3)
    print(f"weft resume, 10,000 finished + 100 interrupted steps: {t:.2f} s")

    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "engine.json"), "w") as f:
        json.dump(results, f, indent=2)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
