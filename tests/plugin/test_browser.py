"""End-to-end: the CNN Flow tab in headless Chromium (1600x1000) against a real TensorBoard.

Runs: the seed CNN (cnn_tb.demo's notebook CNN, 14 logged layers) trained with
LayerFlow, a tiny residual CNN, hostile names, a 24-layer chain, and
keras.applications ResNet50 and DenseNet121 logged with log_layers.
Skipped when Chromium is missing, except under CI=true where that fails.
Screenshots go to tests/artifacts/ and docs/ (flow_view.png,
flow_view_resnet50.png, depth_chart.png, compare_view.png).
"""

import contextlib
import json
import os
import shutil

import pytest

from tests.support import ci, fixture_writer, real_runs, tb_server

REPO = tb_server.REPO
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")
DOCS = os.path.join(REPO, "docs")
VIEWPORT = {"width": 1600, "height": 1000}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# JS run inside the plugin frame: pixel summaries of canvases.
CANVAS_INFO = """
(els) => els.map((c) => {
  const w = c.width, h = c.height;
  if (!w || !h) return {w, h, distinct: 0, drawn: 0, hash: 0, gray: false};
  const d = c.getContext('2d').getImageData(0, 0, w, h).data;
  const seen = new Set(); let drawn = 0, hash = 0, gray = true;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0) drawn++;
    if (seen.size < 64) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    hash = (hash * 31 + d[i] * 7 + d[i + 1] * 3 + d[i + 2]) | 0;
    if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) gray = false;
  }
  return {w, h, distinct: seen.size, drawn, hash, gray};
})
"""


@pytest.fixture(scope="module")
def served(trained, demo_run, zoo_runs, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("browser"))
    shutil.copytree(os.path.join(trained["log_dir"], os.path.dirname(trained["run"])),
                    os.path.join(root, os.path.dirname(trained["run"])))
    shutil.copytree(os.path.join(demo_run["log_dir"], "cnn_tb"), os.path.join(root, "seed_cnn", "cnn_tb"))
    zoo_root, zoo = zoo_runs
    for info in zoo.values():
        shutil.copytree(os.path.join(zoo_root, os.path.dirname(info["run"])), os.path.join(root, os.path.dirname(info["run"])))
    hostile = real_runs.train_small(root, epochs=2, n_probes=3, hostile=True, n_images=300)
    synthetic = fixture_writer.HOSTILE + " run"  # a run (directory) name holding HTML too
    fixture_writer.write_run(os.path.join(root, synthetic, "cnn_tb"), hostile=True,
                             steps=(-1, 0, 1, 2), nonfinite_steps=(2,))
    deep = real_runs.write_deep_run(root)
    with tb_server.TensorBoard(root, load_fast="true") as tb:
        tb.wait_ready()
        tb.wait_for("/data/plugin/cnn_tb/runs", lambda s, b: s == 200 and b.count(b'"last_step": ') == 7
                    and b'"last_step": null' not in b, timeout=240)
        yield {"tb": tb, "root": root, "demo": trained["run"], "hostile": hostile["run"], "trained": trained,
               "synthetic": synthetic + "/cnn_tb", "deep": deep, "seed": "seed_cnn/cnn_tb",
               "resnet50": zoo["ResNet50"]["run"], "densenet121": zoo["DenseNet121"]["run"]}


@pytest.fixture(scope="module")
def browser():
    exe = ci.chromium()
    ci.require(exe is not None, "Chromium or playwright (Python)")
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, ".gitignore"), "w") as f:
        f.write("# test output, never committed\n*\n")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Ui:
    """The plugin frame of a TensorBoard page."""

    def __init__(self, page):
        self.page = page
        self.dialogs = []
        self.errors = []
        self.requests = []  # every URL the page asked for
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    @property
    def frame(self):
        for f in self.page.frames:
            if "plugin_entry" in f.url:
                return f
        raise AssertionError("plugin iframe not found")

    def wait_ready(self, timeout=30000):
        self.page.wait_for_function(
            """() => { const f = [...document.querySelectorAll('iframe')];
                       return f.some(x => x.contentDocument && x.contentDocument.querySelector('#cnn-tb[data-state=ready], #cnn-tb[data-state=empty]')); }""",
            timeout=timeout,
        )

    def wait_run(self, run):
        """Wait until the page shows ``run``, drawn."""
        self.frame.wait_for_function(
            "(r) => window.cnnTbApp && window.cnnTbApp.run === r && document.querySelector('#cnn-tb').dataset.state === 'ready'",
            arg=run)

    def render_count(self):
        return int(self.frame.eval_on_selector("#cnn-tb", "e => Number(e.dataset.renderCount || 0)"))

    def wait_render(self, before, timeout=15000):
        self.frame.wait_for_function(
            "(n) => Number(document.querySelector('#cnn-tb').dataset.renderCount || 0) > n "
            "&& document.querySelector('#cnn-tb').dataset.state === 'ready'",
            arg=before, timeout=timeout,
        )

    def canvases(self, selector):
        return self.frame.eval_on_selector_all(selector, CANVAS_INFO)

    def app(self, expr):
        return self.frame.evaluate(f"() => {{ const app = window.cnnTbApp; return {expr}; }}")

    def shot(self, name, full_page=False, docs=False):
        # (the view does not wait for histograms not loaded yet: the picture does)
        self.frame.wait_for_function("() => ![...document.querySelectorAll('.hist-loading')].some((e) => e.offsetParent !== null)")
        path = os.path.join(ARTIFACTS, name)
        self.page.mouse.move(VIEWPORT["width"] - 2, VIEWPORT["height"] - 2)  # no hover highlight in the picture
        self.page.screenshot(path=path, full_page=full_page)
        if docs:
            shutil.copy(path, os.path.join(DOCS, name))
        return path

    def box(self, selector):
        """Bounding box of the first match in page (viewport) coordinates, or None."""
        return self.frame.locator(selector).first.bounding_box()

    def on_first_screen(self, selector):
        """True when the first match lies wholly inside the viewport, without scrolling."""
        b = self.box(selector)
        scroll = self.frame.evaluate("() => window.scrollY")
        return (b is not None and scroll == 0 and b["x"] >= 0 and b["y"] >= 0
                and b["x"] + b["width"] <= VIEWPORT["width"] and b["y"] + b["height"] <= VIEWPORT["height"])

    def click(self, selector):
        """Click in the plugin frame and wait for the render it causes."""
        before = self.render_count()
        self.frame.click(selector)
        self.wait_render(before)

    def select(self, selector, value):
        """Choose an option in the plugin frame and wait for the render it causes."""
        before = self.render_count()
        self.frame.select_option(selector, value)
        self.wait_render(before)

    def close_detail_after_tall_shot(self, name):
        """Screenshot of a 1500 px tall page (the whole detail panel), then close the panel."""
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": 1500})
        self.frame.wait_for_timeout(200)
        self.shot(name)
        self.page.set_viewport_size(VIEWPORT)
        self.click(".detail .close")

    def press(self, key):
        """A key on the plugin page (focus on its document, not on a control)."""
        self.frame.evaluate("() => document.activeElement && document.activeElement.blur()")
        before = self.render_count()
        self.frame.locator("body").press(key)
        self.wait_render(before)


