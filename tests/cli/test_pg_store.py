"""test_pg_store.py — the PostgreSQL store itself, on a real throwaway
PostgreSQL 15 cluster (tests/cli/pgcluster.py), whatever WEFT_TEST_STORE says:
--store and $WEFT_STORE, migrations (concurrent first opens under the
advisory lock, a newer schema refused), error messages, the audit chain, and
a run killed with SIGKILL resumed from the database.
The rest of the CLI suites run on PostgreSQL through WEFT_TEST_STORE=postgres
(ctest: cli_pg/*)."""
import json
import os
import signal
import subprocess
import time

import harness
import pgcluster
from harness import WeftTest, BIN


class PgStore(WeftTest):
    def setUp(self):
        super().setUp()
        if self.pg is None:
            self.pg = pgcluster.shared()
            self.env["WEFT_STORE"] = self.pg.new_database()
        self.url = self.env["WEFT_STORE"]
        self.db = self.url.split("/")[3].split("?")[0]

    def flow(self, name="w.yaml", text=None):
        return self.write(name, text or """
            name: t
            steps:
              a: {run: 'echo "x=1" >> "$WEFT_OUTPUT"'}
              b:
                needs: a
                env: {X: "${{ .steps.a.outputs.x }}"}
                run: 'echo "y=$X" >> "$WEFT_OUTPUT"'
            outputs: {y: "${{ .steps.b.outputs.y }}"}
            """)

    def test_store_flag_and_env_name_the_same_database(self):
        env = dict(self.env)
        env.pop("WEFT_STORE")
        r = self.weft("--store", self.url, "run", self.flow(), "--json", env=env)
        self.assertExit(r, 0)
        self.assertEqual(r.json()["outputs"], {"y": 1})
        # the same run through $WEFT_STORE, and nothing in the home's SQLite file
        r2 = self.weft("status", r.json()["id"], "--json")
        self.assertExit(r2, 0)
        self.assertEqual(r2.json()["status"], "succeeded")
        self.assertFalse(os.path.exists(os.path.join(self.home, "weft.db")))
        # without a store URL the home's (empty) SQLite store is used
        self.assertEqual(self.weft("runs", "--json", env=env).json(), [])
        rows = self.query("SELECT status FROM runs")
        self.assertEqual(rows, [("succeeded",)])

    def test_a_url_that_is_not_postgres_is_refused(self):
        r = self.weft("--store", "sqlite:///tmp/x.db", "runs")
        self.assertExit(r, 2)
        self.assertIn("not a postgres:// or postgresql:// URL", r.err)
        self.assertTrue(r.err.startswith("weft: "), r.err)

    def test_an_unreachable_server_is_a_clear_error(self):
        bad = "postgresql://weft@/nothere?host=" + self.tmp  # no server on this socket
        r = self.weft("--store", bad, "runs")
        self.assertExit(r, 2)
        self.assertIn("cannot connect to PostgreSQL", r.err)
        self.assertIn("--store / $WEFT_STORE", r.err)
        self.assertEqual(r.err.count("\n"), 1, r.err)  # one line

    def test_the_password_of_the_url_is_never_printed(self):
        bad = "postgresql://weft:s3cr3tpw@/nothere?host=" + self.tmp
        r = self.weft("--store", bad, "runs")
        self.assertExit(r, 2)
        self.assertNotIn("s3cr3tpw", r.err + r.out)

    def test_migrations_create_the_schema_once_with_concurrent_first_opens(self):
        url = self.pg.new_database()
        env = dict(self.env, WEFT_STORE=url)
        procs = [subprocess.Popen([BIN, "runs", "--json"], cwd=self.tmp, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(json.loads(out), [])
        db = url.split("/")[3].split("?")[0]
        # the same version as one open of a fresh database reaches alone
        self.assertExit(self.weft("runs"), 0)
        self.assertEqual(self.pg.psql(db, "SELECT version FROM schema_version").strip(),
                         self.pg.psql(self.db, "SELECT version FROM schema_version").strip())
        self.assertEqual(self.pg.psql(db, "SELECT count(*) FROM schema_version").strip(), "1")

    def test_a_newer_schema_is_refused_by_an_older_binary(self):
        self.assertExit(self.weft("run", self.flow()), 0)
        ver = int(self.pg.psql(self.db, "SELECT version FROM schema_version").strip())
        self.assertGreaterEqual(ver, 1)
        self.pg.psql(self.db, "UPDATE schema_version SET version = version + 1")
        r = self.weft("runs")
        self.assertExit(r, 2)
        self.assertIn("newer than this weft", r.err)
        self.assertIn("use a newer weft", r.err)
        # nothing was changed by the refused open
        self.assertEqual(self.pg.psql(self.db, "SELECT version FROM schema_version").strip(),
                         str(ver + 1))
        self.pg.psql(self.db, "UPDATE schema_version SET version = version - 1")
        self.assertExit(self.weft("runs"), 0)

    def test_a_role_without_create_uses_a_database_at_its_version(self):
        """the schema check of every open only reads when the database is at
        this binary's version: a role that may not create tables works"""
        self.assertExit(self.weft("run", self.flow()), 0)
        role = "r" + self.db
        self.pg.psql(self.db, f"CREATE ROLE {role} LOGIN; "
                              f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
                              f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; "
                              f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        url = self.url.replace("postgresql://weft@", f"postgresql://{role}@")
        env = dict(self.env, WEFT_STORE=url)
        r = self.weft("run", self.flow(), "--json", env=env)
        self.assertExit(r, 0)
        self.assertEqual(len(self.weft("runs", "--json", env=env).json()), 2)
        # and it cannot create anything: a fresh database is refused with the reason
        self.pg.psql(self.db, "UPDATE schema_version SET version = 0")
        r = self.weft("runs", env=env)
        self.assertExit(r, 2)
        self.assertIn("permission denied", r.err)
        self.pg.psql(self.db, "UPDATE schema_version SET version = 1")

    def test_audit_chain_verifies_and_a_changed_row_is_found(self):
        self.assertExit(self.weft("run", self.flow()), 0)
        r = self.weft("audit", "verify")
        self.assertExit(r, 0)
        self.assertIn("audit log intact", r.out)
        kinds = [json.loads(l)["kind"] for l in self.weft("audit", "export").out.splitlines()]
        self.assertEqual(kinds[:3], ["definition", "run.created", "run.status"])
        self.pg.psql(self.db, "UPDATE audit SET data = replace(data, 'succeeded', 'failed') "
                              "WHERE kind = 'run.status' AND data LIKE '%succeeded%'")
        self.verify_at_end = False
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)

    def test_the_chain_has_the_same_entries_as_on_sqlite(self):
        """the same workflow on both stores: the same entry kinds in the same
        order, and each chain verifies (canonicalisation is the audit/ module's)"""
        p = self.flow()
        self.assertExit(self.weft("run", p), 0)
        env = dict(self.env)
        env.pop("WEFT_STORE")
        env["WEFT_HOME"] = os.path.join(self.tmp, "sqlite-home")
        self.assertExit(self.weft("run", p, env=env), 0)
        def shape(e):
            out = []
            for l in self.weft("audit", "export", env=e).out.splitlines():
                j = json.loads(l)
                out.append((j["kind"], sorted((j.get("data") or {}).keys())
                            if isinstance(j.get("data"), dict) else None))
            return out
        self.assertEqual(shape(self.env), shape(env))
        self.assertExit(self.weft("audit", "verify", env=env), 0)

    def test_a_restarted_postgres_is_reconnected_by_a_running_server(self):
        """weft server keeps its connections: after PostgreSQL restarts
        (every connection dropped), the next request reconnects (between
        transactions a lost connection is reset once and the statement
        retried) instead of failing until weft is restarted"""
        from test_server import Server
        self.write_users({"alice": {"role": "admin"}})
        r = self.weft("token", "create", "alice")
        self.assertExit(r, 0)
        auth = {"Authorization": "Bearer " + r.out.strip()}
        srv = Server(self, "--listen", "127.0.0.1:0")
        code, body, _ = srv.get("/api/v1/runs", auth)
        self.assertEqual(code, 200, body)
        self.pg.pg_ctl("restart", "fast")
        code, body, _ = srv.get("/api/v1/runs", auth)
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["runs"] if "runs" in json.loads(body) else
                         json.loads(body)["items"], [])
        self.assertEqual(srv.stop(), 0)


    def test_a_postgres_restart_mid_run_is_survived(self):
        """PostgreSQL restarts while a step runs: the engine's connection
        is idle then (between transactions), so its next transaction
        reconnects and the run finishes; no step runs twice"""
        marks = os.path.join(self.tmp, "marks")
        go = os.path.join(self.tmp, "go")
        p = self.write("r.yaml", f"""
            name: r
            steps:
              a: {{run: 'echo a >> {marks}; while [ ! -e {go} ]; do sleep 0.05; done'}}
              b: {{needs: a, run: 'echo b >> {marks}'}}
            """)
        proc = self.spawn("run", p, "--json")
        self.wait_for(lambda: os.path.exists(marks), "step a to start")
        self.pg.pg_ctl("restart", "fast")
        open(go, "w").close()
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out)["status"], "succeeded")
        with open(marks) as f:
            self.assertEqual(f.read(), "a\nb\n")
        self.assertExit(self.weft("audit", "verify"), 0)


if __name__ == "__main__":
    harness.main()
