"""examples/walkthrough.ipynb, executed end to end in a real Jupyter kernel
(nbclient, offline): its outputs hold what the log holds, its custom loop logs,
and its last cell starts TensorBoard inline with the CNN Flow tab; the inline
output, served on 127.0.0.1, shows the tab in Chromium (docs/walkthrough_inline.png)."""

import functools
import http.server
import os
import re
import shutil
import signal
import threading
import urllib.request

import pytest

from cnn_tb.contract import tags
from tests.support import ci
from tests.support.tb_data import LogDir
from tests.support.tb_server import REPO, free_port

NOTEBOOK = os.path.join(REPO, "examples", "walkthrough.ipynb")
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")


def _stop_tensorboard(port):
    from tensorboard import manager

    for info in manager.get_all():
        if info.port == port:
            try:
                os.kill(info.pid, signal.SIGTERM)
            except OSError:
                pass


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import nbformat
    from nbclient import NotebookClient

    log_dir = str(tmp_path_factory.mktemp("walkthrough"))
    port = free_port()
    env_keys = {"CNN_TB_WALKTHROUGH_LOGDIR": log_dir, "CNN_TB_WALKTHROUGH_PORT": str(port),
                "CNN_TB_WALKTHROUGH_EPOCHS": "2", "CNN_TB_WALKTHROUGH_TRAIN": "1500", "PYTHONPATH": REPO}
    old = {k: os.environ.get(k) for k in env_keys}
    os.environ.update(env_keys)  # the kernel inherits this process' environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": REPO}})
    try:
        # cell by cell in a kernel kept alive for the tests: TensorBoard, started by
        # the last cell, lives as long as the kernel (as in Jupyter)
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            yield nb, log_dir, port
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _stop_tensorboard(port)


def _text(cell):
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            out.append(o["text"])
        elif "data" in o:
            out.append(o["data"].get("text/markdown") or o["data"].get("text/plain", ""))
    return "\n".join(out)


def _cell(nb, marker):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return cell


def test_every_cell_ran_without_error(executed):
    nb, _, _ = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 10 and all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_outputs_hold_what_the_log_holds(executed):
    nb, log_dir, _ = executed
    log = LogDir(log_dir)
    assert sorted(log.epochs()) == [-1, 0, 1]
    summary = _text(_cell(nb, "model.summary()"))
    assert "conv1" in summary and "Total params" in summary
    table = _text(_cell(nb, "probe accuracy"))
    rows = re.findall(r"^\| (\d) \| (.+?) \| (.+?) \| ([0-9.]+) \|$", table, re.M)
    assert [int(r[0]) for r in rows] == list(range(8))
    # the notebook's prediction table is the model's: the last epoch record says the same
    from cnn_tb.demo.datasets import CLASS_NAMES

    last = log.epochs()[1]["predictions"]
    assert [r[2] for r in rows] == [CLASS_NAMES[p["pred"]] for p in last]
    assert [r[1] for r in rows] == [CLASS_NAMES[p["true"]] for p in last]
    pictures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if {"image/png", "image/jpeg"} & set(o.get("data", {}))]
    assert len(pictures) >= 5  # feature maps at two steps, kernels, transformation, heatmaps
    stats_text = _text(_cell(nb, "activation_stats"))
    for layer, mean in re.findall(r"^\| (\w+) \| (-?[0-9.]+) \|", stats_text, re.M):
        want = log.scalars(tags.RUN_NAME, f"activation_stats/{layer}/mean")[1]
        assert float(mean) == pytest.approx(want, abs=6e-4), layer
    assert len(re.findall(r"^\| \w+ \| -?[0-9.]+ \|", stats_text, re.M)) >= 10


def test_the_custom_loop_logged_two_steps(executed):
    nb, log_dir, _ = executed
    out = _text(_cell(nb, "log_layers("))
    assert out.count("written: True") == 2
    assert sorted(LogDir(os.path.join(log_dir, "custom_loop")).epochs()) == [0, 1]


def test_inline_tensorboard_serves_the_cnn_flow_tab(executed):
    nb, log_dir, port = executed
    cell = _cell(nb, "%tensorboard")
    html = "".join(o["data"].get("text/html", "") + o["data"].get("application/javascript", "")
                   for o in cell.get("outputs", []) if "data" in o)
    assert f"{port}" in html and "iframe" in html, html[:500]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugins_listing", timeout=30) as r:
        assert '"cnn_tb"' in r.read().decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/cnn_tb/runs", timeout=30) as r:
        runs = r.read().decode()
    assert "cnn_tb" in runs and "custom_loop" in runs
    exe = ci.chromium()
    ci.require(exe, "Chromium with playwright")
    _screenshot_inline_output(html, port, exe)


def _screenshot_inline_output(html, port, exe):
    """The cell's output in a page of its own (as Jupyter shows it: the same HTML and
    script, which point an iframe at TensorBoard's port), the CNN Flow tab chosen."""
    from playwright.sync_api import sync_playwright

    from tests.plugin.test_browser import CHROMIUM_ARGS

    root = os.path.join(ARTIFACTS, "walkthrough_page")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><html><body style='margin:8px;font-family:sans-serif'>"
                "<div style='color:#555'>Out[ ]: %tensorboard --logdir ...</div>" + html + "</body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.wait_for_selector("iframe")
            frame = page.frame_locator("iframe").first
            page.wait_for_function("() => document.querySelector('iframe').src.includes(':%d')" % port, timeout=30000)
            page.eval_on_selector("iframe", "(f, port) => { f.src = 'http://127.0.0.1:' + port + '/#cnn_tb'; }", port)
            plugin = frame.frame_locator("iframe#plugin-frame, iframe").first
            plugin.locator("#cnn-tb[data-state=ready]").wait_for(timeout=60000)
            plugin.locator(".hist-loading").first.wait_for(state="hidden", timeout=60000)  # histograms come after
            path = os.path.join(ARTIFACTS, "walkthrough_inline.png")
            page.screenshot(path=path)
            browser.close()
    finally:
        server.shutdown()
    shutil.copy(path, os.path.join(REPO, "docs", "walkthrough_inline.png"))
    from PIL import Image

    with Image.open(path) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 300
