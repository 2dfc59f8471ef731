"""End-to-end: the held-out pool in the CNN Flow tab, in headless Chromium
(1600x1000) against a real TensorBoard.

Runs: the seed CNN trained 4 epochs on the built-in shapes dataset with a
300-image pool (``pool_demo_run``), keras.applications ResNet50 logged with
``log_layers`` and a 64-image pool, and a run without a pool. Every number
the page shows is checked against what the routes answer. Screenshots go to
tests/artifacts/ and docs/ (pool_depth_chart.png, right_vs_wrong.png,
dataset_examples.png). Skipped when Chromium is missing, except under CI=true.
"""

import json
import math
import os
import shutil
import urllib.parse

import numpy as np
import pytest

from cnn_tb.contract import packs
from tests.plugin.test_browser import ARTIFACTS, CHROMIUM_ARGS, VIEWPORT, Ui
from tests.support import ci, pool_runs, real_runs, tb_server

SEED = "seed_pool/cnn_tb"
RESNET = "resnet50/cnn_tb"
LONG = "long_pool/cnn_tb"
MAX_SHOWN = 12  # images per side in right vs wrong (views/pool.js)


def pct(v):
    """dom.js pct(): the texts JS's toFixed may give (it rounds halves either way after binary rounding)."""
    digits = 1 if v < 0.1 else 0
    x = v * 100
    scale = 10 ** digits
    return {f"{math.floor(x * scale) / scale:.{digits}f}%", f"{math.ceil(x * scale) / scale:.{digits}f}%"} \
        if abs(x * scale - round(x * scale)) > 1e-9 else {f"{round(x * scale) / scale:.{digits}f}%"}


@pytest.fixture(scope="module")
def served(pool_demo_run, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("pool_browser"))
    shutil.copytree(os.path.join(pool_demo_run["log_dir"], "cnn_tb"), os.path.join(root, SEED))
    resnet = pool_runs.write_application_pool_run(root, "ResNet50")
    real_runs.write_deep_run(root, steps=(-1,))  # a run without a pool
    long = pool_runs.write_long_pool_run(root)  # 1,001 pool epochs
    with tb_server.TensorBoard(root, load_fast="true") as tb:
        tb.wait_ready()
        tb.wait_for("/data/plugin/cnn_tb/runs", lambda s, b: s == 200 and b.count(b'"last_step": ') == 4
                    and b'"last_step": null' not in b, timeout=240)
        for run, steps in ((SEED, pool_demo_run["steps"]), (RESNET, resnet["steps"]), (LONG, long["steps"])):
            tb.wait_for(f"/data/plugin/cnn_tb/pool?run={urllib.parse.quote(run)}",
                        lambda s, b, steps=steps: s == 200 and json.loads(b)["steps"] == steps, timeout=120)
        yield {"tb": tb, "root": root, "resnet": resnet, "demo": pool_demo_run}


def get_json(tb, route, **query):
    status, _, body = tb.get(f"/data/plugin/cnn_tb/{route}?{urllib.parse.urlencode(query)}")
    assert status == 200, body[:300]
    return json.loads(body)


def get_pack(tb, **query):
    status, _, body = tb.get(f"/data/plugin/cnn_tb/pool_pack?{urllib.parse.urlencode(query)}")
    assert status == 200, body[:300]
    return packs.decode_raw(body)


def classes(pack, name):
    arr, _ = pack[name]
    return [None if v == 255 else int(v) for v in arr]


@pytest.fixture(scope="module")
def browser():
    exe = ci.chromium()
    ci.require(exe is not None, "Chromium or playwright (Python)")
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def ui(browser, served):
    page = browser.new_page(viewport=VIEWPORT)
    u = Ui(page)
    page.goto(served["tb"].url + "/#cnn_tb")
    u.wait_ready()
    show_run(u, SEED)
    yield u
    page.close()


def show_run(ui, run, mode=None):
    ui.frame.select_option(".run-select", run)
    ui.wait_run(run)
    if mode and ui.app("app.mode") != mode:
        ui.click(f'.mode-btn[data-mode="{mode}"]')


