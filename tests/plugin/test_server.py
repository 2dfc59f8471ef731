"""A real ``tensorboard`` subprocess (both loaders) serving the installed plugin."""

import json
import os
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from cnn_tb.plugin import plugin as plugin_module
from tests.support import ci, real_runs, tb_server

P = "/data/plugin/cnn_tb"
LONG_EPOCHS = 30


@pytest.fixture(autouse=True)
def _installed():
    """Every test here serves the pip-installed package (skipped without it, failed under CI=true)."""
    ci.require(tb_server.entry_point_installed(), "the installed cnn_tb (`pip install .`, tensorboard_plugins entry point)")


def q(**params):
    return urllib.parse.urlencode(params)


@pytest.fixture(scope="session")
def server_logdir(trained, tmp_path_factory):
    """The trained run plus a run with 30 logged epochs (and the untrained step)."""
    root = str(tmp_path_factory.mktemp("served"))
    shutil.copytree(os.path.join(trained["log_dir"], os.path.dirname(trained["run"])),
                    os.path.join(root, os.path.dirname(trained["run"])))
    long = real_runs.write_many_epochs(root, epochs=LONG_EPOCHS)
    return root, trained["run"], long["run"]


def test_entry_point_is_installed():
    assert tb_server.entry_point_installed(), "pip install . must register the tensorboard_plugins entry point"


@pytest.mark.parametrize("load_fast", ["false", "true"])
def test_tensorboard_serves_every_epoch(server_logdir, load_fast):
    root, demo_run, long_run = server_logdir
    with tb_server.TensorBoard(root, load_fast=load_fast) as tb:
        listing = tb.wait_ready()
        assert "cnn_tb" in listing, tb.log()
        entry = listing["cnn_tb"]
        assert entry["tab_name"] == "CNN Flow"
        module = entry["loading_mechanism"]["module_path"]
        status, headers, body = tb.get(module)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert b"export async function render()" in body

        def both_done(status, body):
            if status != 200:
                return False
            runs = {r["run"]: r for r in json.loads(body)}
            return (runs.get(long_run, {}).get("last_step") == LONG_EPOCHS - 1
                    and runs.get(demo_run, {}).get("last_step") is not None)

        tb.wait_for(f"{P}/runs", both_done)
        # data present => the plugin shows as enabled
        assert tb.wait_for("/data/plugins_listing",
                           lambda s, b: s == 200 and json.loads(b)["cnn_tb"]["enabled"])

        def all_epochs(status, body):
            return status == 200 and len(json.loads(body)["steps"]) == LONG_EPOCHS + 1

        epochs = json.loads(tb.wait_for(f"{P}/epochs?{q(run=long_run)}", all_epochs))
        assert epochs["steps"] == list(range(-1, LONG_EPOCHS))
        for step in (-1, 0, 13, LONG_EPOCHS - 1):  # blobs of every step are kept, not 10 samples
            status, headers, body = tb.get(f"{P}/activations?{q(run=long_run, probe=1, step=step)}")
            assert status == 200, body
            assert headers["Content-Type"] == "application/octet-stream" and body[:4] == b"CTB1"
            status, _, body = tb.get(f"{P}/kernels?{q(run=long_run, step=step, layer='conv1')}")
            assert status == 200 and body[:4] == b"CTB1"
        status, headers, body = tb.get(f"{P}/probe?{q(run=demo_run, probe=0)}")
        assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
        status, _, body = tb.get(f"{P}/run?{q(run=demo_run)}")
        assert status == 200 and json.loads(body)["output_layer"] == "predictions"
        # the same routes under /experiment/<id>/
        status, _, body = tb.get(f"/experiment/abc/{P.lstrip('/')}/runs")
        assert status == 200 and long_run in body.decode()
        # errors and traversal through the real server
        status, _, body = tb.get(f"{P}/activations?{q(run=long_run, probe='x', step=0)}")
        assert status == 400 and b"must be an integer" in body
        status, _, body = tb.get(f"{P}/epochs?{q(run='missing')}")
        assert status == 404 and b"unknown run" in body
        for path in ("static/..%2f..%2fplugin.py", "static/%2e%2e/%2e%2e/setup.py", "static/loader.py"):
            status, _, _ = tb.get(f"{P}/{path}")
            assert status == 404, path


def test_explicit_samples_flag_wins_and_path_prefix_works(server_logdir):
    root, demo_run, long_run = server_logdir
    extra = ["--samples_per_plugin=cnn_tb=5", "--path_prefix=/tb"]
    with tb_server.TensorBoard(root, load_fast="false", extra=extra) as tb:
        tb.url += "/tb"
        tb.wait_ready()
        body = tb.wait_for(f"{P}/epochs?{q(run=long_run)}",
                           lambda s, b: s == 200 and len(json.loads(b)["steps"]) >= 5)
        steps = json.loads(body)["steps"]
        assert len(steps) == 5 and steps[-1] == LONG_EPOCHS - 1
        status, _, body = tb.get(f"{P}/static/index.js")
        assert status == 200 and b"render" in body


def test_installed_package_serves_its_own_frontend(server_logdir):
    """Without the source tree on the path: the installed copy finds its frontend files."""
    root, demo_run, _ = server_logdir
    with tb_server.TensorBoard(root, load_fast="true", source_tree=False) as tb:
        listing = tb.wait_ready()
        assert "cnn_tb" in listing, tb.log()
        # the installed copy's own allow-list (its static/ folder), asked without the source tree
        listed = subprocess.run(
            [sys.executable, "-c", "from cnn_tb.plugin.plugin import STATIC_FILES; print(*sorted(STATIC_FILES))"],
            env=tb_server.subprocess_env(source_tree=False), cwd="/", capture_output=True, text=True, check=True)
        names = listed.stdout.split()
        assert "index.js" in names and "style.css" in names
        for name in names:
            status, _, body = tb.get(f"{P}/static/{name}")
            assert status == 200 and body, name
        tb.wait_for(f"{P}/runs", lambda s, b: s == 200 and demo_run in b.decode())
