#!/usr/bin/env python3
"""bench_scale.py — how weft's whole-process cost grows with the work, beside
make and ninja on the same DAG shapes (issue 18's scaling table).

  python3 bench/bench_scale.py [--weft build/weft] [--sizes 1000,10000,100000,1000000]
                               [--runs 3] [--shapes chain,layered,for_each]
                               [--before OLD_WEFT] [--no-peers] [--instructions]

For each size N and shape it writes one workflow file of N `set` steps
(chain: step i needs i-1; layered: 100 steps a layer, each needing two steps
of the layer before; for_each: one step over N items), and the same DAG as a
Makefile (empty recipes: nothing is spawned, as nothing is for a `set` step)
and a build.ninja (phony edges). Then, as whole processes from exec to exit:

  weft validate FILE           load + validate
  weft run FILE                load + validate + plan + execute, durable, in a new home
  make -n / make               dry run / real run (-j2, -f Makefile, target all)
  ninja -n / ninja             dry run / real run (-j2)

and records wall time (median of --runs), CPU time (user+sys, median),
steps/s (by wall time), peak RSS of the process (GNU time's %M: the largest
of the runs) and bytes per step, and with --instructions one more run under
callgrind for sizes up to --instr-max (the one figure that does not move with
the machine's load; ~50x slower). make and ninja get --peer-timeout seconds
a process. --merge rebuilds the tables from the scale.json of several runs
(e.g. one per shape). Nothing is asserted; the table goes to stdout,
bench/out/scale.json and bench/out/scale.md, and the numbers of record to
bench/README.md.
make's real runs keep no state and ninja's keep only its log: the comparison
shows how cost grows with work, not who is durable (weft commits every
transition before anything depends on it).
"""
import argparse
import json
import re
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def needs_of(shape, n):
    """yields (i, [needs]) for n steps"""
    width = 100
    for i in range(n):
        if shape == "chain":
            yield i, [i - 1] if i else []
        else:  # layered
            layer = i // width
            if layer == 0:
                yield i, []
            else:
                base = (layer - 1) * width
                j = i % width
                yield i, sorted({base + j, base + (j + 1) % width})


def write_weft(path, shape, n):
    with open(path, "w") as f:
        f.write(f"name: scale-{shape}\nsteps:\n")
        if shape == "for_each":
            f.write(f"  each:\n    for_each: \"${{{{ {n} }}}}\"\n    set: {{v: \"${{{{ .item }}}}\"}}\n")
            return
        for i, needs in needs_of(shape, n):
            f.write(f"  s{i}:\n")
            if needs:
                f.write("    needs: [" + ", ".join(f"s{k}" for k in needs) + "]\n")
            f.write(f"    set: {{v: {i}}}\n")


def write_make(path, shape, n):
    with open(path, "w") as f:
        f.write(".PHONY: all\nall:")
        f.write(f" s{n - 1}\n" if shape == "chain" else " " + " ".join(f"s{i}" for i in range(max(0, n - 100), n)) + "\n")
        for i, needs in needs_of(shape, n):
            f.write(f".PHONY: s{i}\ns{i}: " + " ".join(f"s{k}" for k in needs) + " ;\n")


def write_ninja(path, shape, n):
    with open(path, "w") as f:
        for i, needs in needs_of(shape, n):
            f.write(f"build s{i}: phony " + " ".join(f"s{k}" for k in needs) + "\n")
        last = [f"s{n - 1}"] if shape == "chain" else [f"s{i}" for i in range(max(0, n - 100), n)]
        f.write("build all: phony " + " ".join(last) + "\ndefault all\n")


def timed(argv, cwd, env=None, timeout=7200):
    """(wall seconds, cpu seconds, peak RSS bytes) of one whole process. The
    peak RSS comes from GNU time (Debian package time): a child forked from
    this Python would carry Python's own high-water mark across exec."""
    rssf = os.path.join(cwd, ".rss")
    t0 = time.perf_counter()
    # its own process group: a process over its time is stopped with its children
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S %R", "-o", rssf, *argv], cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    p.stderr = err
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{argv} exited {p.returncode}: {p.stderr.decode(errors='replace')[-500:]}")
    with open(rssf) as f:
        kb, user, sys_, minflt = f.read().split()[-4:]
    os.remove(rssf)
    timed.last = (float(user), float(sys_), int(minflt))  # the split, for the JSON
    return wall, float(user) + float(sys_), int(kb) * 1024