def mode(ui, m):
    if ui.app("app.mode") != m:
        ui.click(f'.mode-btn[data-mode="{m}"]')
    ui.frame.evaluate("() => window.scrollTo(0, 0)")


def test_depth_chart_of_class_separation_marks_the_most_separating_layer(ui, served):
    show_run(ui, SEED)
    mode(ui, "pool")
    pool = get_json(served["tb"], "pool", run=SEED)
    last = pool["records"][-1]
    layers = pool["sessions"][0]["layers"]
    sep = last["class_separation"]
    assert ui.app("app.step()") == last["step"] == 3
    best = max((v, -i, name) for i, name in enumerate(layers) if (v := sep[name]) is not None)[2]
    card = ".pool-card.separation"
    assert ui.frame.get_attribute(card, "data-best") == best
    facts = ui.frame.text_content(f"{card} .pool-facts")
    assert any(f"most separating: {best} ({t})" in facts for t in pct(sep[best])), facts
    assert any(f"{layers[0]}: {t}" in facts for t in pct(sep[layers[0]])), facts
    chart = ui.frame.eval_on_selector(f"{card} canvas.sep-chart", "c => [Number(c.dataset.lines), Number(c.dataset.points)]")
    assert chart == [len(pool["records"]), len(layers)]  # one line per pool epoch, a point per layer
    (info,) = ui.canvases(f"{card} canvas.sep-chart")
    assert info["distinct"] > 8
    # trained on the shapes: the most separating layer is well past the input
    assert sep[best] > sep[layers[0]] + 0.2 and layers.index(best) > len(layers) // 2
    title = ui.frame.text_content(".pool-view .view-title")
    assert "300 images" in title and any(f"accuracy {t}" in title for t in pct(last["accuracy"]))
    ui.shot("pool_depth_chart.png", docs=True)


def test_layer_cards_show_their_class_separation(ui, served):
    show_run(ui, SEED)
    mode(ui, "flow")
    sep = get_json(served["tb"], "pool", run=SEED)["records"][-1]["class_separation"]
    badges = ui.frame.eval_on_selector_all(
        ".layer-col[data-layer] .sep-badge",
        "els => els.map(e => [e.closest('.layer-col').dataset.layer, Number(e.dataset.value), e.textContent, e.classList.contains('best')])")
    cards = ui.frame.eval_on_selector_all(".layer-col[data-layer]", "els => els.map(e => e.dataset.layer)")
    assert [b[0] for b in badges] == [c for c in cards if sep.get(c) is not None]
    best = max(v for v in sep.values() if v is not None)
    for layer, value, text, is_best in badges:
        assert value == sep[layer], layer
        assert any(text.endswith(f"sep {t}") for t in pct(sep[layer])), (layer, text)
        assert is_best == (value == best and layer == next(n for n in sep if sep[n] == best))


def test_confusion_matrix_and_most_confused_pairs_with_their_images(ui, served):
    show_run(ui, SEED)
    mode(ui, "pool")
    last = get_json(served["tb"], "pool", run=SEED)["records"][-1]
    m = np.array(last["confusion"])
    caption = ui.frame.text_content(".pool-card.confusion p")
    assert f"{int(np.trace(m))} of {int(m.sum())} right" in caption
    (conf,) = ui.canvases(".pool-card.confusion canvas")
    assert conf["distinct"] > 4
    pairs = ui.frame.eval_on_selector_all(".pair", "els => els.map(e => [Number(e.dataset.true), Number(e.dataset.pred), e.querySelectorAll('canvas').length])")
    assert pairs == [[p["true"], p["pred"], len(p["examples"])] for p in last["confused_pairs"]]
    assert all(m[t, p] == c["count"] for (t, p, _), c in zip(pairs, last["confused_pairs"]))
    thumbs = ui.canvases(".pair canvas")
    assert thumbs and all(t["distinct"] > 1 for t in thumbs)  # pool images from the sprite, not blank


