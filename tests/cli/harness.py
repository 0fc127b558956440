"""harness.py — shared helpers for the end-to-end tests of the real weft binary.

Each tests/cli/test_*.py is one ctest entry. WEFT_BIN names the binary and
WEFT_SOURCE_DIR the repository (ctest sets both). Every test gets its own
temporary home (WEFT_HOME) and working directory, so tests never share state.

WEFT_TEST_STORE=postgres runs the same tests on PostgreSQL: every test also
gets a fresh database of a throwaway cluster (tests/cli/pgcluster.py, one per
test process), named by WEFT_STORE in self.env, so every weft the test runs
uses it (the home folder still holds users.json, logs and workspaces).
self.pg is the cluster then (None on SQLite); a test that needs the SQLite
file itself skips with self.sqlite_only().
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

ROOT = os.environ.get("WEFT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("WEFT_BIN") or os.path.join(ROOT, "build", "weft")
STORE = os.environ.get("WEFT_TEST_STORE") or "sqlite"  # or "postgres"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<exit {self.code}\n--stdout--\n{self.out}\n--stderr--\n{self.err}>"


def os_user():
    """who weft acts as: the user of the effective uid (never $USER)"""
    return pwd.getpwuid(os.geteuid()).pw_name


class WeftTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="weft-test-")
        self.home = os.path.join(self.tmp, "home")
        self.env = dict(os.environ, WEFT_HOME=self.home, USER="tester")
        self.env.pop("WEFT_LLM_URL", None)
        for k in ("WEFT_SERVER", "WEFT_TOKEN"):  # commands act on the test's home, not a server
            self.env.pop(k, None)
        self.env.pop("WEFT_STORE", None)
        self.pg = None
        if STORE == "postgres":
            import pgcluster
            self.pg = pgcluster.shared()
            self.env["WEFT_STORE"] = self.pg.new_database()

    def sqlite_only(self, why="reads or damages the SQLite file itself"):
        if self.pg is not None:
            self.skipTest("SQLite store only: " + why)

    def query(self, sql):
        """rows of one SQL statement on this test's store, SQLite or
        PostgreSQL (the schemas have the same tables and columns; a write is
        committed: tests that damage the store on purpose)"""
        if self.pg is None:
            import sqlite3
            db = sqlite3.connect(os.path.join(self.home, "weft.db"))
            try:
                rows = db.execute(sql).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        db = self.env["WEFT_STORE"].split("/")[3].split("?")[0]
        if not sql.lstrip().upper().startswith("SELECT"):
            self.pg.psql(db, sql)
            return []
        # each row as JSON: the values keep their types (text, numbers, NULL)
        out = self.pg.psql(db, "SELECT row_to_json(q)::text FROM (%s) q" % sql, rsep="\x1e")
        return [tuple(json.loads(l, object_pairs_hook=lambda kv: [v for _, v in kv]))
                for l in out.rstrip("\n").split("\x1e") if l]

    def store_db(self):
        """a connection to this test's store with sqlite3's shape (execute
        with ? parameters, fetchone/fetchall, `with` commits), for tests
        that read or damage the store directly, on either store"""
        if self.pg is None:
            import sqlite3
            return sqlite3.connect(os.path.join(self.home, "weft.db"))
        return _PgConn(self)

    def has_store(self):
        """whether this test's store has been created (verify at the end)"""
        if self.pg is not None:  # a weft opened the database (it made the tables)
            return self.query("SELECT to_regclass('schema_version') IS NOT NULL") == [(True,)]
        return os.path.exists(os.path.join(self.home, "weft.db"))

    # a test that damages its store on purpose sets this to False
    verify_at_end = True

    def tearDown(self):
        # WEFT_TEST_VERIFY=1: every test's home must pass `weft audit verify`
        # at the end (the store and the log agree after whatever it did)
        check = (os.environ.get("WEFT_TEST_VERIFY") == "1" and self.verify_at_end
                 and self.has_store())
        r = self.weft("audit", "verify") if check else None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if r is not None and r.code != 0:
            self.fail("weft audit verify at the end of the test: " + repr(r))

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
        return path

    def weft(self, *args, timeout=120, env=None, stdin=None):
        proc = subprocess.run([BIN, *args], cwd=self.tmp, env=env or self.env,
                              stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        return Result(proc)

    def spawn(self, *args, env=None):
        return subprocess.Popen([BIN, *args], cwd=self.tmp, env=env or self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def write_users(self, users=None, allow_as=True, mode=0o600):
        """HOME/users.json; allow_as lets tests act as several people with --as"""
        os.makedirs(self.home, exist_ok=True)
        path = os.path.join(self.home, "users.json")
        doc = {"users": users or {}}
        if allow_as is not None:
            doc["allow_as"] = allow_as
        with open(path, "w") as f:
            json.dump(doc, f)
        os.chmod(path, mode)
        return path

    def assertExit(self, res, code):
        self.assertEqual(res.code, code, repr(res))

    def wait_for(self, pred, what, timeout=60):
        """Polls pred until it returns something true (returned), or fails."""
        end = time.time() + timeout
        while time.time() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def latest(self):
        """The newest run of this test's home (runs --json), or None."""
        r = self.weft("runs", "--json")
        runs = r.json() if r.code == 0 else []
        return runs[0] if runs else None


def _sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class _PgCursor:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


class _PgConn:
    """sqlite3.Connection's shape over psql (each statement commits)"""

    def __init__(self, test):
        self.test = test

    def execute(self, sql, params=()):
        parts = sql.split("?")
        if len(parts) - 1 != len(params):
            raise ValueError("parameter count does not match: " + sql)
        text = parts[0] + "".join(_sql_literal(v) + p for v, p in zip(params, parts[1:]))
        return _PgCursor(self.test.query(text))

    def commit(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    unittest.main(verbosity=2)
