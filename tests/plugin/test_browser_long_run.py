"""End-to-end: a run too large for /epochs to send whole, in the CNN Flow tab (headless
Chromium, 1600x1000, a real TensorBoard).

A synthetic run of a 150-convolution chain over 60 epochs (18,120 layer entries, more
than the 12,000 /epochs serves in full): 40 epochs come complete, 20 as partial
records. Showing a partial epoch fetches it whole (/epoch) and draws its own numbers;
the charts over epochs use the complete ones. The page draws the last epoch before
/epochs is in. Screenshots: tests/artifacts/long_run_partial_epoch.png,
long_run_drawn_before_epochs.png.
Skipped when Chromium is missing, except under CI=true.
"""

import json
import os
import urllib.parse
import urllib.request

import pytest

from cnn_tb.plugin import epochs as epochs_lib
from tests.plugin import test_browser as tbui
from tests.support import fixture_writer, tb_server

RUN = "deep_long/cnn_tb"
STEPS = tuple(range(-1, 59))
LAYER = "stage3_conv2"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("long_browser"))
    desc = fixture_writer.write_run(os.path.join(root, RUN), steps=STEPS, n_probes=2,
                                    layers=fixture_writer.chain_layers(150), pack_files=True)
    with tb_server.TensorBoard(root, load_fast="true") as tb:
        tb.wait_ready()
        tb.wait_for("/data/plugin/cnn_tb/runs", lambda s, b: s == 200 and b'"last_step": 58' in b, timeout=240)
        yield {"tb": tb, "desc": desc}


@pytest.fixture(scope="module")
def ui(served):
    with tbui.own_page(served["tb"].url, RUN) as u:
        yield u


def _served_epochs(served):
    with urllib.request.urlopen(served["tb"].url + f"/data/plugin/cnn_tb/epochs?run={RUN}") as r:
        return json.loads(r.read())


def _epoch_requests(ui):
    """The steps the page asked /epoch for, in order."""
    out = []
    for u in ui.requests:
        parts = urllib.parse.urlsplit(u)
        if parts.path.endswith("/data/plugin/cnn_tb/epoch"):
            out.append(int(urllib.parse.parse_qs(parts.query)["step"][0]))
    return out


def _detail_value(ui, stat):
    rows = ui.frame.eval_on_selector_all(".detail table.stats tr", "rs => rs.map(r => [...r.children].map(c => c.textContent))")
    return next(r[1] for r in rows if r[0] == stat)


def test_the_run_is_sampled_as_documented(served):
    got = _served_epochs(served)
    per_epoch = 152 + 150  # the statistics of every logged layer + the kernel change of every conv
    full = epochs_lib.full_indices(len(STEPS), per_epoch)
    assert len(full) == epochs_lib.MIN_FULL_EPOCHS and got["full_epochs"] == len(full) and got["sampled"] is True
    assert [i for i, e in enumerate(got["epochs"]) if not e.get("partial")] == full
    assert got["steps"] == list(STEPS)