def test_right_vs_wrong_shows_where_wrong_images_leave_their_class(ui, served):
    show_run(ui, SEED)
    mode(ui, "pool")
    tb = served["tb"]
    pool = get_json(tb, "pool", run=SEED)
    session, last = pool["sessions"][0], pool["records"][-1]
    labels, layers = session["labels"], session["layers"]
    pack = get_pack(tb, run=SEED, step=last["step"])
    pred = classes(pack, "/pred")
    # the class with the most images on its smaller side, right or wrong
    def split(k):
        members = [i for i, t in enumerate(labels) if t == k]
        return [i for i in members if pred[i] == k], [i for i in members if pred[i] != k]

    c = max(sorted(set(labels)), key=lambda k: min(map(len, split(k))))
    right, wrong = split(c)
    assert right and wrong
    if ui.frame.eval_on_selector(".pool-class", "s => s.value") != str(c):
        ui.select(".pool-class", str(c))
    cols = ui.frame.eval_on_selector_all(".rw-grid th.rw-col", "els => els.map(e => [Number(e.dataset.image), e.classList.contains('good')])")
    assert cols == [[i, True] for i in right[:MAX_SHOWN]] + [[i, False] for i in wrong[:MAX_SHOWN]]
    assert f"{len(right)} right · {len(wrong)} wrong" in ui.frame.text_content(".right-wrong .controls")
    shown = [i for i, _ in cols]
    rows = ui.frame.eval_on_selector_all(
        ".rw-grid tr[data-layer]",
        "rows => rows.map(r => [r.dataset.layer, [...r.querySelectorAll('td')].map(td => "
        "td.classList.contains('own') ? 'own' : td.classList.contains('other') ? 'other' : 'none'), "
        "[...r.querySelectorAll('td')].map(td => td.classList.contains('departs'))])")
    assert [r[0] for r in rows] == layers
    nearest = {layer: classes(pack, f"{layer}/nearest") for layer in layers}
    for layer, states, _ in rows:
        want = ["none" if nearest[layer][i] is None else "own" if nearest[layer][i] == c else "other" for i in shown]
        assert states == want, layer
    # a wrong image leaves its class at the first layer from which it is never again nearest its class
    for k, i in enumerate(shown):
        marked = [l for l, (_, _, d) in enumerate(rows) if d[k]]
        if i in right:
            assert not marked
            continue
        depart = None
        for l in range(len(layers) - 1, -1, -1):
            if nearest[layers[l]][i] is None or nearest[layers[l]][i] == c:
                break
            depart = l
        assert marked == ([] if depart is None else [depart]), i
    (chart,) = ui.canvases(".right-wrong canvas.margin-chart")
    assert chart["distinct"] > 4
    thumbs = ui.canvases(".rw-grid th.rw-col canvas")
    assert len(thumbs) == len(shown) and all(t["distinct"] > 1 for t in thumbs)
    ui.frame.evaluate("() => document.querySelector('.right-wrong').scrollIntoView()")
    ui.shot("right_vs_wrong.png", docs=True)


def test_dataset_examples_under_each_channel_map(ui, served):
    show_run(ui, SEED)
    mode(ui, "flow")
    tb = served["tb"]
    pool = get_json(tb, "pool", run=SEED)
    session, last = pool["sessions"][0], pool["records"][-1]
    examples = session["examples"]
    assert examples, "the writer stored dataset examples"
    # a layer whose receptive field is about a third of the image: crops that show something
    layer = min(examples, key=lambda n: abs(examples[n]["field"]["size"][0] - session["image_shape"][0] / 3))
    before = ui.render_count()
    ui.frame.evaluate(f"() => window.cnnTbApp.selectLayer({json.dumps(layer)}, {{reveal: true}})")
    ui.wait_render(before)
    ui.frame.wait_for_selector(".detail .examples canvas")
    table = packs.value(get_pack(tb, run=SEED, step=last["step"], layer=layer, kinds="examples"), f"{layer}/examples")
    k = examples[layer]["top_k"]
    tiles = ui.frame.eval_on_selector_all(
        ".detail .map-tile[data-channel]",
        "els => els.map(e => [Number(e.dataset.channel), [...e.querySelectorAll('.examples canvas')].map(c => [Number(c.dataset.image), c.dataset.box])])")
    assert tiles
    channels = examples[layer]["channels"]
    for ch, shown in tiles:
        rows = table[channels.index(ch)]
        assert len(shown) == k == rows.shape[0]
        assert [i for i, _ in shown] == rows[:, 0].astype(int).tolist(), ch
        assert [b for _, b in shown] == [",".join(str(int(v)) for v in r[2:6]) for r in rows], ch
    crops = ui.canvases(".detail .examples canvas")
    assert len(crops) == k * len(tiles) and sum(c["distinct"] > 1 for c in crops) > 0.9 * len(crops)
    note = ui.frame.text_content(".detail .examples-note")
    size = examples[layer]["field"]["size"]
    assert f"the {k} pool images" in note and f"{size[0]:g}×{size[1]:g} px" in note
    ui.frame.evaluate("() => document.querySelector('.detail').scrollIntoView()")
    ui.shot("dataset_examples.png", docs=True)
    ui.click(".detail .close")


