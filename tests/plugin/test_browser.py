"""End-to-end: the CNN Flow tab in headless Chromium against a real TensorBoard.

Skipped when Chromium is missing, except under CI=true where that fails.
Screenshots go to tests/artifacts/ (and docs/flow_view.png).
"""

import json
import os
import shutil

import pytest

from tests.support import ci, fixture_writer, real_runs, tb_server

REPO = tb_server.REPO
ARTIFACTS = os.path.join(REPO, "tests", "artifacts")
DOCS_SHOT = os.path.join(REPO, "docs", "flow_view.png")
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
def served(trained, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("browser"))
    shutil.copytree(os.path.join(trained["log_dir"], os.path.dirname(trained["run"])),
                    os.path.join(root, os.path.dirname(trained["run"])))
    hostile = real_runs.train_small(root, epochs=2, n_probes=3, hostile=True, n_images=300)
    synthetic = fixture_writer.HOSTILE + " run"  # a run (directory) name holding HTML too
    fixture_writer.write_run(os.path.join(root, synthetic, "cnn_tb"), hostile=True,
                             steps=(-1, 0, 1, 2), nonfinite_steps=(2,))
    deep = real_runs.write_deep_run(root)
    with tb_server.TensorBoard(root, load_fast="true") as tb:
        tb.wait_ready()
        tb.wait_for("/data/plugin/cnn_tb/runs", lambda s, b: s == 200 and b.count(b'"last_step": ') == 4
                    and b'"last_step": null' not in b)
        yield {"tb": tb, "root": root, "demo": trained["run"], "hostile": hostile["run"], "trained": trained,
               "synthetic": synthetic + "/cnn_tb", "deep": deep}


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
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

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

    def shot(self, name, full_page=False):
        path = os.path.join(ARTIFACTS, name)
        self.page.screenshot(path=path, full_page=full_page)
        return path


@pytest.fixture(scope="module")
def ui(browser, served):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    u = Ui(page)
    page.goto(served["tb"].url + "/#cnn_tb")
    u.wait_ready()
    u.frame.select_option(".run-select", served["demo"])
    u.frame.wait_for_function(
        "(r) => window.cnnTbApp && window.cnnTbApp.run === r && document.querySelector('#cnn-tb').dataset.state === 'ready'",
        arg=served["demo"])
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
    before = ui.render_count()
    ui.frame.click(f'.probe[data-probe="{probe}"]')
    ui.wait_render(before)
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


def test_colormap_switch_changes_pixels(ui):
    before_px = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
    assert not before_px["gray"]
    for cmap in ("magma", "gray"):
        before = ui.render_count()
        ui.frame.select_option(".cmap-select", cmap)
        ui.wait_render(before)
        now = ui.canvases('.layer-col[data-layer="conv1"] canvas')[0]
        assert now["hash"] != before_px["hash"], cmap
        before_px = now
    assert before_px["gray"]  # the gray colormap really is gray
    before = ui.render_count()
    ui.frame.select_option(".cmap-select", "viridis")
    ui.wait_render(before)


def test_normalisation_and_reduction_apply_client_side(ui):
    base = ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]
    before = ui.render_count()
    ui.frame.select_option(".reduce-select", "max")
    ui.wait_render(before)
    assert ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]["hash"] != base["hash"]
    before = ui.render_count()
    ui.frame.select_option(".norm-select", "fixed")
    ui.wait_render(before)
    fixed = ui.canvases('.layer-col[data-layer="conv2"] canvas')[0]
    assert fixed["distinct"] > 1
    for sel, val in ((".reduce-select", "mean"), (".norm-select", "map")):
        before = ui.render_count()
        ui.frame.select_option(sel, val)
        ui.wait_render(before)


def test_click_opens_detail_with_every_map(ui):
    n = ui.app("app.epochs.steps.length")
    _set_step_index(ui, n - 1)
    before = ui.render_count()
    ui.frame.click('.layer-col[data-layer="conv3"]')
    ui.wait_render(before)
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
    ui.page.set_viewport_size({"width": 1400, "height": 1500})
    ui.frame.wait_for_timeout(200)
    ui.shot("detail_panel.png")
    ui.page.set_viewport_size({"width": 1400, "height": 950})
    before = ui.render_count()
    ui.frame.click(".detail .close")
    ui.wait_render(before)
    assert ui.frame.eval_on_selector(".detail", "e => e.hidden")


def test_two_probes_side_by_side(ui):
    before = ui.render_count()
    ui.frame.select_option(".probe2-select", "1")
    ui.wait_render(before)
    counts = ui.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.map(e => e.querySelectorAll('.cell').length)")
    assert set(counts) == {2}
    conv1 = ui.canvases('.layer-col[data-layer="conv1"] canvas')
    assert len(conv1) == 2 and conv1[0]["hash"] != conv1[1]["hash"]
    ui.shot("side_by_side.png")
    before = ui.render_count()
    ui.frame.select_option(".probe2-select", "")
    ui.wait_render(before)