@contextlib.contextmanager
def own_page(url, run):
    """A Chromium of its own on the CNN Flow tab of the TensorBoard at ``url``, showing
    ``run``: the :class:`Ui`. No page error may happen while it is open."""
    exe = ci.chromium()
    ci.require(exe is not None, "Chromium or playwright (Python)")
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        u = Ui(browser.new_page(viewport=VIEWPORT))
        u.page.goto(url + "/#cnn_tb")
        u.wait_ready()
        u.wait_run(run)
        yield u
        assert not u.errors, u.errors
        browser.close()


@pytest.fixture(scope="module")
def ui(browser, served):
    page = browser.new_page(viewport=VIEWPORT)
    u = Ui(page)
    page.goto(served["tb"].url + "/#cnn_tb")
    u.wait_ready()
    u.frame.select_option(".run-select", served["demo"])
    u.wait_run(served["demo"])
    yield u
    page.close()


def _set_step_index(ui, i):
    before = ui.render_count()
    ui.frame.fill(".epoch-slider", str(i))
    ui.wait_render(before)


def test_flow_view_draws_every_layer_card(ui, served):
    info = ui.app("app.info")
    expected = [l["name"] for l in info["layers"] if l["kind"] == "input" or l["logged"]]
    cols = ui.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.map(e => e.dataset.layer)")
    assert cols == expected
    for name in expected:
        if name == info["output_layer"]:
            continue
        cells = ui.canvases(f'.layer-col[data-layer="{name}"] canvas')
        assert len(cells) == 1, name
        c = cells[0]
        assert c["w"] > 0 and c["drawn"] == c["w"] * c["h"], name
        assert c["distinct"] > 1, f"canvas of {name} is blank"
    # shapes are shown and the skip connection into `add` is drawn
    shapes = ui.frame.eval_on_selector_all(".layer-shape", "els => els.map(e => e.textContent)")
    assert shapes[:3] == ["16×16×3", "16×16×8", "16×16×8"]
    arcs = ui.frame.eval_on_selector_all(".skip-arc", "els => els.map(e => [e.dataset.from, e.dataset.to])")
    assert ["conv1", "add"] in arcs
    assert "conv1 + conv2" in ui.frame.text_content('.layer-col[data-layer="add"] .merge-note') or \
        "conv2 + conv1" in ui.frame.text_content('.layer-col[data-layer="add"] .merge-note')
    ui.shot("flow_view.png")


def test_output_bars_mark_predicted_and_true(ui):
    # a (step, probe) where the prediction is wrong
    found = ui.app(
        "(() => { for (let i = 0; i < app.epochs.epochs.length; i++) { const ps = app.epochs.epochs[i].predictions;"
        " for (let p = 0; p < ps.length; p++) if (ps[p].true !== null && ps[p].pred !== ps[p].true) return [i, p, ps[p].pred, ps[p].true]; }"
        " return null; })()"
    )
    assert found, "no misclassified probe in the run"
    idx, probe, pred, truth = found
    ui.click(f'.probe[data-probe="{probe}"]')
    _set_step_index(ui, idx)
    rows = ui.frame.eval_on_selector_all(
        ".layer-col.output .prob-row",
        "els => els.map(e => ({cls: Number(e.dataset.class), pred: e.dataset.pred, truth: e.dataset.true,"
        " color: getComputedStyle(e.querySelector('.prob-fill')).backgroundColor, name: e.querySelector('.prob-name').textContent}))",
    )
    pred_rows = [r for r in rows if r["pred"] == "1"]
    true_rows = [r for r in rows if r["truth"] == "1"]
    assert [r["cls"] for r in pred_rows] == [pred]
    assert [r["cls"] for r in true_rows] == [truth]
    assert pred_rows[0]["color"] == "rgb(15, 157, 88)"  # green
    assert true_rows[0]["color"] == "rgb(219, 68, 55)"  # red
    names = ui.app("app.info.probes.class_names")
    assert pred_rows[0]["name"] == names[pred]
    assert ui.frame.eval_on_selector(f'.probe[data-probe="{probe}"]', "e => e.dataset.wrong") == "1"


def test_epoch_slider_changes_conv1_pixels(ui):
    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, n - 1)
    late = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
    _set_step_index(ui, 0)
    assert ui.frame.eval_on_selector("#cnn-tb", "e => e.dataset.step") == "-1"
    assert "untrained" in ui.frame.text_content(".step-label")
    early = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
    assert early["hash"] != late["hash"]
    # jump-to-epoch: "epoch 2" is step 1
    before = ui.render_count()
    ui.frame.fill(".jump", "2")
    ui.frame.click(".jump-box .btn")
    ui.wait_render(before)
    assert ui.frame.eval_on_selector("#cnn-tb", "e => e.dataset.step") == "1"
    assert ui.frame.text_content(".step-label").startswith("epoch 2")


