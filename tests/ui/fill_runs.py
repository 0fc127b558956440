#!/usr/bin/env python3
"""fill_runs.py HOME N — puts N ended runs of a workflow named "bulk" straight
into HOME/weft.db (which `weft runs` must have created), for the browser tests
and benchmarks of the runs page with a large store (100,000 runs). Only the
runs table is written: the runs list, its filters and its paging read nothing
else. Ids are ULIDs one millisecond apart, ending at now; every 7th run
failed, the others succeeded; trigger "api". Not for a store anyone uses:
these runs have no steps and no audit entries."""
import os
import random
import sqlite3
import sys
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms, rnd):
    t = "".join(CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    return t + "".join(rnd.choice(CROCKFORD) for _ in range(16))


def main():
    home, n = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(os.path.join(home, "weft.db"))
    rnd = random.Random(7)
    now = int(time.time() * 1000)
    rows = []
    for i in range(n):
        ms = now - (n - i)
        st = "failed" if i % 7 == 0 else "succeeded"
        rows.append((ulid(ms, rnd), "bulk", st, "api", "bulk", "{}", "{}", ms, ms, ms + 1))
    with db:
        db.executemany("INSERT INTO runs(id, workflow, status, trigger, started_by, inputs, outputs,"
                       " created_at, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    db.close()


if __name__ == "__main__":
    main()
