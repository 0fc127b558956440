"""End-to-end, without a browser: GET /api/v1/workflows/{name}?version=N
answers that version's own source, inputs and triggers (the web UI's version
diff reads two versions this way); no version is the newest; a version that
does not exist is 404 naming the versions there are; a version that is not a
number is 400; the OpenAPI document names the parameter."""
import json

from harness import WeftTest, main, os_user
from test_server import Server

V1 = "name: vv\ninputs:\n  a: {type: string, default: x}\nsteps:\n  s:\n    run: echo one\n"
V2 = "name: vv\ntriggers:\n  - schedule: \"0 3 * * *\"\nsteps:\n  s:\n    run: echo two\n"


class WorkflowVersionsTest(WeftTest):
    def setUp(self):
        super().setUp()
        self.write_users({"vic": {"role": "viewer"}, os_user(): {"role": "admin"}})
        self.assertExit(self.weft("deploy", self.write("v1.yaml", V1)), 0)
        self.assertExit(self.weft("deploy", self.write("v2.yaml", V2)), 0)
        r = self.weft("token", "create", "vic")
        self.assertExit(r, 0)
        self.auth = {"Authorization": "Bearer " + r.out.strip()}
        self.srv = Server(self, "--listen", "127.0.0.1:0")

    def get(self, path):
        code, body, _ = self.srv.get("/api/v1" + path, self.auth)
        return code, json.loads(body)

    def test_each_version_by_number(self):
        code, one = self.get("/workflows/vv?version=1")
        self.assertEqual(code, 200)
        self.assertEqual((one["version"], one["source"]), (1, V1))
        self.assertEqual([i["name"] for i in one["inputs"]], ["a"])
        self.assertEqual(one["triggers"], [])
        self.assertEqual([v["version"] for v in one["versions"]], [1, 2])
        code, newest = self.get("/workflows/vv")
        self.assertEqual((code, newest["version"], newest["source"]), (200, 2, V2))
        self.assertEqual(len(newest["next_fires"][0]), 5)
        code, two = self.get("/workflows/vv?version=2")
        self.assertEqual((code, two["source"]), (200, V2))

    def test_a_missing_or_malformed_version_is_said(self):
        code, body = self.get("/workflows/vv?version=3")
        self.assertEqual(code, 404)
        self.assertEqual(body["error"]["message"], "workflow vv has no version 3; its versions are 1 to 2")
        for bad in ("x", "0", "-1", "1.5", "", "99999999999"):
            code, body = self.get("/workflows/vv?version=" + bad)
            self.assertEqual(code, 400, bad)
            self.assertIn("version must be a version number", body["error"]["message"])
        code, doc, _ = self.srv.get("/api/v1/openapi.json")
        params = json.loads(doc)["paths"]["/api/v1/workflows/{name}"]["get"]["parameters"]
        self.assertIn("version", [p["name"] for p in params])


if __name__ == "__main__":
    main()
