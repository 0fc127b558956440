"""pg_run.py — runs a command beside a throwaway PostgreSQL 15 cluster:
    python3 tests/cli/pg_run.py PROGRAM [ARGS...]
starts the cluster (tests/cli/pgcluster.py), runs PROGRAM with
$WEFT_TEST_PG_ADMIN set to the URL of its admin database (store unit tests
then make a database per test: tests/unit/pg_testdb.h), stops and removes the
cluster, and exits with PROGRAM's status. ctest: unit_pg/*."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

if __name__ == "__main__":
    cluster = pgcluster.shared()
    env = dict(os.environ, WEFT_TEST_PG_ADMIN=cluster.url("postgres"))
    env.pop("WEFT_STORE", None)
    code = subprocess.call(sys.argv[1:], env=env)
    cluster.stop()
    sys.exit(code)
