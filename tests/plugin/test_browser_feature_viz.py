"""End-to-end: feature visualizations in the CNN Flow tab, headless Chromium (1600x1000),
a real TensorBoard, the seed CNN trained on the built-in dataset with feature
visualizations at epochs 2, 4 and 6.

Screenshots go to tests/artifacts/ (feature_viz_filters_epoch{2,4,6}.png) and docs/
(feature_viz_filters_epoch6.png; feature_viz_epochs.png: the feature-visualization section at
epochs 2, 4 and 6, stacked; feature_viz_detail.png). Skipped when Chromium is missing, except under CI=true.
"""

import io
import os

import pytest

from tests.plugin import test_browser as tbui
from tests.support import real_runs, tb_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fviz_browser"))
    run = real_runs.train_with_feature_viz(root, name="seed_cnn", epochs=6, every=2, steps=64, n_images=1500, seed_cnn=True)
    with tb_server.TensorBoard(root, load_fast="true") as tb:
        tb.wait_ready()
        tb.wait_for(f"/data/plugin/cnn_tb/feature_viz?run={run['run']}",
                    lambda s, b: s == 200 and b.count(b'"step":') == 3, timeout=240)
        tb.wait_for("/data/plugin/cnn_tb/runs", lambda s, b: s == 200 and b'"last_step": 5' in b, timeout=240)
        yield {"tb": tb, "run": run}


@pytest.fixture(scope="module")
def ui(served):
    with tbui.own_page(served["tb"].url, served["run"]["run"]) as u:
        yield u


def _index_of(ui, step):
    return ui.app(f"app.epochs.steps.indexOf({step})")


def _show_step(ui, step):
    before = ui.render_count()
    ui.frame.fill(".epoch-slider", str(_index_of(ui, step)))
    ui.wait_render(before)


def _section_step(ui):
    return ui.frame.eval_on_selector(".fviz-section", "e => e.dataset.step")


def test_filters_view_shows_every_layers_visualizations_changing_over_epochs(ui, served):
    ui.click('.mode-btn[data-mode="filters"]')
    _show_step(ui, 0)  # epoch 1: before the first visualization
    assert _section_step(ui) == ""
    assert "The first is at epoch 2" in ui.frame.text_content(".fviz-empty")
    hashes, crops = {}, []
    for step in (1, 3, 5):
        _show_step(ui, step)
        assert _section_step(ui) == str(step)
        layers = ui.frame.eval_on_selector_all(".fviz-block", "els => els.map(e => e.dataset.layer)")
        assert layers == ["conv1", "conv2", "conv3", "conv4"]
        tiles = ui.canvases('.fviz-block[data-layer="conv2"] canvas.fviz')
        assert len(tiles) == 16
        assert all(t["w"] == 32 and t["h"] == 32 and t["distinct"] > 8 and not t["gray"] for t in tiles)
        assert len({t["hash"] for t in tiles}) == 16  # one image per channel
        hashes[step] = [t["hash"] for t in tiles]
        ui.frame.evaluate("() => window.scrollTo(0, 0)")
        path = ui.shot(f"feature_viz_filters_epoch{step + 1}.png", docs=step == 5)
        assert os.path.getsize(path) > 20000
        crop = os.path.join(tbui.ARTIFACTS, f"fviz_section_{step}.png")
        ui.frame.locator(".fviz-section").screenshot(path=crop)
        crops.append(crop)
    # the same seed every time: the images change only because the network did
    assert hashes[1] != hashes[3] != hashes[5]
    # between visualized epochs the latest earlier one stays on screen
    _show_step(ui, 4)
    assert _section_step(ui) == "3"
    assert "no limit set" in ui.frame.text_content(".fviz-cost")
    assert "the latest at or before epoch 5" in ui.frame.text_content('.fviz-block[data-layer="conv1"] .fviz-head')
    _stack(crops, os.path.join(tbui.DOCS, "feature_viz_epochs.png"))


def test_play_animates_the_visualizations(ui):
    _show_step(ui, -1)
    seen = []
    ui.frame.evaluate("""() => { window.__fvizSeen = [];
        const o = new MutationObserver(() => { const s = document.querySelector('.fviz-section');
          if (s) window.__fvizSeen.push(s.dataset.step); });
        o.observe(document.querySelector('.main'), {childList: true, subtree: false}); }""")
    ui.frame.click(".play")
    n = ui.app("app.epochs.steps.length")
    ui.frame.wait_for_function(f"() => window.cnnTbApp.idx === {n - 1} && !window.cnnTbApp.playing", timeout=30000)
    ui.frame.wait_for_timeout(300)
    seen = ui.frame.evaluate("() => window.__fvizSeen")
    assert [s for i, s in enumerate(seen) if s and (i == 0 or seen[i - 1] != s)] == ["1", "3", "5"]


def test_detail_panel_shows_each_channels_visualization_map_and_kernel(ui):
    ui.click('.mode-btn[data-mode="flow"]')
    _show_step(ui, 5)
    ui.click('.layer-col[data-layer="conv2"]')
    ui.frame.wait_for_selector(".fviz-detail .fviz-pair")
    pairs = ui.frame.eval_on_selector_all(".fviz-detail .fviz-pair", "els => els.map(e => [e.dataset.channel, e.querySelectorAll('canvas').length])")
    assert [p[0] for p in pairs] == [str(c) for c in range(16)]
    assert all(p[1] == 3 for p in pairs)  # visualization, feature map, kernel
    viz = ui.canvases(".fviz-detail canvas.fviz")
    maps = ui.canvases(".fviz-detail canvas.map")
    kernels = ui.canvases(".fviz-detail canvas.kernel-one")
    assert len(viz) == len(maps) == len(kernels) == 16
    assert all(k["w"] == 5 and k["h"] == 5 and k["distinct"] > 1 for k in kernels)  # one 3x3 filter and its frame
    ui.page.set_viewport_size({"width": tbui.VIEWPORT["width"], "height": 2400})  # the whole panel
    ui.frame.wait_for_timeout(200)
    path = os.path.join(tbui.ARTIFACTS, "feature_viz_detail.png")
    ui.frame.locator(".fviz-detail").screenshot(path=path)
    ui.page.set_viewport_size(tbui.VIEWPORT)
    import shutil

    shutil.copy(path, os.path.join(tbui.DOCS, "feature_viz_detail.png"))


def _stack(paths, out):
    """The section screenshots one under the other (docs/feature_viz_epochs.png)."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in paths]
    w = max(i.width for i in images)
    canvas = Image.new("RGB", (w, sum(i.height for i in images) + 8 * (len(images) - 1)), "white")
    y = 0
    for i in images:
        canvas.paste(i, (0, y))
        y += i.height + 8
    buf = io.BytesIO()
    canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)  # a third of the bytes
    with open(out, "wb") as f:
        f.write(buf.getvalue())
