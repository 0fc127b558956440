#!/usr/bin/env python3
"""check_layers.py — the include graph of src/ goes one way.

Every `#include "FOLDER/..."` in src/ (C files and headers) is an arrow from
the including file's folder to FOLDER. The folders sit in layers, highest
first (docs/internals/README.md, "Layers", shows the same table):

    main.c
    cli
    server
    ops
    runtime
    audit
    store
    exec
    engine
    spec
    expr  sched
    util

A folder may include its own files and folders of LOWER layers only. The
check fails on any arrow to the same or a higher layer (an arrow back), on a
folder the table does not know, and on any circle between folders (reported
as such, with the files that make it).

Usage: check_layers.py [SRC_DIR]     (default: src/ next to tests/)
       check_layers.py --self-test   (proves the check fails on an arrow
                                      back, on a circle and on an unknown
                                      folder, and passes on a clean tree;
                                      then passes on a copy of src/ and
                                      fails once engine/ includes runtime/)
Exit status 0 when the graph is one-way, 1 when not (each problem on stderr
as `weft-layers: FILE:LINE: ...`).
"""
import os
import re
import sys
import tempfile

# Highest layer first; folders on one line are one layer (they may not
# include each other).
LAYERS = [
    ["main.c"],
    ["cli"],
    ["server"],
    ["ops"],
    ["runtime"],
    ["audit"],
    ["store"],
    ["exec"],
    ["engine"],
    ["spec"],
    ["expr", "sched"],
    ["util"],
]

# Arrows allowed against the order, each with why and when it goes. Keep
# this empty; an entry is a debt.
#   (file relative to src, included path): reason
EXCEPTIONS = {}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def rank_table():
    rank = {}
    for i, layer in enumerate(LAYERS):
        for f in layer:
            rank[f] = i
    return rank


def folder_of(rel):
    """'cli/cmd_run.c' -> 'cli'; 'main.c' -> 'main.c'."""
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else rel


def scan(src):
    """Yields (rel_file, line_no, included_path)."""
    for root, _dirs, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            with open(path, encoding="utf-8", errors="replace") as f:
                for no, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m:
                        yield rel, no, m.group(1)


def find_cycles(edges):
    """edges: {a: {b: [(file, line, inc)]}}. Returns a list of cycles (lists
    of folders, first == last)."""
    cycles, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, {})):
            if state.get(m) == 1:
                cyc = stack[stack.index(m):] + [m]
                if not any(set(cyc) == set(c) for c in cycles):
                    cycles.append(cyc)
            elif state.get(m) is None:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if state.get(n) is None:
            visit(n)
    return cycles


def check(src, out=sys.stderr):
    rank = rank_table()
    problems = []
    edges = {}
    for rel, no, inc in scan(src):
        if "/" not in inc:
            continue  # a file of the same folder
        frm, to = folder_of(rel), inc.split("/")[0]
        if to == frm:
            continue
        where = "%s:%d" % (os.path.join(src, rel), no)
        if (rel, inc) in EXCEPTIONS:
            continue
        if frm not in rank:
            problems.append("%s: folder %s/ is not in the layer table of %s; add it there "
                            "and to docs/internals/README.md" % (where, frm, __file__))
            continue
        if to not in rank:
            problems.append("%s: #include \"%s\": folder %s/ is not in the layer table of %s"
                            % (where, inc, to, __file__))
            continue
        edges.setdefault(frm, {}).setdefault(to, []).append((rel, no, inc))
        if rank[to] <= rank[frm]:
            what = "the same layer as" if rank[to] == rank[frm] else "above"
            problems.append("%s: #include \"%s\": %s/ is %s %s/ (layers, highest first: %s); "
                            "move what is needed down, or pass it in from above"
                            % (where, inc, to, what, frm,
                               " > ".join("/".join(l) for l in LAYERS)))
    for cyc in find_cycles(edges):
        via = []
        for a, b in zip(cyc, cyc[1:]):
            rel, no, inc = edges[a][b][0]
            via.append("%s/%s:%d includes \"%s\"" % (src, rel, no, inc))
        problems.append("%s: the folders include each other in a circle: %s (%s)"
                        % (src, " -> ".join(cyc), "; ".join(via)))
    for p in problems:
        print("weft-layers: " + p, file=out)
    return 0 if not problems else 1


def self_test():
    import io
    import shutil

    made = []

    def tmpdir():
        d = tempfile.mkdtemp(prefix="weft-layers-")
        made.append(d)
        return d

    def tree(files):
        d = tmpdir()
        for rel, text in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        return d

    clean = {"ops/a.c": '#include "runtime/b.h"\n#include "ops/x.h"\n#include "x.h"\n',
             "runtime/b.h": '#include "engine/c.h"\n#include <stdio.h>\n',
             "engine/c.h": '#include "util/d.h"\n', "util/d.h": "\n"}
    cases = [
        ("clean tree", clean, 0, None),
        ("arrow back", dict(clean, **{"engine/e.c": '#include "runtime/b.h"\n'}), 1, "above"),
        ("same layer", dict(clean, **{"expr/e.c": '#include "sched/s.h"\n'}), 1, "same layer"),
        ("circle", dict(clean, **{"util/e.c": '#include "engine/c.h"\n'}), 1, "circle"),
        ("unknown folder", dict(clean, **{"zz/e.c": '#include "util/d.h"\n'}), 1, "not in the layer"),
    ]
    # the real tree passes, and fails once engine/ includes runtime/
    real = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "src"))
    if os.path.isdir(os.path.join(real, "engine")):
        copy = os.path.join(tmpdir(), "src")
        shutil.copytree(real, copy)
        cases.append(("src/ as it is", copy, 0, None))
        bad = os.path.join(tmpdir(), "src")
        shutil.copytree(real, bad)
        with open(os.path.join(bad, "engine", "zz_back.c"), "w") as f:
            f.write('#include "runtime/runtime.h"\n')
        cases.append(("src/ with engine/ including runtime/", bad, 1, "circle"))
    failed = 0
    for name, files, want, text in cases:
        buf = io.StringIO()
        got = check(files if isinstance(files, str) else tree(files), buf)
        ok = got == want and (text is None or text in buf.getvalue())
        print("%s: %s (exit %d, want %d)" % ("ok" if ok else "FAIL", name, got, want))
        if not ok:
            print(buf.getvalue())
            failed += 1
    for d in made:
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failed else 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    src = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
    src = os.path.normpath(src)
    rc = check(src)
    if rc == 0:
        print("weft-layers: %s: the include graph goes one way (%s)"
              % (src, " > ".join("/".join(l) for l in LAYERS)))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