SHOWN = """() => {
  const out = {texts: [], canvases: []};
  for (const root of document.querySelectorAll('.flow-body, .depth-panel')) {
    out.texts.push(root.innerText);
    for (const c of root.querySelectorAll('canvas')) {
      const w = c.width, h = c.height;
      let hash = 0;
      if (w && h) {
        const d = c.getContext('2d').getImageData(0, 0, w, h).data;
        for (let i = 0; i < d.length; i++) hash = (hash * 31 + d[i]) | 0;
      }
      out.canvases.push([c.className, w, h, hash]);
    }
  }
  return out;
}"""


def test_an_epoch_change_repaints_the_view_in_place(ui):
    """Moving the epoch keeps the cards (no rebuild) and shows exactly what a rebuild at that epoch shows."""
    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, 1)
    ui.select(".cmap-select", "magma")
    ui.select(".cmap-select", "viridis")  # another structure and back: built afresh at epoch index 1
    assert ui.frame.eval_on_selector(".flow-body", "e => e.dataset.patched") == "0"
    built = ui.frame.evaluate(SHOWN)
    assert len(built["canvases"]) >= 10
    ui.frame.evaluate("() => { document.querySelector('.flow-body .layer-col[data-layer=conv1]').kept = 1; }")
    _set_step_index(ui, n - 1)
    other = ui.frame.evaluate(SHOWN)
    assert other["texts"] != built["texts"] and other["canvases"] != built["canvases"]  # the epoch's own data
    _set_step_index(ui, 1)
    assert ui.frame.eval_on_selector(".flow-body", "e => e.dataset.patched") == "2"
    assert ui.frame.evaluate("() => document.querySelector('.flow-body .layer-col[data-layer=conv1]').kept") == 1
    assert ui.frame.evaluate(SHOWN) == built  # pixel for pixel, text for text


def test_colormap_switch_changes_pixels(ui):
    before_px = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
    assert not before_px["gray"]
    for cmap in ("magma", "gray"):
        ui.select(".cmap-select", cmap)
        now = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
        assert now["hash"] != before_px["hash"], cmap
        before_px = now
    assert before_px["gray"]  # the gray colormap really is gray
    ui.select(".cmap-select", "viridis")


def test_normalisation_and_reduction_apply_client_side(ui):
    base = ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]
    ui.select(".reduce-select", "max")
    assert ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]["hash"] != base["hash"]
    ui.select(".norm-select", "fixed")
    fixed = ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]
    assert fixed["distinct"] > 1
    for sel, val in ((".reduce-select", "mean"), (".norm-select", "map")):
        ui.select(sel, val)


def test_click_opens_detail_with_every_map(ui):
    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, n - 1)
    ui.click('.layer-col[data-layer="conv3"]')
    tiles = ui.canvases(".detail .map-tile canvas")
    assert len(tiles) == 12  # conv3 has 12 channels, all stored
    assert sum(1 for t in tiles if t["distinct"] > 1) >= 6
    assert ui.frame.eval_on_selector(".detail", "e => e.dataset.layer") == "conv3"
    kernels = ui.canvases(".detail .kernel-grid")
    assert len(kernels) == 1 and kernels[0]["distinct"] > 2
    overlays = ui.canvases(".detail .overlay")
    assert len(overlays) >= 2 and all(o["distinct"] > 2 for o in overlays)  # max activation + Grad-CAM
    sparks = ui.frame.eval_on_selector_all(".detail table.stats tr", "els => els.length")
    assert sparks == 1 + 7 + 1  # header, 7 stats, kernel change
    # columns control changes the grid layout
    ui.frame.fill(".cols-range", "4")
    cols = ui.frame.eval_on_selector(".map-grid", "e => getComputedStyle(e).gridTemplateColumns.split(' ').length")
    assert cols == 4
    ui.close_detail_after_tall_shot("detail_panel.png")
    assert ui.frame.eval_on_selector(".detail", "e => e.hidden")


def test_two_probes_side_by_side(ui):
    ui.select(".probe2-select", "1")
    counts = ui.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.map(e => e.querySelectorAll('.cell').length)")
    assert set(counts) == {2}
    conv1 = ui.canvases('.layer-col[data-layer="conv1"] canvas')
    assert len(conv1) == 2 and conv1[0]["hash"] != conv1[1]["hash"]
    ui.shot("side_by_side.png")
    ui.select(".probe2-select", "")


def test_compare_mode_renders_probes_by_layers(ui):
    ui.click('.mode-btn[data-mode="compare"]')
    n_probes = ui.app("app.probeCount()")
    layers = ui.app("app.displayedLayers().filter(l => l.kind === 'input' || l.logged).length")
    rows = ui.frame.eval_on_selector_all("table.compare tr[data-probe]", "els => els.map(e => e.querySelectorAll('td').length)")
    assert rows == [layers] * n_probes
    cells = ui.canvases("table.compare td canvas")
    assert len(cells) == n_probes * (layers - 1)  # the output column is text
    assert all(c["distinct"] > 1 for c in cells)
    shutil.copy(ui.shot("compare_mode.png"), os.path.join(DOCS, "compare_view.png"))
    # a cell opens that probe and layer in the flow view
    ui.click('table.compare tr[data-probe="2"] td[data-layer="conv2"]')
    assert ui.app("[app.mode, app.probe, app.selected]") == ["flow", 2, "conv2"]
    ui.click(".detail .close")
    ui.click('.probe[data-probe="0"]')
    ui.click('.mode-btn[data-mode="compare"]')


