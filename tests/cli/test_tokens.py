"""End-to-end: `weft token create|list|revoke` (API tokens in the local store)
and users.json roles. The token is printed once and only its SHA-256 is
stored; list never shows a token or a hash; revoke takes a prefix; only an
admin (users.json "role", else the owner of the home) acts on other users'
tokens; every change is audited without secrets and the log still verifies.
Expired and revoked tokens refused at authentication: tests/unit/test_tokens.c."""
from harness import WeftTest, main, os_user
import pgcluster
import glob
import hashlib
import json
import os
import re
import subprocess

TOKEN_RE = re.compile(r"^weft_[A-Za-z0-9_-]{43}$")


class Tokens(WeftTest):
    def create(self, *args):
        r = self.weft("token", "create", *args)
        self.assertExit(r, 0)
        return r

    def rows(self):
        return self.query('SELECT id, "user", name, hash, expires_at, revoked_at '
                          "FROM tokens ORDER BY created_at")  # either store

    def entries(self, prefix="token."):
        r = self.weft("audit", "export")
        self.assertExit(r, 0)
        return [json.loads(l) for l in r.out.splitlines()
                if json.loads(l)["kind"].startswith(prefix)]

    def test_create_prints_the_token_once_and_stores_only_its_hash(self):
        r = self.create("alice", "--name", "ci")
        lines = r.out.split("\n")
        self.assertEqual(len(lines), 2, r)          # one line and its newline
        self.assertEqual(lines[1], "")
        token = lines[0]
        self.assertRegex(token, TOKEN_RE)
        self.assertNotIn(token, r.err)
        (tid, user, name, h, exp, rev), = self.rows()
        self.assertEqual((user, name, exp, rev), ("alice", "ci", None, None))
        self.assertEqual(h, hashlib.sha256(token.encode()).hexdigest())
        self.assertRegex(tid, r"^tok_[a-z2-7]{12}$")
        # the raw database files (and the WAL, when there is one) never hold it
        files = glob.glob(os.path.join(self.home, "weft.db*"))
        if self.pg is None:
            self.assertIn(os.path.join(self.home, "weft.db"), files)
        else:  # WEFT_TEST_STORE=postgres: the whole database, as pg_dump writes it
            dump = os.path.join(self.tmp, "dump.sql")
            db = self.env["WEFT_STORE"].split("/")[3].split("?")[0]
            subprocess.run([os.path.join(pgcluster.PG_BIN, "pg_dump"), "-h", self.pg.dir,
                            "-U", "weft", "-d", db, "-f", dump], check=True, timeout=120)
            with open(dump) as f:
                self.assertIn(h, f.read())  # the dump holds the table
            files = [dump]
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(token.encode(), data, path)
            self.assertNotIn(token[5:].encode(), data, path)
        # nor does the audit log or the list
        self.assertNotIn(token, self.weft("audit", "export").out)
        self.assertNotIn(h, self.weft("audit", "export").out)

    def test_json_and_login_shapes(self):
        r = self.create("alice", "--json", "--expires", "30d")
        j = r.json()
        self.assertEqual(sorted(j), ["created_at", "expires_at", "id", "name", "token", "user"])
        self.assertRegex(j["token"], TOKEN_RE)
        self.assertEqual(j["user"], "alice")
        self.assertIsNone(j["name"])
        self.assertRegex(j["expires_at"], r"^\d{4}-\d\d-\d\dT")
        (_, _, _, h, exp, _), = self.rows()
        self.assertEqual(h, hashlib.sha256(j["token"].encode()).hexdigest())
        (ttl,), = self.query("SELECT expires_at - created_at FROM tokens")
        self.assertEqual(ttl, 30 * 86400 * 1000)

        r = self.create("bob", "--login")
        self.assertRegex(r.out.strip(), r"^http://127\.0\.0\.1:7700/login#token=weft_[A-Za-z0-9_-]{43}$")
        r = self.create("bob", "--login", "--server", "https://weft.example.com/")
        self.assertRegex(r.out.strip(), r"^https://weft\.example\.com/login#token=weft_")
        env = dict(self.env, WEFT_SERVER="http://h:9")
        r = self.weft("token", "create", "bob", "--login", env=env)
        self.assertExit(r, 0)
        self.assertTrue(r.out.startswith("http://h:9/login#token=weft_"), r)

    def test_bad_arguments_are_usage_errors(self):
        for args, what in [((), "say whose token"),
                           (("alice", "--expires", "soon"), "--expires needs a duration"),
                           (("alice", "--expires", "0s"), "--expires needs a duration"),
                           (("alice", "--json", "--login"), "give one"),
                           (("al ice",), "no spaces or control characters"),
                           (("x" * 129,), "1 to 128 characters"),
                           (("alice", "--name", "ci\x1b[2Jowned"), "no control characters"),
                           (("alice", "--name", "n" * 201), "at most 200")]:
            r = self.weft("token", "create", *args)
            self.assertExit(r, 2)
            self.assertTrue(r.err.startswith("weft: "), r)
            self.assertIn(what, r.err)
        self.assertExit(self.weft("token", "frobnicate"), 2)
        if self.has_store():
            self.assertEqual(self.rows(), [])

    def test_list_never_shows_token_or_hash_and_revoke_takes_a_prefix(self):
        t1 = self.create("alice", "--name", "one").out.strip()
        t2 = self.create("bob").out.strip()
        rows = self.rows()
        for args in (("token", "list"), ("token", "list", "--json")):
            r = self.weft(*args)
            self.assertExit(r, 0)
            for t in (t1, t2):
                self.assertNotIn(t, r.out)
                self.assertNotIn(t[5:], r.out)
            for row in rows:
                self.assertIn(row[0], r.out)
                self.assertNotIn(row[3], r.out)
        j = self.weft("token", "list", "--json").json()
        self.assertEqual([t["user"] for t in j], ["alice", "bob"])
        self.assertEqual(sorted(j[0]), ["created_at", "expires_at", "id", "last_used_at", "name",
                                        "revoked_at", "user"])
        self.assertIsNone(j[0]["revoked_at"])

        tid = rows[0][0]
        r = self.weft("token", "revoke", tid[:8].upper())  # a prefix, typed in any case
        self.assertExit(r, 0)
        self.assertIn(tid, r.out)
        j = self.weft("token", "list", "--json").json()
        self.assertIsNotNone(j[0]["revoked_at"])
        self.assertIsNone(j[1]["revoked_at"])
        r = self.weft("token", "revoke", tid)
        self.assertExit(r, 2)
        self.assertIn("revoked already", r.err)
        r = self.weft("token", "revoke", "tok_")        # both tokens match
        self.assertExit(r, 2)
        self.assertIn("several tokens", r.err)
        r = self.weft("token", "revoke", "tok_nosuch")
        self.assertExit(r, 4)
        self.assertIn("weft token list", r.err)

    def test_only_an_admin_acts_on_other_users_tokens(self):
        me = os_user()
        self.write_users({"op": {"role": "operator"}, "boss": {"role": "admin"},
                          "vi": {"role": "viewer"}})
        # the owner of the home is admin without a role in users.json
        self.create("alice")
        r = self.weft("--as", "op", "token", "create", "alice")
        self.assertExit(r, 2)
        self.assertIn("refused", r.err)
        self.assertIn("role operator", r.err)
        self.assertIn("only an admin", r.err)
        # anyone may have a token of their own
        r = self.weft("--as", "vi", "token", "create", "vi")
        self.assertExit(r, 0)
        r = self.weft("--as", "boss", "token", "create", "op")
        self.assertExit(r, 0)
        rows = self.rows()
        self.assertEqual([u for _, u, *_ in rows], ["alice", "vi", "op"])
        # non-admins list their own tokens only, and cannot revoke others'
        j = self.weft("--as", "vi", "token", "list", "--json").json()
        self.assertEqual([t["user"] for t in j], ["vi"])
        self.assertEqual(len(self.weft("token", "list", "--json").json()), 3)
        r = self.weft("--as", "vi", "token", "revoke", rows[0][0])
        self.assertExit(r, 2)
        self.assertIn("only an admin", r.err)
        self.assertIsNone(self.rows()[0][5])
        # a prefix matches only their own tokens ("tok_" matches all three)
        r = self.weft("--as", "vi", "token", "revoke", "tok_")
        self.assertExit(r, 0)
        self.assertIn(rows[1][0], r.out)
        self.assertExit(self.weft("--as", "boss", "token", "revoke", rows[2][0]), 0)
        # refusals wrote nothing
        es = self.entries()
        kinds = [(e["kind"], e["data"]["by"]) for e in es]
        self.assertEqual(kinds, [("token.created", me), ("token.created", "vi"),
                                 ("token.created", "boss"), ("token.revoked", "vi"),
                                 ("token.revoked", "boss")])
        # --as is recorded as asserted, with the real identity
        self.assertEqual([e["identity"] for e in es],
                         ["verified", "asserted", "asserted", "asserted", "asserted"])
        self.assertEqual(es[1]["data"]["asserted_by"], me)

    def test_the_home_owner_is_admin_even_when_listed_lower(self):
        # SERVER.md §4: locally the owner of the home acts as admin (it can
        # read and write the store anyway), whatever users.json says
        self.write_users({os_user(): {"role": "viewer"}}, allow_as=None)
        r = self.weft("token", "create", "alice")
        self.assertExit(r, 0)

    def test_unknown_role_in_users_json_is_an_error_naming_the_user(self):
        self.write_users({"alice": {"role": "superuser"}})
        r = self.weft("token", "list")
        self.assertExit(r, 2)
        self.assertIn('"alice"', r.err)
        self.assertIn("users.json", r.err)
        self.assertIn('"viewer", "operator" or "admin"', r.err)

    def test_unlisted_user_gets_a_viewer_note(self):
        self.write_users({"alice": {"role": "operator"}})
        r = self.create("bob")
        self.assertIn("bob is not in users.json", r.err)
        self.assertIn("viewer", r.err)
        r = self.create("alice")
        self.assertEqual(r.err, "")

    def test_changes_are_audited_without_secrets_and_the_log_verifies(self):
        j = self.create("alice", "--json", "--name", "deploy-bot").json()
        tid, token = j["id"], j["token"]
        h = hashlib.sha256(token.encode()).hexdigest()
        self.assertExit(self.weft("token", "revoke", tid), 0)
        es = self.entries()
        self.assertEqual([e["kind"] for e in es], ["token.created", "token.revoked"])
        for e in es:
            self.assertEqual(e["data"]["token"], tid)
            self.assertEqual(e["data"]["user"], "alice")
            self.assertEqual(e["data"]["by"], os_user())
            self.assertEqual(e["identity"], "verified")
            text = json.dumps(e)
            self.assertNotIn(token, text)
            self.assertNotIn(token[5:], text)
            self.assertNotIn(h, text)
        r = self.weft("audit", "verify")
        self.assertExit(r, 0)
        self.assertIn("intact", r.out)

    def test_help_lists_the_command(self):
        r = self.weft("help")
        self.assertIn("token", r.out)
        r = self.weft("token", "--help")
        self.assertExit(r, 0)
        self.assertIn("weft token create USER", r.out)


if __name__ == "__main__":
    main()