def test_resnet50_pool_view_and_cards_scale(ui, served):
    show_run(ui, RESNET)
    mode(ui, "pool")
    pool = get_json(served["tb"], "pool", run=RESNET)
    layers = pool["sessions"][0]["layers"]
    assert len(layers) > 170
    chart = ui.frame.eval_on_selector(".sep-chart", "c => Number(c.dataset.points)")
    assert chart == len(layers)
    grid = ui.frame.eval_on_selector(".rw-grid", "t => [t.classList.contains('compact'), Number(t.dataset.rows), t.querySelectorAll('tr[data-layer]').length]")
    assert grid == [True, len(layers), len(layers)]
    ms = ui.app("app.timings[app.timings.length - 1].ms")
    assert ms < 5000, f"the pool view of ResNet50 took {ms:.0f} ms"
    ui.shot("pool_view_resnet50.png")
    mode(ui, "flow")
    blocks = ui.frame.eval_on_selector_all(".block-col", "els => els.map(e => e.querySelector('.sep-badge') !== null)")
    assert blocks and all(blocks)  # a closed block shows its output layer's separation


def test_a_thousand_pool_epochs(ui, served):
    """1,001 pool epochs: the depth chart draws 40 of them (evenly spaced, the shown
    one always), /pool is served compressed, and stepping stays quick."""
    show_run(ui, LONG)
    mode(ui, "pool")
    assert ui.app("app.epochs.steps.length") == 1001
    assert ui.frame.eval_on_selector(".sep-chart", "c => Number(c.dataset.lines)") == 40
    assert "40 of 1001 pool epochs drawn" in ui.frame.text_content(".pool-card.separation .pool-legend")
    status, headers, body = served["tb"].get(f"/data/plugin/cnn_tb/pool?run={urllib.parse.quote(LONG)}")
    pool = json.loads(body)
    assert status == 200 and len(pool["records"]) == 1001 and pool["sampled"] is True
    full = [r["step"] for r in pool["records"] if not r.get("partial")]
    assert len(full) == pool["full_records"] < 1001 and full[0] == -1 and full[-1] == 999
    times = []
    for i in (17, 333, 650, 999):
        before = ui.render_count()
        ui.frame.evaluate(f"() => window.cnnTbApp.setIdx({i})")
        ui.wait_render(before)
        assert ui.frame.get_attribute(".pool-view", "data-pool-step") == str(i - 1)
        times.append(ui.app("app.timings[app.timings.length - 1].ms"))
        # a pool step served light is fetched whole: its confusion matrix and pairs are drawn
        assert ui.frame.query_selector(".pool-card.confusion canvas.confusion") is not None
        fetched = [u for u in ui.requests if "/pool_record?" in u]
        assert (f"step={i - 1}" in "".join(fetched)) == (i - 1 not in full)
    assert max(times) < 2000, times
    ui.shot("pool_view_long_run.png")  # pool step 998: served light, fetched whole


def test_a_run_without_a_pool_explains_how_to_log_one(ui, served):
    show_run(ui, "deep_run/cnn_tb")
    mode(ui, "pool")
    text = ui.frame.text_content('[data-empty="pool"]')
    assert "no held-out pool" in text and "pool=pool" in text
    assert not ui.frame.query_selector(".sep-badge")
    mode(ui, "flow")
    assert not ui.frame.query_selector(".sep-badge")
    assert not ui.errors, ui.errors  # no script error on the page during this module