def test_filters_view_animates_kernels(ui):
    ui.click('.mode-btn[data-mode="filters"]')
    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, n - 1)
    late = ui.canvases(".filters .kernel-grid")[0]
    assert late["distinct"] > 2
    change = ui.frame.text_content(".big-number")
    assert change.endswith("%")
    ui.shot("filters_view.png")
    _set_step_index(ui, 0)
    early = ui.canvases(".filters .kernel-grid")[0]
    assert early["hash"] != late["hash"]
    assert ui.frame.text_content(".big-number") == "–"  # no change before the first epoch
    ui.click('.mode-btn[data-mode="flow"]')


def test_play_steps_through_epochs_and_timings(ui):
    _set_step_index(ui, 0)
    ui.frame.click(".play")
    n = ui.app("app.epochs.steps.length")
    ui.frame.wait_for_function(f"() => window.cnnTbApp.idx === {n - 1} && !window.cnnTbApp.playing", timeout=20000)
    # stepping back and forth: every step is served from the prefetch cache
    for i in list(range(n)) * 3:
        _set_step_index(ui, i)
    timings = ui.app("app.timings.filter(t => t.cause === 'step').map(t => t.ms)")
    with open(os.path.join(ARTIFACTS, "epoch_step_timings.json"), "w") as f:
        json.dump({"epoch_step_ms": timings}, f)  # recorded, not asserted (no timing asserts)
    assert len(timings) >= 3 * n


def test_docs_screenshot(ui):
    """docs/flow_view.png: the last epoch, a misclassified probe, conv2's detail open."""
    from PIL import Image

    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, n - 1)
    wrong = ui.app("app.epochs.epochs[app.idx].predictions.findIndex(p => p.pred !== p.true)")
    ui.click(f'.probe[data-probe="{max(0, wrong)}"]')
    ui.click('.layer-col[data-layer="conv2"]')
    # what the screenshot shows: the ready page at the last step, that probe, conv2's
    # detail, and every layer card drawn (no blank canvas)
    state = ui.frame.eval_on_selector("#cnn-tb", "e => [e.dataset.state, e.dataset.step, e.dataset.mode]")
    assert state == ["ready", str(ui.app("app.epochs.steps[app.epochs.steps.length - 1]")), "flow"]
    assert ui.app("app.probe") == max(0, wrong)
    assert ui.frame.eval_on_selector(".detail", "e => [e.hidden, e.dataset.layer]") == [False, "conv2"]
    info = ui.app("app.info")
    cards = [l["name"] for l in info["layers"] if (l["kind"] == "input" or l["logged"]) and l["name"] != info["output_layer"]]
    for name in cards:
        (c,) = ui.canvases(f'.pipeline .layer-col[data-layer="{name}"] canvas')
        assert c["w"] > 0 and c["drawn"] == c["w"] * c["h"] and c["distinct"] > 1, (name, c)
    tiles = ui.canvases(".detail .map-tile canvas")
    assert len(tiles) == 8 and sum(t["distinct"] > 1 for t in tiles) >= 4  # conv2's 8 channels
    assert ui.errors == []
    path = ui.shot("tiny_cnn_detail.png")
    # the file: a PNG full of colour (a blank or half-drawn page is not)
    with Image.open(path) as img:
        assert img.format == "PNG"
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        area = img.size[0] * img.size[1]
    assert len(colours) > 500, len(colours)
    assert max(count for count, _ in colours) < 0.8 * area  # the background is not all there is
    ui.click('.layer-col[data-layer="conv2"]')
    assert ui.frame.eval_on_selector(".detail", "e => e.hidden")


def _switch_run(ui, run):
    ui.select(".run-select", run)


def test_hostile_class_names_from_training_show_as_text(ui, served):
    _switch_run(ui, served["hostile"])
    hostile = fixture_writer.HOSTILE
    labels = ui.frame.eval_on_selector_all(".probe-labels", "els => els.map(e => e.textContent).join('|')")
    assert f"true: {hostile}" in labels  # probe 0 has class 0, the hostile class name
    rows = ui.frame.eval_on_selector_all(".layer-col.output .prob-name", "els => els.map(e => e.textContent)")
    assert hostile in rows
    assert ui.frame.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    assert ui.dialogs == []


def test_hostile_layer_names_show_as_text(ui, served):
    _switch_run(ui, served["synthetic"])
    hostile = fixture_writer.HOSTILE
    names = ui.frame.eval_on_selector_all(".layer-name", "els => els.map(e => e.textContent)")
    assert hostile in names
    options = ui.frame.eval_on_selector_all(".run-select option", "els => els.map(e => e.textContent)")
    assert served["synthetic"] in options
    ui.click(f'.layer-col[data-layer="{hostile}"]')
    assert ui.frame.text_content(".detail-head h3") == hostile
    # the last step of this run holds NaN/Inf: flagged, not a blank page
    assert ui.frame.eval_on_selector("#cnn-tb", "e => e.dataset.step") == "2"
    assert "NaN/Inf" in ui.frame.text_content(".banner.nonfinite")
    assert ui.frame.eval_on_selector_all(".layer-col .badge.nan", "els => els.length") > 0
    ui.shot("hostile_names.png")
    ui.click('.mode-btn[data-mode="compare"]')
    headers = ui.frame.eval_on_selector_all("table.compare th.col-name", "els => els.map(e => e.textContent)")
    assert hostile in headers
    injected = ui.frame.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length")
    assert injected == 0
    ui.click('.mode-btn[data-mode="flow"]')
    assert ui.dialogs == []
    assert ui.errors == [], ui.errors