def test_compare_mode_renders_probes_by_layers(ui):
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="compare"]')
    ui.wait_render(before)
    n_probes = ui.app("app.probeCount()")
    layers = ui.app("app.displayedLayers().filter(l => l.kind === 'input' || l.logged).length")
    rows = ui.frame.eval_on_selector_all("table.compare tr[data-probe]", "els => els.map(e => e.querySelectorAll('td').length)")
    assert rows == [layers] * n_probes
    cells = ui.canvases("table.compare td canvas")
    assert len(cells) == n_probes * (layers - 1)  # the output column is text
    assert all(c["distinct"] > 1 for c in cells)
    shutil.copy(ui.shot("compare_mode.png"), os.path.join(REPO, "docs", "compare_view.png"))
    # a cell opens that probe and layer in the flow view
    before = ui.render_count()
    ui.frame.click('table.compare tr[data-probe="2"] td[data-layer="conv2"]')
    ui.wait_render(before)
    assert ui.app("[app.mode, app.probe, app.selected]") == ["flow", 2, "conv2"]
    before = ui.render_count()
    ui.frame.click(".detail .close")
    ui.wait_render(before)
    before = ui.render_count()
    ui.frame.click('.probe[data-probe="0"]')
    ui.wait_render(before)
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="compare"]')
    ui.wait_render(before)


def test_filters_view_animates_kernels(ui):
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="filters"]')
    ui.wait_render(before)
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
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="flow"]')
    ui.wait_render(before)


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
    before = ui.render_count()
    ui.frame.click(f'.probe[data-probe="{max(0, wrong)}"]')
    ui.wait_render(before)
    before = ui.render_count()
    ui.frame.click('.layer-col[data-layer="conv2"]')
    ui.wait_render(before)
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
    os.makedirs(os.path.dirname(DOCS_SHOT), exist_ok=True)
    if os.path.exists(DOCS_SHOT):
        os.remove(DOCS_SHOT)
    ui.page.screenshot(path=DOCS_SHOT, clip={"x": 0, "y": 0, "width": 1400, "height": 950})
    # the file: a PNG of the clip's size, full of colour (a blank or half-drawn page is not)
    with Image.open(DOCS_SHOT) as img:
        assert img.format == "PNG" and img.size == (1400, 950)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 500, len(colours)
    assert max(count for count, _ in colours) < 0.8 * 1400 * 950  # the background is not all there is
    shutil.copy(DOCS_SHOT, os.path.join(ARTIFACTS, "docs_flow_view.png"))
    before = ui.render_count()
    ui.frame.click('.layer-col[data-layer="conv2"]')
    ui.wait_render(before)
    assert ui.frame.eval_on_selector(".detail", "e => e.hidden")


def _switch_run(ui, run):
    before = ui.render_count()
    ui.frame.select_option(".run-select", run)
    ui.wait_render(before)


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
    before = ui.render_count()
    ui.frame.click(f'.layer-col[data-layer="{hostile}"]')
    ui.wait_render(before)
    assert ui.frame.text_content(".detail-head h3") == hostile
    # the last step of this run holds NaN/Inf: flagged, not a blank page
    assert ui.frame.eval_on_selector("#cnn-tb", "e => e.dataset.step") == "2"
    assert "NaN/Inf" in ui.frame.text_content(".banner.nonfinite")
    assert ui.frame.eval_on_selector_all(".layer-col .badge.nan", "els => els.length") > 0
    ui.shot("hostile_names.png")
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="compare"]')
    ui.wait_render(before)
    headers = ui.frame.eval_on_selector_all("table.compare th.col-name", "els => els.map(e => e.textContent)")
    assert hostile in headers
    injected = ui.frame.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length")
    assert injected == 0
    before = ui.render_count()
    ui.frame.click('.mode-btn[data-mode="flow"]')
    ui.wait_render(before)
    assert ui.dialogs == []
    assert ui.errors == [], ui.errors


def test_many_layers_stay_readable(ui, served):
    _switch_run(ui, served["deep"]["run"])
    info = ui.app("app.info")
    shown = [l["name"] for l in info["layers"] if l["kind"] == "input" or l["logged"]]
    assert len(info["layers"]) >= 20
    cols = ui.frame.eval_on_selector_all(".pipeline .layer-col", "els => els.map(e => e.dataset.layer)")
    assert cols == shown
    for c in ui.canvases(".pipeline .layer-col canvas"):
        assert c["w"] > 0 and c["distinct"] > 1
    # one row, scrolling sideways; no two names overlap and no name overflows its card
    boxes = ui.frame.eval_on_selector_all(
        ".pipeline .layer-col",
        """els => els.map(e => { const r = e.getBoundingClientRect(); const n = e.querySelector('.layer-name');
                 return [r.left, r.right, r.top, n.scrollWidth <= n.clientWidth + 1 || getComputedStyle(n).textOverflow === 'ellipsis']; })""")
    for a, b in zip(boxes, boxes[1:]):
        assert a[1] <= b[0] and a[2] == b[2]
    assert all(b[3] for b in boxes)
    assert ui.frame.eval_on_selector(".pipeline-scroll", "e => e.scrollWidth > e.clientWidth")
    # the layer chips jump to a card far to the right
    ui.frame.click('.layer-nav .chip:text-is("predictions")')
    ui.frame.wait_for_function("() => document.querySelector('.pipeline-scroll').scrollLeft > 0")
    ui.shot("many_layers.png")


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