def test_a_partial_epoch_is_fetched_whole_when_shown(ui, served):
    got = _served_epochs(served)
    partial = [i for i, e in enumerate(got["epochs"]) if e.get("partial")]
    i = partial[len(partial) // 2]
    step = STEPS[i]
    assert ui.app(f"app.epochs.epochs[{i}].partial") is True
    before = ui.render_count()
    ui.frame.evaluate(f"() => window.cnnTbApp.selectLayer('{LAYER}', {{ reveal: true }})")
    ui.wait_render(before)
    before = ui.render_count()
    ui.frame.fill(".epoch-slider", str(i))
    ui.wait_render(before)
    assert ui.app("app.step()") == step
    assert ui.app(f"app.epochs.epochs[{i}].partial") is None and ui.app(f"app.epochs.epochs[{i}].fetched") is True
    assert step in _epoch_requests(ui)
    # the fixture writes mean = 0.1 * step + 0.2 and max = 1 + step for every layer: the detail
    # panel shows the fetched epoch's own numbers
    assert float(_detail_value(ui, "mean")) == pytest.approx(0.1 * step + 0.2, rel=5e-3)
    assert float(_detail_value(ui, "max")) == pytest.approx(1.0 + step, rel=5e-3)
    (spark,) = ui.canvases(".detail table.stats tr:nth-child(2) canvas.spark")
    assert spark["distinct"] > 2  # a line through the complete epochs
    # the depth chart: one line per complete epoch (40) and the shown one
    chart = ui.frame.eval_on_selector(".depth-chart", "e => ({...e.dataset})")
    assert int(chart["lines"]) == epochs_lib.MIN_FULL_EPOCHS + 1 and int(chart["points"]) == 152
    ui.shot("long_run_partial_epoch.png")
    # back to a complete epoch: it is not asked for (only partial neighbours are, ahead)
    full = next(k for k in range(len(STEPS)) if not got["epochs"][k].get("partial") and k != i)
    before = ui.render_count()
    ui.frame.fill(".epoch-slider", str(full))
    ui.wait_render(before)
    assert float(_detail_value(ui, "mean")) == pytest.approx(0.1 * STEPS[full] + 0.2, rel=5e-3)
    # (the last epoch is asked for first, when the page opens: it draws from it while
    # /epochs loads; see test_the_last_epoch_is_drawn_before_the_epochs_come)
    first, *asked = _epoch_requests(ui)
    assert first == STEPS[-1]
    assert STEPS[full] not in asked and set(asked) <= {STEPS[k] for k in partial}
    assert len(asked) == len(set(asked))  # each partial epoch is fetched once


def test_the_last_epoch_is_drawn_before_the_epochs_come(served, ui):
    """The page does not wait for /epochs (a long run's first one decodes every epoch
    record): the flow is drawn from the last epoch's own record (/epoch) and its
    maps, the epoch bar waits (disabled, one epoch) and the state is "drawn"; then
    /epochs is asked for (held back here in the browser); once it is let through,
    the same view is patched in place (the same canvas nodes, the same pixels: the
    same epoch), the epoch bar has every epoch and the depth panel shows."""
    flow_cells = ".flow canvas"
    if True:  # a page of its own, in the module's Chromium
        page = ui.page.context.browser.new_page(viewport=tbui.VIEWPORT)
        try:
            u = tbui.Ui(page)
            held = []
            u.page.route("**/data/plugin/cnn_tb/epochs?**", lambda route: held.append(route))
            u.page.goto(served["tb"].url + "/#cnn_tb")
            u.page.wait_for_function(
                "() => [...document.querySelectorAll('iframe')].some(x => x.contentDocument && "
                "x.contentDocument.querySelector('#cnn-tb[data-state=drawn]'))", timeout=30000)
            for _ in range(200):  # asked for once the view is drawn
                if held:
                    break
                u.page.wait_for_timeout(50)
            assert held and u.app("app.epochs.provisional") is True and u.app("app.epochs.steps") == [STEPS[-1]]
            assert _epoch_requests(u) == [STEPS[-1]]
            bar = u.frame.eval_on_selector(".epoch-slider", "s => ({max: s.max, value: s.value, disabled: s.disabled})")
            assert bar == {"max": "1", "value": "1", "disabled": True}  # the one epoch known, at the end
            assert u.frame.eval_on_selector(".btn.play", "b => b.disabled") is True
            label = u.frame.text_content(".step-label")
            assert label == f"epoch {STEPS[-1] + 1} of {STEPS[-1] + 1}"
            assert u.frame.eval_on_selector(".depth-panel", "e => e.hidden") is True
            drawn = u.canvases(flow_cells)
            assert len(drawn) >= 3 and all(c["distinct"] > 1 for c in drawn)
            u.shot("long_run_drawn_before_epochs.png")
            u.frame.evaluate(f"() => document.querySelectorAll('{flow_cells}').forEach((c) => (c.__first = true))")
            for route in held:
                route.continue_()
            u.page.unroute("**/data/plugin/cnn_tb/epochs?**")
            u.wait_run(RUN)
            assert u.app("app.epochs.provisional === undefined") is True and len(u.app("app.epochs.steps")) == len(STEPS)
            bar = u.frame.eval_on_selector(".epoch-slider", "s => ({max: s.max, value: s.value, disabled: s.disabled})")
            assert bar == {"max": str(len(STEPS) - 1), "value": str(len(STEPS) - 1), "disabled": False}
            assert u.frame.text_content(".step-label") == label
            assert u.frame.eval_on_selector(".depth-panel", "e => e.hidden") is False
            after = u.canvases(flow_cells)
            assert [c["hash"] for c in after] == [c["hash"] for c in drawn]
            kept = u.frame.evaluate(f"() => [...document.querySelectorAll('{flow_cells}')].every((c) => c.__first === true)")
            assert kept is True  # patched in place, not rebuilt
            u.frame.wait_for_function("() => document.querySelector('.hist-image') !== null")
            assert not u.errors, u.errors
        finally:
            page.close()