def test_many_layers_stay_readable(ui, served):
    """A 24-layer chain: over the 16-item bound, so the 20 conv/relu layers fold into one block."""
    _switch_run(ui, served["deep"]["run"])
    info = ui.app("app.info")
    assert len(info["layers"]) >= 20 and info["blocks"]["flat"] is False
    top = ui.frame.eval_on_selector_all(".flow > .pipeline > .layer-col, .flow > .pipeline > .block-col",
                                        "els => els.map(e => e.dataset.layer || e.dataset.name)")
    assert top == ["input", "conv_01 … relu_10", "gap", "dense", "predictions"]
    assert ui.on_first_screen('.layer-col[data-layer="predictions"]')
    ui.click('.block-col[data-name="conv_01 … relu_10"]')
    cards = ui.frame.eval_on_selector_all(".block-panel .layer-col", "els => els.map(e => e.dataset.layer)")
    assert cards == [f"{kind}_{i:02d}" for i in range(1, 11) for kind in ("conv", "relu")]
    for c in ui.canvases(".block-panel .layer-col canvas"):
        assert c["w"] > 0 and c["distinct"] > 1
    # rows that fit the width: no two cards overlap, no card leaves the screen sideways
    boxes = ui.frame.eval_on_selector_all(
        ".block-panel .layer-col",
        """els => els.map(e => { const r = e.getBoundingClientRect(); const n = e.querySelector('.layer-name');
                 return [r.left, r.right, r.top, n.scrollWidth <= n.clientWidth + 1 || getComputedStyle(n).textOverflow === 'ellipsis']; })""")
    for a, b in zip(boxes, boxes[1:]):
        assert a[1] <= b[0] or b[2] > a[2]  # to the right, or on a later row
    assert all(0 <= b[0] and b[1] <= VIEWPORT["width"] for b in boxes)
    assert all(b[3] for b in boxes)
    ui.shot("many_layers.png")


# ------------------------------------------------------------ the seed CNN


def _epoch_bar_boxes(ui):
    return [ui.box(sel) for sel in (".play", ".epoch-bar .btn.icon", ".epoch-slider", ".epoch-bar .btn.icon >> nth=1", ".jump-box")]


def test_seed_cnn_whole_network_on_the_first_screen(ui, served):
    _switch_run(ui, served["seed"])
    info = ui.app("app.info")
    assert info["blocks"]["flat"] is True  # 14 logged layers: shown as they are
    names = [l["name"] for l in info["layers"] if l["kind"] == "input" or l["logged"]]
    assert len(names) == 15
    cols = ui.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.map(e => e.dataset.layer)")
    assert cols == names
    # one row, input and output both on the first screen
    assert len(ui.frame.query_selector_all(".flow > .pipeline")) == 1
    assert ui.on_first_screen('.layer-col[data-layer="input"]')
    assert ui.on_first_screen('.layer-col[data-layer="predictions"]')
    # the lower half is not empty: the depth chart and the histograms are there at once
    assert ui.box(".depth-chart")["y"] < VIEWPORT["height"] * 0.7
    assert ui.frame.eval_on_selector(".detail", "e => e.hidden")
    # one numbering in the status line
    import re

    assert re.fullmatch(r"epoch \d+ of \d+", ui.frame.text_content(".step-label"))
    # dead fraction only for ReLU outputs: the dense layer (relu), not the softmax output or LeakyReLU
    dense = ui.frame.text_content('.layer-col[data-layer="dense"] .cell-stats')
    assert "dead" in dense
    for name in ("predictions", "act1", "bn2", "conv3"):
        text = ui.frame.text_content(f'.layer-col[data-layer="{name}"] .cell-stats')
        assert "dead" not in text and "std" in text, (name, text)
    # a dense layer is a grid of units in colour, not a near-blank box
    (grid,) = ui.canvases('.layer-col[data-layer="dense"] canvas')
    assert grid["w"] * grid["h"] >= 128 and grid["distinct"] >= 8 and not grid["gray"]
    ui.shot("flow_view.png", docs=True)


def test_seed_cnn_rows_follow_the_window_width(ui, served):
    _switch_run(ui, served["seed"])
    assert len(ui.frame.query_selector_all(".flow > .pipeline")) == 1
    before = ui.render_count()
    ui.page.set_viewport_size({"width": 1000, "height": VIEWPORT["height"]})
    ui.wait_render(before)
    rows = ui.frame.eval_on_selector_all(".flow > .pipeline", "els => els.map(e => e.querySelectorAll('.layer-col').length)")
    assert len(rows) >= 2 and sum(rows) == 15
    right = ui.frame.eval_on_selector_all(".flow .layer-col", "els => Math.max(...els.map(e => e.getBoundingClientRect().right))")
    assert right <= 1000
    before = ui.render_count()
    ui.page.set_viewport_size(VIEWPORT)
    ui.wait_render(before)
    assert len(ui.frame.query_selector_all(".flow > .pipeline")) == 1


def test_seed_cnn_probe_labels_are_whole(ui, served):
    _switch_run(ui, served["seed"])
    names = ui.app("app.info.probes.class_names")
    spans = ui.frame.eval_on_selector_all(
        ".probe-labels span",
        "els => els.map(e => [e.textContent, e.scrollWidth <= e.clientWidth + 1, e.getBoundingClientRect().right <= e.closest('.probe').getBoundingClientRect().right + 1])")
    assert spans and all(fits and inside for _, fits, inside in spans), spans
    texts = [t for t, _, _ in spans]
    labels = ui.app("app.info.probes.labels")
    for i, label in enumerate(labels):
        assert f"true: {names[label]}" in texts  # whole class names, "horizontal stripes" too
    assert texts[0] == "probe 0" or texts[0].startswith("probe 0 ")
    title = ui.frame.eval_on_selector('.probe[data-probe="0"]', "e => e.title")
    assert f"true: {names[labels[0]]}" in title


def test_seed_cnn_epoch_bar_does_not_move(ui, served):
    _switch_run(ui, served["seed"])
    n = ui.app("app.epochs.steps.length")
    boxes = []
    for i in list(range(n)) + [0]:
        _set_step_index(ui, i)
        boxes.append(_epoch_bar_boxes(ui))
    assert all(b == boxes[0] for b in boxes), boxes
    # while playing too
    ui.frame.click(".play")
    ui.frame.wait_for_function(f"() => window.cnnTbApp.idx === {n - 1} && !window.cnnTbApp.playing", timeout=30000)
    assert _epoch_bar_boxes(ui) == boxes[0]
    metrics = ui.frame.text_content(".metrics")
    assert "loss" in metrics


