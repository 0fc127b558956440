"""test_metrics_format.py — the metrics text format, read by an independent
parser (Debian's python3-prometheus-client), including label values with
quotes, backslashes, newlines and UTF-8, histograms and process metrics."""
import os
import subprocess
import sys
import unittest

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("WEFT_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
PROBE = os.environ.get("WEFT_METRICS_PROBE") or os.path.join(ROOT, "build", "metrics_probe")


class MetricsFormat(unittest.TestCase):
    def test_prometheus_client_parses_every_family(self):
        text = subprocess.run([PROBE], capture_output=True, text=True, check=True).stdout
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        steps = {(s.labels["workflow"], s.labels["kind"], s.labels["status"]): s.value
                 for s in fams["weft_steps"].samples}
        self.assertEqual(steps[("etl", "run", "succeeded")], 42)
        self.assertEqual(steps[('a "quoted" \\ name\nwith newline', "http", "failed")], 2)
        self.assertEqual(steps[("ünïcode", "set", "skipped")], 0.5)
        self.assertEqual(fams["weft_steps"].documentation, "Steps that ended,\nby kind.")
        h = {(s.name, float(s.labels["le"]) if "le" in s.labels else None): s.value
             for s in fams["weft_step_duration_seconds"].samples}
        self.assertEqual(h[("weft_step_duration_seconds_count", None)], 100)
        self.assertEqual(h[("weft_step_duration_seconds_bucket", float("inf"))], 100)
        self.assertEqual(h[("weft_step_duration_seconds_bucket", 1.0)], 51)  # 0/50 .. 50/50
        self.assertAlmostEqual(h[("weft_step_duration_seconds_sum", None)], sum(i / 50 for i in range(100)))
        self.assertEqual(fams["weft_runs_active"].samples[0].value, 3)
        for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                     "process_start_time_seconds", "process_virtual_memory_bytes"):
            self.assertIn(name, fams)
        self.assertGreater(fams["process_resident_memory_bytes"].samples[0].value, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
