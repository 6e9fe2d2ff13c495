"""The benchmark harness runs end to end at a tiny scale and writes a results file of the right shape.

Why no timing asserts: speed is measured by `make bench` on a quiet machine, not by a test on a
shared one; this only proves the harness (sandbox with stats, console on a pty with its probe,
the windows, the rollback keypress) still works against the console as it is.
"""

from __future__ import annotations

import json
import time

from bench import run as bench_run
from bench.run import TARGETS


def test_bench_harness_tiny_scale(tmp_path):
    out = tmp_path / "results.json"
    t0 = time.monotonic()
    results = bench_run.run(["--scale", "pods=40,nodes=4,deployments=20,rollouts=2,hpas=2", "--repeats", "1",
                             "--idle", "2", "--watch-rates", "10", "--watch-seconds", "2", "--churn-seconds", "2",
                             "--churn-rate", "10", "--keypress-repeats", "1", "--timeout", "60",
                             "--out", str(out), "--workdir", str(tmp_path / "work")])
    assert time.monotonic() - t0 < 120
    saved = json.loads(out.read_text())
    assert results["path"] == str(out)
    assert saved["schema"] == bench_run.SCHEMA
    assert {"nproc", "cpu", "ram_gib"} <= saved["machine"].keys()
    assert saved["command"].startswith("python -m bench.run")
    [scale] = saved["scales"]
    assert "error" not in scale, scale.get("error")
    assert scale["sandbox"]["objects"]["pods"] >= 40

    for screen in ("health", "rollouts"):
        cold = scale["cold_start"][screen]
        assert cold["failed"] == 0, cold["runs"]
        [run] = cold["runs"]
        assert run["seconds"] >= run["model_seconds"] >= run["synced"] > 0
        assert run["rows_ok"], run
    for window in (scale["idle"]["rollouts"], scale["idle"]["health"], scale["churn"]):
        assert {"cpu_percent", "rss_mb", "output_bytes_per_s", "requests_per_min"} <= window.keys(), window
        assert window["rss_mb"] > 0
        assert window["watches_open"] > 0  # the console watches; it does not poll
    watch = scale["watch_to_screen"]["10"]
    assert "error" not in watch, watch
    assert watch["seen"] > 0 and watch["p95_ms"] >= watch["p50_ms"] > 0
    keypress = scale["keypress"]
    assert "runs" in keypress or "error" in keypress
    for run in keypress.get("runs", []):
        assert "ms" in run or "error" in run
    assert set(saved["targets"]) == set(TARGETS)
    for target in saved["targets"].values():
        assert {"target", "limit", "value", "met"} <= target.keys()


def test_stats_classify_like_the_apiserver():
    from almtui.sandbox.stats import classify

    assert classify("GET", "/api/v1/pods", {"limit": "500"}) == ("list", "pods", "")
    assert classify("GET", "/api/v1/namespaces/a/pods", {"watch": "true"}) == ("watch", "pods", "")
    assert classify("GET", "/api/v1/namespaces/a/pods/p/log", {}) == ("get", "pods", "log")
    assert classify("GET", "/api/v1/namespaces/a", {}) == ("get", "namespaces", "")
    assert classify("PUT", "/api/v1/namespaces/a/finalize", {}) == ("update", "namespaces", "finalize")
    assert classify("PATCH", "/apis/apps/v1/namespaces/a/deployments/d", {"dryRun": "All"}) == \
        ("patch", "deployments.apps", "")
    assert classify("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {}) == \
        ("create", "selfsubjectaccessreviews.authorization.k8s.io", "")
    assert classify("DELETE", "/api/v1/namespaces/a/pods", {}) == ("deletecollection", "pods", "")
    assert classify("GET", "/apis", {}) == ("discovery", "", "")
    assert classify("GET", "/version", {}) == ("discovery", "", "")
