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

Besides wall time every figure records the CPU time (user + system) of the
measured process, the execute phase that `weft run` reports with WEFT_TIMING=1
(the time after the workflow file is loaded), and the load average at the
start and end: on a loaded machine wall time mostly measures waiting (fsync
latency and the run queue), CPU time what weft itself costs. With strace
installed, the fdatasync/fsync and write counts of a one-step run and of the
1,000-step fan-out are recorded too.

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


LAST = {}  # cpu_s and execute_s of the last timed() call


def timed(cmd, env=None, cwd=None):
    """wall seconds of cmd; its CPU time and WEFT_TIMING execute phase go to LAST"""
    if env is not None:
        env = dict(env, WEFT_TIMING="1")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    LAST["cpu_s"] = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    ex = [l for l in r.stderr.splitlines() if l.startswith("timing: execute")]
    LAST["execute_s"] = float(ex[-1].split()[2]) / 1000 if ex else None
    return dt


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def syscalls(cmd, env):
    """{syscall: calls} of cmd and its children (strace -c -f), or None"""
    if not shutil.which("strace"):
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as f:
        r = subprocess.run(["strace", "-f", "-c", "-o", f.name, *cmd], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return None
        out = {}
        for line in f.read().splitlines():
            p = line.split()
            if len(p) >= 5 and p[0][0].isdigit() and p[-1] in (
                    "fdatasync", "fsync", "write", "pwrite64", "clone3", "vfork", "clone"):
                out[p[-1]] = int(p[3])
        return out


def peak_rss_kb(cmd, env):
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    return int(r.stderr.strip().splitlines()[-1])


def fsync_ms(folder, n=50):
    """median latency of a 4 KiB append + fdatasync in folder (what one commit waits for)"""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    lat = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return round(statistics.median(lat), 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer runs, skip the 1M for_each")
    ap.add_argument("--only", default="program,set,one,foreach,resume",
                    help="comma-separated parts to run (default: all)")
    a = ap.parse_args()
    weft = os.path.abspath(a.weft)
    runs = 2 if a.quick else a.runs
    only = set(a.only.split(","))
    tmp = tempfile.mkdtemp(prefix="weft-bench-")
    env = dict(os.environ, WEFT_HOME=os.path.join(tmp, "home"))
    results = {"machine": {"nproc": os.cpu_count(), "uname": os.uname().release,
                           "loadavg_start": os.getloadavg(),
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}}
    print(f"load average at start: {os.getloadavg()}")
    results["machine"]["fdatasync_ms_start"] = fsync_ms(tmp)
    print(f"fdatasync of 4 KiB (median of 50): {results['machine']['fdatasync_ms_start']} ms")

    def home_reset():
        shutil.rmtree(env["WEFT_HOME"], ignore_errors=True)

    # ---- program steps vs make -j2
    prog = {}
    for shape in ["chain", "fanout", "lattice"] if "program" in only else []:
        needs = dag(shape, 1000)
        wf = os.path.join(tmp, f"{shape}.yaml")
        mk = os.path.join(tmp, f"Makefile.{shape}")
        write(wf, workflow(shape, needs, "command: [\"true\"]", max_parallel=2))
        write(mk, makefile(needs))
        tw, tm, cw, cm = [], [], [], []
        for _ in range(runs):
            home_reset()
            tw.append(timed([weft, "run", wf], env=env))
            cw.append(LAST["cpu_s"])
            tm.append(timed(["make", "-s", "-j2", "-f", mk], cwd=tmp))
            cm.append(LAST["cpu_s"])
        w, m = statistics.median(tw), statistics.median(tm)
        prog[shape] = {"weft_s": round(w, 3), "make_s": round(m, 3), "ratio": round(w / m, 2),
                       "weft_cpu_s": round(med(cw), 3), "make_cpu_s": round(med(cm), 3),
                       "cpu_ratio": round(med(cw) / med(cm), 2)}
        print(f"1000 command steps, {shape:8s}: weft {w:.2f} s  make -j2 {m:.2f} s  ratio {w/m:.2f}"
              f"  (CPU incl. children: weft {med(cw):.2f} s, make {med(cm):.2f} s)")
        if shape == "fanout":
            home_reset()
            prog[shape]["weft_syscalls"] = syscalls([weft, "run", wf], env)
            print(f"  weft syscalls: {prog[shape]['weft_syscalls']}")
    results["program_steps"] = prog

    def validate_cpu(wf):
        """CPU of `weft validate wf`: the load part of a run, to subtract"""
        cv = []
        for _ in range(runs):
            timed([weft, "validate", wf], env=env)
            cv.append(LAST["cpu_s"])
        return med(cv)

    # ---- set steps
    if "set" in only:
        set_steps(runs, weft, env, tmp, home_reset, results, validate_cpu)

    # ---- one-step run
    if "one" in only:
        one_step(runs, weft, env, tmp, home_reset, results)

    # ---- for_each over 1,000,000 items
    if "foreach" in only and not a.quick:
        for_each(weft, env, tmp, home_reset, results)

    # ---- resume of 10,000 finished + 100 interrupted
    if "resume" in only:
        resume(weft, env, tmp, home_reset, results)

    results["machine"]["loadavg_end"] = os.getloadavg()
    results["machine"]["fdatasync_ms_end"] = fsync_ms(tmp)
    print(f"fdatasync of 4 KiB (median of 50): {results['machine']['fdatasync_ms_end']} ms")
    print(f"load average at end: {os.getloadavg()}")
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "engine.json"), "w") as f:
        json.dump(results, f, indent=2)
    shutil.rmtree(tmp, ignore_errors=True)