def test_seed_cnn_maps_menu_offers_what_is_stored(ui, served):
    _switch_run(ui, served["seed"])
    ui.click('.layer-col[data-layer="conv2"]')
    options = ui.frame.eval_on_selector_all(".count-select option", "els => els.map(e => e.textContent)")
    assert options == ["8", "16", "all 32"]  # conv2 has 64 channels, 32 stored
    notes = ui.frame.text_content(".maps-section .controls")
    assert "the layer has 64" in notes and "max_channels=32" in notes
    assert len(ui.canvases(".detail .map-tile canvas")) == 32
    # conv1 is stored average-pooled (the byte budget): said in words
    ui.click('.layer-col[data-layer="conv1"]')
    plan = ui.app("app.info.settings.plan.conv1")
    notes = ui.frame.text_content(".maps-section .controls")
    if plan["pool"] > 1:
        assert f"mean of {plan['pool']}×{plan['pool']} pixels" in notes and "budget_bytes" in notes
    # the stats table has no dead fraction for a linear conv layer
    rows = ui.frame.eval_on_selector_all(".detail table.stats td:first-child", "els => els.map(e => e.textContent)")
    assert "dead fraction" not in rows and "mean" in rows
    ui.close_detail_after_tall_shot("seed_cnn_detail.png")