def instructions(argv, cwd, env, timeout=7200):
    """instructions of one run as callgrind counts them, or None without
    valgrind (this VM has no PMU for perf stat). Under valgrind the CPU has no
    SHA extensions, so the audit hash runs the portable rounds: the count
    overstates `weft run` by ~20,000 instructions a step against SHA-NI."""
    if not shutil.which("valgrind"):
        return None
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=timeout)
    m = re.search(rb"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m and p.returncode == 0 else None


def measure(label, argv, cwd, runs, n, fresh_home=False, count_instr=False, timeout=7200):
    try:
        return measure1(label, argv, cwd, runs, n, fresh_home, count_instr, timeout)
    except subprocess.TimeoutExpired:
        print(f"{label} {n}: over {timeout:.0f} s", file=sys.stderr, flush=True)
        return {"tool": label, "n": n, "wall_s": None, "cpu_s": None, "steps_per_s": None,
                "peak_rss_mb": None, "bytes_per_step": None, "instr_per_step": None,
                "error": f"over {timeout:.0f} s (stopped)"}
    except RuntimeError as e:
        print(f"{label} {n}: {str(e)[:300]}", file=sys.stderr, flush=True)
        return {"tool": label, "n": n, "wall_s": None, "cpu_s": None, "steps_per_s": None,
                "peak_rss_mb": None, "bytes_per_step": None, "instr_per_step": None,
                "error": str(e)[:200]}


def measure1(label, argv, cwd, runs, n, fresh_home=False, count_instr=False, timeout=7200):
    load = os.getloadavg()[0]
    walls, cpus, rss, split = [], [], [], []
    instr = None
    for i in range(runs + (1 if count_instr else 0)):
        env = dict(os.environ)
        if fresh_home:
            home = tempfile.mkdtemp(prefix="weft-scale-home-", dir=cwd)
            env["WEFT_HOME"] = home
        if i == runs:
            instr = instructions(argv, cwd, env)
        else:
            w, c, r = timed(argv, cwd, env, timeout)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
            split.append(timed.last)
        if fresh_home:
            shutil.rmtree(home, ignore_errors=True)
    wall = statistics.median(walls)
    peak = max(rss)
    return {"tool": label, "n": n, "wall_s": round(wall, 4), "cpu_s": round(statistics.median(cpus), 3),
            "steps_per_s": round(n / wall) if wall else None,
            "peak_rss_mb": round(peak / 1e6, 1), "bytes_per_step": round(peak / n, 1),
            "instr_per_step": round(instr / n) if instr else None, "load": round(load, 1),
            "user_s": statistics.median(x[0] for x in split), "sys_s": statistics.median(x[1] for x in split),
            "minor_faults": max(x[2] for x in split)}


def write_out(rows, path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "scale.json"), "w") as f:
        json.dump({"load": os.getloadavg(), "rows": rows}, f, indent=1)
    with open(os.path.join(path, "scale.md"), "w") as f:
        f.write("| shape | steps | file MB | tool | wall s | CPU s | steps/s (wall) | steps/s (CPU) | peak RSS MB | bytes/step | instr/step | load |\n")
        f.write("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
        for r in rows:
            if r.get("error"):
                f.write(f"| {r['shape']} | {r['n']:,} | {r['file_mb']} | {r['tool']} | {r['error'][:60]} | | | | | | | |\n")
                continue
            cpu_rate = f"{round(r['n'] / r['cpu_s']):,}" if r['cpu_s'] else "-"
            f.write(f"| {r['shape']} | {r['n']:,} | {r['file_mb']} | {r['tool']} | {r['wall_s']:.3f} | {r['cpu_s']:.2f} | "
                    f"{r['steps_per_s'] or 0:,} | {cpu_rate} | {r['peak_rss_mb']} | {r['bytes_per_step']} | "
                    f"{'{:,}'.format(r['instr_per_step']) if r['instr_per_step'] else '-'} | {r.get('load', '-')} |\n")



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "weft"))
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--shapes", default="chain,layered,for_each")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--peer-timeout", type=float, default=300,
                    help="seconds one make/ninja process may take (a longer one is reported as such)")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="only rebuild scale.json/.md in --out from these earlier scale.json files")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"), help="where scale.json/.md go")
    ap.add_argument("--instructions", action="store_true", help="one more run of each weft row under callgrind")
    ap.add_argument("--instr-max", type=int, default=100000, help="largest size counted under callgrind")
    ap.add_argument("--before", metavar="WEFT",
                    help="an earlier weft binary: its rows (tool \"... (before)\") are measured "
                         "just before this one's, size by size, for a before/after table")
    a = ap.parse_args()
    if a.merge:
        rows = []
        for m in a.merge:
            with open(m) as f:
                rows += json.load(f)["rows"]
        write_out(rows, a.out)
        return 0
    weft = os.path.abspath(a.weft)
    rows = []
    work = tempfile.mkdtemp(prefix="weft-scale-")
    try:
        for shape in a.shapes.split(","):
            for n in [int(s) for s in a.sizes.split(",")]:
                d = os.path.join(work, f"{shape}-{n}")
                os.makedirs(d)
                wf = os.path.join(d, "wf.yaml")
                write_weft(wf, shape, n)
                runs = a.runs if n < 1000000 else max(1, a.runs // 2)
                row = {"shape": shape, "file_mb": round(os.path.getsize(wf) / 1e6, 2)}
                first = len(rows)
                bins = [(" (before)", os.path.abspath(a.before))] if a.before else []
                for tag, binary in bins + [("", weft)]:
                    if shape != "for_each":
                        rows.append({**row, **measure("weft validate" + tag, [binary, "validate", wf], d,
                                                      runs, n, count_instr=a.instructions and n <= a.instr_max)})
                    rows.append({**row, **measure("weft run" + tag, [binary, "run", wf], d, runs, n,
                                                  fresh_home=True,
                                                  count_instr=a.instructions and n <= a.instr_max)})
                if shape != "for_each" and not a.no_peers:
                    write_make(os.path.join(d, "Makefile"), shape, n)
                    write_ninja(os.path.join(d, "build.ninja"), shape, n)
                    # make recurses along a chain: a 100,000-deep one overflows its 8 MB stack
                    mk = ["bash", "-c", 'ulimit -s unlimited && exec make "$@"', "make"]
                    nj = ["bash", "-c", 'ulimit -s unlimited && exec ninja "$@"', "ninja"]  # the same
                    rows.append({**row, **measure("make -n", mk + ["-n", "-j2", "all"], d, runs, n,
                                                  timeout=a.peer_timeout)})
                    rows.append({**row, **measure("make", mk + ["-s", "-j2", "all"], d, runs, n,
                                                  timeout=a.peer_timeout)})
                    rows.append({**row, **measure("ninja -n", nj + ["-n", "-j2"], d, runs, n,
                                                  timeout=a.peer_timeout)})
                    rows.append({**row, **measure("ninja", nj + ["-j2"], d, runs, n,
                                                  timeout=a.peer_timeout)})
                    os.remove(os.path.join(d, ".ninja_log")) if os.path.exists(os.path.join(d, ".ninja_log")) else None
                for r in rows[first:]:
                    if r.get("error"):
                        print(f"{shape:9} {n:>8} {r['tool']:14} failed: {r['error']}", flush=True)
                        continue
                    print(f"{shape:9} {n:>8} {r['tool']:14} {r['wall_s']:>9.3f} s {r['cpu_s']:>8.3f} cpu "
                          f"{r['steps_per_s'] or 0:>10} steps/s {r['peak_rss_mb']:>8.1f} MB "
                          f"{r['bytes_per_step']:>8.1f} B/step {r['instr_per_step'] or '-':>8} instr/step", flush=True)
                shutil.rmtree(d, ignore_errors=True)
                write_out(rows, a.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
