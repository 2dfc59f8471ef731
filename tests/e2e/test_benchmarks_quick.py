"""The benchmark suite runs end to end (`benchmarks/run.py --quick`).

Checks that results.json and results.md are complete and that every number is
finite and positive. It asserts NO timing: quick mode uses tiny sizes, and
timing targets are reported by the full run as met / not met.
"""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.support import ci
from tests.support.tb_server import REPO
TARGET_KEYS = [
    "vs_keras_tb", "vs_epoch", "probes_32_vs_8", "vs_floor", "disk_8",
    "flow_route_p95", "browser_step_p95", "memory_growth", "tb_start",
]
PHASES = ["forward_backward", "kernels", "statistics", "rendering", "encoding", "writing", "total"]
ROUTES = ["activations_cold", "activations_warm", "activations_layer_filter", "kernels", "runs", "run",
          "epochs", "epoch", "probe", "reference_builtin_scalars_tags"]


def _browser_available():
    """Whether the browser item (5) was measured; under CI=true it must have been."""
    available = ci.chromium() is not None
    assert available or not ci.IN_CI, "Chromium / playwright missing under CI=true: benchmark item 5 must run in CI"
    return available


def _positive(value, what):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{what}: {value!r}"
    assert math.isfinite(value) and value > 0, f"{what} must be finite and > 0, got {value!r}"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench"))
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "run.py"), "--quick", "--out", out],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    with open(os.path.join(out, "results.md")) as f:
        md = f.read()
    return results, md, out


def test_header(quick):
    results, md, _ = quick
    m = results["machine"]
    assert results["quick"] is True
    assert m["date_utc"] and m["cpu"] and m["cores"] >= 1
    for dist in ("keras", "tensorboard", "numpy"):
        assert m["versions"].get(dist), dist
    assert m["versions"].get("tensorflow-cpu") or m["versions"].get("tensorflow")
    for word in ("Date:", "Machine:", "Versions:", "tensorflow", "keras", "tensorboard", "numpy"):
        assert word in md


def test_every_target_in_json_and_table(quick):
    results, md, _ = quick
    rows = {t["key"]: t for t in results["targets"]}
    assert sorted(rows) == sorted(TARGET_KEYS)
    for key, t in rows.items():
        if key == "browser_step_p95" and not _browser_available():
            continue
        _positive(t["measured"], key)
        _positive(t["limit"], key)
        assert t["met"] in (True, False), key
        assert t["target"] in md, key
    assert "| Target | Measured | Limit | Met | Detail |" in md


def test_training_items(quick):
    results, md, _ = quick
    configs = results["training"]["configs"]
    assert sorted(configs) == sorted(["none", "keras_tb", "cnn_tb8", "cnn_tb32"])
    for name, c in configs.items():
        _positive(c["epoch_seconds"]["median"], f"{name} epoch")
        if name != "none":
            _positive(c["own_seconds"]["median"], f"{name} own time")
            assert "on_epoch_end" in c["wrapped_hooks"]
    for name in ("cnn_tb8", "cnn_tb32"):
        c = configs[name]
        for p in PHASES:
            v = c["phases"][p]["median"]
            assert v is not None and math.isfinite(v) and v >= 0, (name, p, v)
        _positive(c["phases"]["total"]["median"], f"{name} total")
        _positive(c["floor_seconds"]["median"], f"{name} floor")
        assert "conv1" in c["floor_layers"]
        disk = c["disk"]
        _positive(disk["per_step_total"], f"{name} disk")
        for kind in ("feature_map_images", "kernel_images", "heatmap_images", "flow_records", "scalars", "histograms"):
            _positive(disk["per_step"][kind], f"{name} disk {kind}")
        _positive(disk["once_bytes"], f"{name} once")
    for section in ("## 1-2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7."):
        assert section in md


def test_serving_items(quick):
    results, md, _ = quick
    sv = results["serving"]
    assert sorted(sv["loaders"]) == ["false", "true"]
    steps = results["settings"]["serve_steps"]
    for lf, d in sv["loaders"].items():
        assert d["plugin_listed"], lf
        assert d["epochs_served"] == steps, lf
        for k in ("ready_seconds", "first_flow_response_seconds", "all_epochs_listed_seconds", "peak_rss_bytes"):
            _positive(d[k], f"{lf} {k}")
        for r in ROUTES:
            route = d["routes"][r]
            assert route["statuses"] == {"200": route["n"]}, (lf, r, route["statuses"])
            _positive(route["median"], f"{lf} {r} p50")
            _positive(route["p95"], f"{lf} {r} p95")
    if _browser_available():
        b = sv["loaders"]["true"]["browser"]
        assert b["page_errors"] == []
        assert b["layer_canvases"] > 1
        for seq in ("sequential", "random_jumps"):
            for k in ("redrawn_ms", "painted_ms", "page_hook_ms"):
                _positive(b[seq][k]["p95"], f"browser {seq} {k}")
    w = sv["writer"]
    assert w["steps"] == steps
    _positive(w["rss_after_first"], "rss")
    assert math.isfinite(w["growth_bytes"])
    for mode in ("with", "without", "without_keep_all"):
        assert len(sv["startup"][mode]) >= 1
        for t in sv["startup"][mode]:
            _positive(t, f"startup {mode}")
    for mode in ("with", "without"):
        for t in sv["startup"]["empty_logdir"][mode]:
            _positive(t, f"startup on an empty log dir {mode}")
    _positive(sv["startup"]["plugin_import"]["total_seconds"]["median"], "plugin import")


def test_profile(quick):
    results, md, out = quick
    for n in ("8", "32"):
        p = results["profile"][n]
        _positive(p["log_seconds_per_step"], f"profile {n}")
        assert p["top_by_own_time"] and p["top_cnn_tb_by_cumulative"]
        assert os.path.exists(os.path.join(out, p["profile_file"]))
    assert "## Profile" in md


def test_pool_benchmark_quick(tmp_path):
    """``benchmarks/pool.py --quick``: every configuration ran, both targets have a
    finite measured ratio, bytes per epoch were counted (no timing asserted)."""
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "pool.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "pool.json") as f:
        results = json.load(f)
    assert {r["config"] for r in results["runs"]} == {"keras_tb", "cnn_tb8", "cnn_tb8_pool"}
    assert len(results["targets"]) == 2
    for t in results["targets"]:
        _positive(t["measured"], t["target"])
    summary = results["summary"]
    _positive(summary["cnn_tb8_pool"]["floor"], "floor")
    _positive(summary["cnn_tb8_pool"]["pool_files_per_epoch"]["pool_pack"], "pool pack bytes")
    for config in ("keras_tb", "cnn_tb8", "cnn_tb8_pool"):
        _positive(summary[config]["bytes_per_epoch"], f"{config} bytes per epoch")
        _positive(summary[config]["own"]["median"], f"{config} own time")
    assert (tmp_path / "pool.md").read_text().count("| own time with pool") == 2
