"""End-to-end: every workflow in examples/ runs and produces what it claims."""
from harness import WeftTest, main, ROOT
import os

EX = os.path.join(ROOT, "examples")


class Examples(WeftTest):
    def run_example(self, name, *args, code=0):
        r = self.weft("run", os.path.join(EX, name), "--json", *args)
        self.assertExit(r, code)
        return r.json()

    def test_hello(self):
        j = self.run_example("hello.yaml", "-i", "who=weft")
        self.assertEqual(j["outputs"]["summary"], "HELLO, WEFT (2 words)")

    def test_data_pipeline_fans_out_retries_and_joins(self):
        j = self.run_example("data-pipeline.yaml", "-i", "fail_rate=50")
        ex = j["steps"]["extract"]
        self.assertEqual(len(ex["instances"]), 3)
        # every region failed its first attempt and was retried
        self.assertTrue(all(i["attempts"] == 2 for i in ex["instances"]))
        self.assertEqual(j["outputs"]["per_region"], [20, 20, 40])
        self.assertEqual(j["outputs"]["total"], 80)

    def test_data_pipeline_without_failures(self):
        j = self.run_example("data-pipeline.yaml", "-i", 'regions=["eu"]')
        self.assertEqual(j["outputs"]["total"], 20)
        self.assertEqual(j["steps"]["extract"]["instances"][0]["attempts"], 1)

    def test_model_training_publishes_when_good_enough(self):
        j = self.run_example("model-training.yaml", "-i", "epochs=8")
        self.assertEqual(j["steps"]["publish"]["status"], "succeeded")
        self.assertTrue(j["outputs"]["published"])
        self.assertEqual(j["outputs"]["model"], "model-v8")
        self.assertEqual(j["steps"]["report"]["status"], "succeeded")
        ws = os.path.join(self.home, "workspaces", j["id"])
        with open(os.path.join(ws, "report.txt")) as f:
            self.assertIn("succeeded", f.read())

    def test_model_training_skips_publish_below_threshold(self):
        j = self.run_example("model-training.yaml", "-i", "epochs=1", "-i", "min_score=0.9")
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["steps"]["publish"]["status"], "skipped")
        self.assertFalse(j["outputs"]["published"])
        self.assertEqual(j["steps"]["report"]["status"], "succeeded")


if __name__ == "__main__":
    main()