def test_seed_cnn_depth_chart_and_histograms(ui, served):
    _switch_run(ui, served["seed"])
    n_epochs = ui.app("app.epochs.steps.length")
    logged = ui.app("app.network.loggedOrder().map(l => l.name)")
    chart = ui.frame.eval_on_selector(".depth-chart", "e => ({...e.dataset})")
    assert int(chart["lines"]) == n_epochs and int(chart["points"]) == len(logged)
    assert ui.frame.eval_on_selector_all(".legend-epoch", "els => els.length") == n_epochs
    # each epoch's line is drawn in its own colour
    colors = ui.frame.eval_on_selector_all(".legend-epoch", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(colors)) == n_epochs
    found = ui.frame.evaluate(
        """(colors) => { const c = document.querySelector('.depth-chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const want = colors.map(s => s.match(/\\d+/g).map(Number)); const hit = want.map(() => 0);
             for (let i = 0; i < d.length; i += 4) want.forEach((w, k) => { if (Math.abs(d[i] - w[0]) + Math.abs(d[i + 1] - w[1]) + Math.abs(d[i + 2] - w[2]) < 12) hit[k]++; });
             return hit; }""", colors)
    assert all(h > 20 for h in found), found
    for stat in ("mean", "dead_frac", "kernel_change", "nonfinite", "std"):
        ui.select(".depth-stat", stat)
        assert ui.frame.eval_on_selector(".depth-chart", "e => e.dataset.stat") == stat
        assert ui.frame.eval_on_selector(".ov-stat", "e => e.value") == stat
    # the histogram picture of the layer before the output, one column per epoch (the
    # view does not wait for histograms not loaded yet: they show when they come)
    ui.frame.wait_for_function("() => document.querySelector('.hist-image') !== null")
    hist = ui.frame.eval_on_selector(".hist-image", "e => ({...e.dataset})")
    assert hist["layer"] == "dense" and int(hist["columns"]) == n_epochs and int(hist["drawn"]) == n_epochs
    (img,) = ui.canvases(".hist-image")
    assert img["distinct"] > 8
    # the shown epoch's column is framed (blue); another epoch moves the frame, the
    # picture (computed once for the layer) stays the same outside the frames
    probe = """() => { const c = document.querySelector('.hist-image'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const y = Math.floor(c.height / 2); const blue = [];
        for (let x = 0; x < c.width; x++) { const i = (y * c.width + x) * 4;
          if (Math.abs(d[i] - 0x19) + Math.abs(d[i + 1] - 0x76) + Math.abs(d[i + 2] - 0xd2) < 40) blue.push(x); }
        return {blue, row: Array.from(d.subarray(y * c.width * 4, (y + 1) * c.width * 4))}; }"""
    _set_step_index(ui, n_epochs - 1)
    last = ui.frame.evaluate(probe)
    _set_step_index(ui, 0)
    first = ui.frame.evaluate(probe)
    assert last["blue"] and first["blue"] and max(first["blue"]) < min(last["blue"]), (first["blue"], last["blue"])
    framed = set(range(min(first["blue"]) - 2, max(first["blue"]) + 3)) | set(range(min(last["blue"]) - 2, max(last["blue"]) + 3))
    same = [x for x in range(len(first["row"]) // 4) if x not in framed]
    assert all(first["row"][4 * x: 4 * x + 4] == last["row"][4 * x: 4 * x + 4] for x in same)
    _set_step_index(ui, n_epochs - 1)  # back to the last epoch, as the page opens
    # it follows the selection
    ui.click('.layer-col[data-layer="act2"]')
    ui.frame.wait_for_function("() => { const h = document.querySelector('.hist-image'); return h && h.dataset.layer === 'act2'; }")
    ui.page.mouse.move(VIEWPORT["width"] - 2, 2)
    ui.frame.locator(".depth-panel").screenshot(path=os.path.join(ARTIFACTS, "depth_chart.png"))
    shutil.copy(os.path.join(ARTIFACTS, "depth_chart.png"), os.path.join(DOCS, "depth_chart.png"))
    ui.click('.layer-col[data-layer="act2"]')


# ------------------------------------------------------- real-size models


def _structure(ui):
    return ui.app("({top: app.network.topItems(false).map(it => it.kind === 'layer' ? it.layer.name : it.block.name),"
                  " blocks: app.network.blocks, layers: app.info.layers.map(l => l.name), output: app.info.output_layer})")


@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
def test_real_model_fits_the_first_screen(ui, served, model):
    _switch_run(ui, served[model])
    s = _structure(ui)
    first = s["layers"][0]  # input_layer (or input_layer_N: Keras numbers the names it makes up)
    assert len(s["top"]) <= 16 and s["top"][0] == first and s["top"][-1] == s["output"] == "predictions"
    shown = ui.frame.eval_on_selector_all(".flow > .pipeline > .layer-col, .flow > .pipeline > .block-col",
                                          "els => els.map(e => e.dataset.layer || e.dataset.name)")
    assert shown == s["top"]
    assert ui.on_first_screen(f'.layer-col[data-layer="{first}"] .layer-name')
    assert ui.on_first_screen('.layer-col[data-layer="predictions"] .layer-name')
    assert ui.on_first_screen('.layer-col[data-layer="predictions"]')
    for c in ui.canvases(".flow .block-col canvas"):
        assert c["w"] > 0 and c["drawn"] == c["w"] * c["h"]
    # no class names in these runs: probes and classes are named apart
    labels = ui.frame.eval_on_selector_all(".probe-labels span", "els => els.map(e => e.textContent)")
    assert labels[0] in ("probe 0", "probe 0 ✗") and labels[1] == "true: class 0" and labels[2].startswith("pred: class ")
    assert not any("#" in t for t in labels)
    assert ui.frame.eval_on_selector_all(".chip", "els => els.length") == 0  # no chip wall
    ui.shot(f"flow_view_{model}.png", docs=model == "resnet50")


@pytest.mark.parametrize("model,stage,unit", [("resnet50", "conv3", "conv3_block2"), ("densenet121", "conv3", "conv3_block5")])
def test_block_opens_on_click(ui, served, model, stage, unit):
    _switch_run(ui, served[model])
    s = _structure(ui)
    blocks = {b["name"]: b for b in s["blocks"]}
    ui.click(f'.block-col[data-name="{stage}"]')
    kids = ui.frame.eval_on_selector_all(".block-panel.level-1 .block-col, .block-panel.level-1 .layer-col",
                                         "els => els.map(e => e.dataset.name || e.dataset.layer)")
    want = [s["blocks"][i]["name"] if kind == "block" else s["layers"][i] for kind, i in blocks[stage]["children"]]
    assert kids == want and unit in kids
    ui.click(f'.block-panel.level-1 .block-col[data-name="{unit}"]')
    cards = ui.frame.eval_on_selector_all(".block-panel.level-2 .layer-col", "els => els.map(e => e.dataset.layer)")
    assert len(cards) == blocks[unit]["layers"] == len(blocks[unit]["children"])
    assert cards == [s["layers"][i] for _, i in blocks[unit]["children"]]
    for c in ui.canvases(".block-panel.level-2 .layer-col canvas"):
        assert c["drawn"] == c["w"] * c["h"] and c["w"] > 0
    assert ui.frame.text_content(".block-panel.level-2 .panel-title") == f"{stage} ▸ {unit}"
    ui.shot(f"open_block_{model}.png")
    # a second click closes it
    ui.click(f'.flow .block-col[data-name="{stage}"]')
    assert ui.frame.eval_on_selector_all(".block-panel", "els => els.length") == 0


@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
def test_depth_overview_one_cell_per_layer(ui, served, model):
    _switch_run(ui, served[model])
    logged = ui.app("app.network.loggedOrder().map(l => l.name)")
    assert len(logged) == ui.app("app.info.layers.filter(l => l.logged).length") > 150
    cells = ui.frame.eval_on_selector_all(".ov-cell", "els => els.map(e => e.dataset.layer)")
    assert cells == logged
    widths = ui.frame.eval_on_selector_all(".ov-cell", "els => els.map(e => e.getBoundingClientRect().width)")
    assert min(widths) > 0 and max(widths) - min(widths) < 1
    # coloured by the statistic: the cells of different layers differ
    colors = ui.frame.eval_on_selector_all(".ov-cell", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(colors)) > 20
    # a click jumps to the layer: its blocks open, it is selected and on screen
    target = logged[len(logged) * 2 // 3]
    ui.frame.click(f'.ov-cell[data-layer="{target}"]')
    ui.frame.wait_for_function("(t) => window.cnnTbApp.selected === t && document.querySelector('#cnn-tb').dataset.state === 'ready'", arg=target)
    ui.frame.wait_for_function("(t) => document.querySelector(`.detail[data-layer='${t}']`) !== null", arg=target)
    path = ui.app(f"app.network.pathTo({target!r}).map(id => app.network.blocks[id].name)")
    assert path and ui.app("app.expanded.map(id => app.network.blocks[id].name)") == path
    card = f'.layer-col.selected[data-layer="{target}"]'
    assert ui.frame.eval_on_selector_all(card, "els => els.length") == 1
    ui.frame.wait_for_function(
        "(sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }", arg=card)
    assert "selected" in ui.frame.eval_on_selector(f'.ov-cell[data-layer="{target}"]', "e => e.className")


def test_search_finds_a_layer_by_part_of_its_name(ui, served):
    _switch_run(ui, served["resnet50"])
    ui.frame.fill(".layer-search", "block5_2_c")
    hits = ui.frame.eval_on_selector_all(".search-hit", "els => els.map(e => e.dataset.layer)")
    assert hits == ["conv4_block5_2_conv"]
    ui.frame.fill(".layer-search", "OUT")  # case-insensitive, several hits
    hits = ui.frame.eval_on_selector_all(".search-hit", "els => els.map(e => e.dataset.layer)")
    assert len(hits) == 12 and all("out" in h for h in hits)
    ui.frame.fill(".layer-search", "block5_2_c")
    before = ui.render_count()
    ui.frame.press(".layer-search", "Enter")
    ui.wait_render(before)
    assert ui.app("app.selected") == "conv4_block5_2_conv"
    assert ui.app("app.expanded.map(id => app.network.blocks[id].name)") == ["conv4", "conv4_block5"]
    assert ui.frame.eval_on_selector_all('.layer-col.selected[data-layer="conv4_block5_2_conv"]', "els => els.length") == 1
    ui.frame.fill(".layer-search", "no such layer")
    assert "no layer matches" in ui.frame.text_content(".search-results")
    ui.frame.press(".layer-search", "Escape")


def test_up_down_keys_move_between_layers(ui, served):
    _switch_run(ui, served["resnet50"])
    order = ui.app("app.network.shownOrder(false).filter(l => l.kind !== 'input').map(l => l.name)")
    start = order.index("conv2_block3_3_bn")
    ui.frame.click('.block-col[data-name="conv2"]')
    ui.frame.wait_for_function("() => document.querySelector('.block-panel') !== null")
    ui.click('.block-panel .block-col[data-name="conv2_block3"]')
    ui.click('.layer-col[data-layer="conv2_block3_3_bn"]')
    step = ui.app("app.step()")
    for k in range(1, 4):  # down across the end of conv2 into conv3_block1
        ui.press("ArrowDown")
        assert ui.app("app.selected") == order[start + k]
    assert ui.app("app.selected") == "conv3_block1_1_conv"
    assert ui.app("app.expanded.map(id => app.network.blocks[id].name)") == ["conv3", "conv3_block1"]
    card = '.layer-col.selected[data-layer="conv3_block1_1_conv"]'
    ui.frame.wait_for_function(
        "(sel) => { const e = document.querySelector(sel); if (!e) return false; const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; }", arg=card)
    for k in range(2, 0, -1):
        ui.press("ArrowUp")
        assert ui.app("app.selected") == order[start + k]
    assert ui.app("app.step()") == step  # ↑/↓ do not change the epoch
    ui.press("ArrowLeft")  # ←/→ still step through epochs
    assert ui.app("app.step()") == -1 and ui.app("app.selected") == order[start + 1]


def test_compare_shows_the_columns_of_the_flow(ui, served):
    """A closed block is one column (its output); an open block is replaced by its children."""
    _switch_run(ui, served["resnet50"])
    top = _structure(ui)["top"]
    ui.click('.mode-btn[data-mode="compare"]')
    heads = ui.frame.eval_on_selector_all("table.compare th.col-name", "els => els.map(e => e.textContent)")
    assert heads == [f"▸ {n}" if n.startswith(("stem", "conv")) else n for n in top]
    n_probes = ui.app("app.probeCount()")
    cells = ui.canvases("table.compare td canvas")
    assert len(cells) == n_probes * (len(top) - 1)
    assert all(c["drawn"] == c["w"] * c["h"] > 0 and (c["distinct"] > 1 or c["w"] * c["h"] == 1) for c in cells)
    # a block cell opens that block in the flow view
    ui.click('table.compare tr[data-probe="1"] td[data-name="conv3"]')
    assert ui.app("[app.mode, app.probe, app.expanded.map(id => app.network.blocks[id].name)]") == ["flow", 1, ["conv3"]]
    ui.click('.mode-btn[data-mode="compare"]')
    heads = ui.frame.eval_on_selector_all("table.compare th.col-name", "els => els.map(e => e.textContent)")
    assert heads[3:7] == [f"▸ conv3_block{i}" for i in range(1, 5)] and "▸ conv3" not in heads
    ui.shot("compare_resnet50.png")
    ui.click('.mode-btn[data-mode="flow"]')
    ui.click('.probe[data-probe="0"]')


@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
def test_real_model_depth_chart_and_histogram(ui, served, model):
    _switch_run(ui, served[model])
    chart = ui.frame.eval_on_selector(".depth-chart", "e => ({...e.dataset})")
    assert int(chart["lines"]) == 2 and int(chart["points"]) == ui.app("app.network.loggedOrder().length")
    ui.frame.wait_for_function("() => document.querySelector('.hist-image') !== null")
    hist = ui.frame.eval_on_selector(".hist-image", "e => ({...e.dataset})")
    assert hist["layer"] == "avg_pool" and int(hist["drawn"]) == 2
    (img,) = ui.canvases(".hist-image")
    assert img["distinct"] > 5


def test_live_run_shows_new_epochs(ui, served):
    """TensorBoard serves while a run is written: the view follows new epochs."""
    live = real_runs.LiveRun(served["root"])
    live.log(-1)
    live.log(0)
    ui.frame.wait_for_function(
        "(r) => [...document.querySelectorAll('.run-select option')].some(o => o.value === r)",
        arg=live.run, timeout=30000)
    _switch_run(ui, live.run)
    ui.frame.wait_for_function("() => window.cnnTbApp.epochs.steps.join() === '-1,0'", timeout=20000)
    live.log(1)
    ui.frame.wait_for_function(
        "() => window.cnnTbApp.epochs.steps.join() === '-1,0,1' && document.querySelector('#cnn-tb').dataset.step === '1'",
        timeout=30000)
    assert "epoch 2" in ui.frame.text_content(".step-label")
    for c in ui.canvases('.layer-col[data-layer="conv1"] canvas'):
        assert c["distinct"] > 1


def test_empty_state_explains_how_to_log(browser, tmp_path):
    empty = tmp_path / "empty_logdir"
    empty.mkdir()
    with tb_server.TensorBoard(str(empty), load_fast="true") as tb:
        tb.wait_ready()
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        u = Ui(page)
        page.goto(tb.url + "/#cnn_tb")
        u.wait_ready()
        assert u.frame.eval_on_selector("#cnn-tb", "e => e.dataset.state") == "empty"
        text = u.frame.text_content(".empty-state")
        assert "cnn_tb.LayerFlow(log_dir, probes)" in text
        u.shot("empty_state.png")
        # the first flow records appear while the page is open: the view switches to them
        fixture_writer.write_run(str(empty / "new_run" / "cnn_tb"), steps=(-1, 0))
        u.frame.wait_for_function(
            "() => document.querySelector('#cnn-tb').dataset.state === 'ready' && window.cnnTbApp.run === 'new_run/cnn_tb'",
            timeout=30000)
        assert u.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.length") > 3
        assert u.errors == []
        page.close()