def set_steps(runs, weft, env, tmp, home_reset, results, validate_cpu):
    needs = dag("lattice", 10000)
    wf = os.path.join(tmp, "set-lattice.yaml")
    write(wf, workflow("setlattice", needs, "set: {v: 1}"))
    ws, cs, es = [], [], []
    for _ in range(runs):
        home_reset()
        ws.append(timed([weft, "run", wf], env=env))
        cs.append(LAST["cpu_s"])
        es.append(LAST["execute_s"])
    t, c, e = med(ws), med(cs), med(es)
    vc = validate_cpu(wf)
    xc = max(c - vc, 1e-6)
    results["set_lattice_10000"] = {"wall_s": round(t, 3), "steps_per_s": round(10000 / t),
                                    "cpu_s": round(c, 3), "execute_s": e,
                                    "execute_steps_per_s": round(10000 / e) if e else None,
                                    "validate_cpu_s": round(vc, 3),
                                    "execute_cpu_steps_per_s": round(10000 / xc)}
    print(f"10,000 set steps, layered DAG: {t:.2f} s = {10000 / t:,.0f} steps/s (whole process,"
          f" CPU {c:.2f} s); execute phase {e:.3f} s = {10000 / e:,.0f} steps/s; CPU beyond"
          f" `weft validate` ({vc:.2f} s): {xc:.3f} s = {10000 / xc:,.0f} steps/s" if e else "")

    needs = dag("chain", 10000)
    wf = os.path.join(tmp, "set-chain.yaml")
    write(wf, workflow("setchain", needs, "set: {v: 1}"))
    one = os.path.join(tmp, "one-set.yaml")
    write(one, "name: oneset\nsteps:\n  s: {set: {v: 1}}\n")
    ws, es, cs = [], [], []
    for _ in range(runs):
        home_reset()
        ws.append(timed([weft, "run", wf], env=env))
        es.append(LAST["execute_s"])
        cs.append(LAST["cpu_s"])
    w1, e1 = [], []
    for _ in range(runs):
        home_reset()
        w1.append(timed([weft, "run", one], env=env))
        e1.append(LAST["execute_s"])
    tc, t1 = med(ws), med(w1)
    per = (tc - t1) / 9999 * 1e6
    ec, eo = med(es), med(e1)
    eper = (ec - eo) / 9999 * 1e6 if ec and eo else None
    results["set_chain_10000"] = {"wall_s": round(tc, 3), "us_per_step": round(per, 1),
                                  "cpu_s": round(med(cs), 3), "execute_s": ec,
                                  "execute_us_per_step": round(eper, 1) if eper else None}
    vc = validate_cpu(wf)
    xper = (med(cs) - vc) / 10000 * 1e6
    results["set_chain_10000"]["validate_cpu_s"] = round(vc, 3)
    results["set_chain_10000"]["execute_cpu_us_per_step"] = round(xper, 1)
    print(f"10,000 set steps, chain: {tc:.2f} s (CPU {med(cs):.2f} s); {per:.1f} us per step beyond"
          f" a one-step run; execute phase {ec:.3f} s = {eper:.1f} us per step; CPU beyond"
          f" `weft validate` ({vc:.2f} s): {xper:.1f} us per step" if eper else "")


def one_step(runs, weft, env, tmp, home_reset, results):
    onep = os.path.join(tmp, "one.yaml")
    write(onep, "name: one\nsteps:\n  a: {command: [\"true\"]}\n")
    home_reset()
    timed([weft, "run", onep], env=env)  # create the home once
    ws, cs = [], []
    for _ in range(max(runs, 5)):
        ws.append(timed([weft, "run", onep], env=env))
        cs.append(LAST["cpu_s"])
    t, c = med(ws), med(cs)
    tt = med([timed(["true"], env=env) for _ in range(5)])
    results["one_step_run_ms"] = round(t * 1000, 1)
    results["one_step_run_cpu_ms"] = round(c * 1000, 1)
    results["true_ms"] = round(tt * 1000, 1)
    results["one_step_syscalls"] = syscalls([weft, "run", onep], env)
    print(f"weft run of a one-step workflow: {t * 1000:.1f} ms (CPU {c * 1000:.1f} ms; a bare"
          f" `true` takes {tt * 1000:.1f} ms here); syscalls {results['one_step_syscalls']}")


def for_each(weft, env, tmp, home_reset, results):
    fe = os.path.join(tmp, "foreach.yaml")
    write(fe, "name: million\nsteps:\n  s: {for_each: 1000000, set: {i: \"${{ .index }}\"}}\n")
    home_reset()
    t0 = time.perf_counter()
    rss = peak_rss_kb([weft, "run", fe], env)
    dt = time.perf_counter() - t0
    n_rows = subprocess.run(["sqlite3", os.path.join(env["WEFT_HOME"], "weft.db"),
                             "select count(*) from steps"], capture_output=True, text=True)
    results["for_each_1m"] = {"peak_rss_mb": round(rss / 1024, 1), "wall_s": round(dt, 2),
                              "step_rows": n_rows.stdout.strip() or None}
    print(f"for_each over 1,000,000 set items: peak RSS {rss / 1024:.0f} MB, {dt:.1f} s")


def resume(weft, env, tmp, home_reset, results):
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
    # the `sleep 600` attempts are left running: killing them is resume's job
    t = timed([weft, "resume", rid], env=env)
    results["resume_10000_plus_100_s"] = round(t, 3)
    results["resume_cpu_s"] = round(LAST["cpu_s"], 3)
    print(f"weft resume, 10,000 finished + 100 interrupted steps: {t:.2f} s (CPU {LAST['cpu_s']:.2f} s,"
          f" incl. the 100 re-attempts)")



if __name__ == "__main__":
    main()
