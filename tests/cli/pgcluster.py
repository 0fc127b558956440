"""pgcluster.py — a throwaway PostgreSQL 15 cluster for the tests.

    cluster = pgcluster.shared()      # started once per test process
    url = cluster.new_database()      # a fresh, empty database: a --store URL

The cluster lives in a temp dir: `initdb` there, the server listening only
on a unix socket in that dir (listen_addresses=''), fsync settings left at
their defaults. It is stopped (immediate shutdown) and the dir removed when
the test process exits, normally or by an exception or SIGTERM; a small
watchdog process does the same if the test process is SIGKILLed (a ctest
timeout), so no server outlives its tests.

PostgreSQL refuses to run as root: as root, initdb and the server run as
the user `nobody` (runuser), which owns the temp dir; root still connects
through the socket. As any other user they run as that user.
Nothing is mocked: this is the real server binary of the postgresql-15
package (/usr/lib/postgresql/15/bin, or $WEFT_PG_BIN).
"""
import atexit
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

PG_BIN = os.environ.get("WEFT_PG_BIN") or "/usr/lib/postgresql/15/bin"


def available():
    return os.path.exists(os.path.join(PG_BIN, "initdb"))


class Cluster:
    def __init__(self):
        self.dir = None
        self.proc_user = None
        self.watchdog = None
        self._n = itertools.count(1)

    def _run(self, *args, check=True, timeout=120):
        cmd = list(args)
        if self.proc_user:
            cmd = ["runuser", "-u", self.proc_user, "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=check, cwd=self.dir)

    def start(self):
        if not available():
            raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing); "
                               "apt-get install postgresql-15 (scripts/setup.sh)")
        self.dir = tempfile.mkdtemp(prefix="weft-pg-")
        if os.geteuid() == 0:
            self.proc_user = "nobody"
            pw = pwd.getpwnam(self.proc_user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self._start_watchdog()
        try:
            self._run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "weft",
                      "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                      "--no-instructions")
            self.pg_ctl("start")
        except subprocess.CalledProcessError as e:
            log = ""
            if os.path.exists(self.log):
                with open(self.log) as f:
                    log = f.read()[-2000:]
            self.stop()
            raise RuntimeError(f"cannot start PostgreSQL: {e.cmd}: {e.stderr}\n{log}")
        return self

    def pg_ctl(self, action, *extra):
        """start / stop / restart the server (used by tests of a restart)"""
        opts = f"-c listen_addresses='' -k {self.dir} -c shared_buffers=16MB -c max_connections=200"
        args = [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                "-t", "60"]
        if action in ("start", "restart"):
            args += ["-o", opts]
        if action in ("stop", "restart"):
            args += ["-m", extra[0] if extra else "fast"]
        return self._run(*args, action)

    def _start_watchdog(self):
        # stops the server and removes the dir once this process is gone,
        # however it ends (SIGKILL included)
        pg_ctl = os.path.join(PG_BIN, "pg_ctl")
        as_user = f"runuser -u {self.proc_user} -- " if self.proc_user else ""
        script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
                  f"{as_user}{pg_ctl} -D '{self.dir}/data' -m immediate stop >/dev/null 2>&1; "
                  f"rm -rf '{self.dir}'")
        self.watchdog = subprocess.Popen(["sh", "-c", script], start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def url(self, db):
        return f"postgresql://weft@/{db}?host={self.dir}"

    def psql(self, db, sql, null="", fsep="|", rsep="\n"):
        """runs sql in database db; returns stdout (fields separated by fsep,
        rows by rsep, no headers; SQL NULL printed as null)"""
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                            "-P", "null=" + null, "-F", fsep, "-R", rsep,
                            "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                            "-U", "weft", "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr}")
        return r.stdout

    def new_database(self):
        name = f"t{os.getpid()}_{next(self._n)}"
        self.psql("postgres", f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self):
        if not self.dir:
            return
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self.pg_ctl("stop", "immediate")
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        if self.watchdog:
            self.watchdog.kill()
            self.watchdog.wait()
            self.watchdog = None


_shared = None


def _on_term(signum, frame):
    # not sys.exit: unittest would catch SystemExit as a test's error and go on
    if _shared is not None:
        _shared.stop()
    os._exit(128 + signum)


def shared():
    """the cluster of this test process, started on first use"""
    global _shared
    if _shared is None:
        _shared = Cluster().start()
        atexit.register(_shared.stop)
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_term)
    return _shared
