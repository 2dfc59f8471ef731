"""Unit tests of cnn_tb.plugin.histogram_reader (/histograms) on synthetic runs written
as event files: the epoch records' histograms, and the Histograms-dashboard tags of runs
written before the records held them. Every expected bucket is recomputed with numpy."""

import json
import os

import numpy as np
import pytest

from cnn_tb.contract import records, tags
from tests.support import fixture_writer
from tests.support.plugin_client import make_client, url
from tests.support.tb_data import LogDir

NEW, OLD = "new/cnn_tb", "old/cnn_tb"
STEPS = (-1, 0, 1, 2)


def f7(x):
    """7 significant digits, as records are served."""
    return float(f"{float(x):.7g}")


def _dashboard_tag(layer):
    return f"{tags.TAGS['activation_hist']}/{layer}"


def _write_dashboard_histograms(run_dir, by_step):
    """``{step: {layer: [k, 3] array}}`` as Histograms-dashboard tensors (as older writers did)."""
    import tensorflow as tf
    from tensorboard.plugins.histogram import metadata as histogram_metadata

    writer = fixture_writer.file_writer(run_dir)  # a second event file of the same run
    with writer.as_default():
        for step, layers in by_step.items():
            for layer, arr in layers.items():
                md = histogram_metadata.create_summary_metadata(display_name=layer, description="")
                tf.summary.write(_dashboard_tag(layer), tf.constant(arr, tf.float64), step=step, metadata=md)
    writer.close()


OLD_HISTOGRAMS = {
    0: {"conv1": np.array([[0.0, 0.5, 3.0], [0.5, 1.0, 7.0]]),
        "conv2": np.array([[0.0, 1.0, 2.0], [1.0, np.nan, 4.0], [1.0, 2.0, -1.0], [2.0, 3.0, 5.0]]),  # 2 bad rows
        "add": np.array([[0.0, 1.0], [1.0, 2.0]]),  # not [k, 3]: unreadable
        "pool": np.stack([np.arange(10_000.0), np.arange(10_000.0) + 1, np.ones(10_000)], axis=1)},  # the most rows
    1: {"conv1": np.array([[-1.0, 0.0, 1.0], [0.0, 2.5, 9.0], [2.5, 5.0, 0.0]]),
        "conv2": np.array([[np.inf, 1.0, 1.0]]),  # no usable row
        "add": np.array([[0.0, 1.0, 4.0]]),  # one row: a histogram all the same
        "pool": np.stack([np.arange(10_001.0), np.arange(10_001.0) + 1, np.ones(10_001)], axis=1)},  # too many
}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hist"))
    new = fixture_writer.write_run(os.path.join(root, NEW), steps=STEPS)
    fixture_writer.write_run(os.path.join(root, OLD), steps=(0, 1), histograms=False)
    _write_dashboard_histograms(os.path.join(root, OLD), OLD_HISTOGRAMS)
    return root, new


def _get(client, run, layer):
    r = client.get(url("histograms", run=run, layer=layer))
    return r.status_code, (json.loads(r.data) if r.status_code == 200 else r.data.decode())


def _expected_from_records(root, layer):
    raw = LogDir(root).tensors(NEW, tags.EPOCH_TAG, tags.PLUGIN_NAME)
    out = []
    for step in sorted(raw):
        rec = records.decode_json(raw[step])
        h = np.asarray(rec["histograms"][layer], np.float64)
        lo, hi, counts = h[0], h[1], h[2:]
        if lo == hi:
            buckets = [[f7(lo - 0.5), f7(hi + 0.5), float(counts.sum())]]
        else:
            edges = np.linspace(lo, hi, len(counts) + 1)
            buckets = [[f7(a), f7(b), float(c)] for a, b, c in zip(edges[:-1], edges[1:], counts)]
        out.append({"step": step, "wall_time": rec["wall_time"], "buckets": buckets})
    return out


@pytest.mark.parametrize("layer", ["conv1", "dense", "flatten"])
def test_histograms_come_from_the_epoch_records(logdir, layer):
    root, _ = logdir
    client = make_client(root)
    assert b", " not in client.get(url("histograms", run=NEW, layer=layer)).data  # compact JSON
    status, data = _get(client, NEW, layer)
    assert status == 200
    want = _expected_from_records(root, layer)
    assert data == {"run": NEW, "layer": layer, "tag": tags.EPOCH_TAG, "steps": list(STEPS), "histograms": want}
    assert [h["wall_time"] for h in data["histograms"]] == [1.0e9 + s for s in STEPS]


def test_a_single_valued_histogram_is_one_bucket_around_the_value(tmp_path):
    root = str(tmp_path)
    fixture_writer.write_run(os.path.join(root, NEW), steps=(0,))
    import tensorflow as tf

    rec = json.loads(records.encode_json(fixture_writer.epoch_record(
        [fixture_writer._complete_layer(l) for l in fixture_writer.default_layers()], 1, 3, 3, [0, 1, 2],
        np.random.default_rng(0))))
    rec["histograms"]["conv1"] = [2.0, 2.0, 3, 4, 5]
    writer = fixture_writer.file_writer(os.path.join(root, NEW))
    with writer.as_default():
        tf.summary.write(tags.EPOCH_TAG, tf.constant(json.dumps(rec).encode()), step=1,
                         metadata=tags.create_summary_metadata(tags.EPOCH_TAG))
    writer.close()
    status, data = _get(make_client(root), NEW, "conv1")
    assert status == 200 and data["steps"] == [0, 1]
    assert data["histograms"][1]["buckets"] == [[1.5, 2.5, 12.0]]


def test_an_epoch_records_histograms_are_kept_packed():
    """What the cache keeps of an epoch record: every layer's histogram as parsed, in one array."""
    from cnn_tb.plugin.histogram_reader import EpochHistograms

    obj = {"wall_time": 12.5, "histograms": {"a": [0.0, 1.0, 3, 4], "b": [-2.0, 2.0, 1, 0, 7], "bad": [1.0, 0.0, 3]}}
    rec = EpochHistograms.of(obj)
    assert rec.wall_time == 12.5 and rec.names == ("a", "b")
    assert rec.get("a").tolist() == [0.0, 1.0, 3.0, 4.0] and rec.get("b").tolist() == [-2.0, 2.0, 1.0, 0.0, 7.0]
    assert rec.get("bad") is None and rec.get("c") is None
    assert rec.size() >= rec.values.nbytes == 9 * 8
    assert EpochHistograms.of({"wall_time": 1.0}) is None and EpochHistograms.of({"histograms": {"x": [0, 1]}}) is None


def test_unknown_layers_and_layers_without_histograms_are_404(logdir):
    root, _ = logdir
    client = make_client(root)
    assert _get(client, NEW, "nope") == (404, f"Not found: unknown layer 'nope' in run '{NEW}'")
    status, text = _get(client, NEW, "input")  # the input layer has no histogram
    assert status == 404 and "has no activation histograms" in text and "histograms=False" in text
    status, text = _get(client, "nope/cnn_tb", "conv1")
    assert status == 404 and "unknown run" in text


def test_older_runs_fall_back_to_the_dashboard_tags(logdir, monkeypatch, caplog):
    from cnn_tb.plugin import log

    monkeypatch.setattr(log, "_warned", set())
    caplog.set_level("WARNING", logger="cnn_tb.plugin")
    root, _ = logdir
    client = make_client(root)
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(os.path.join(root, OLD), size_guidance={"tensors": 0})
    acc.Reload()
    for layer in ("conv1", "conv2", "add", "pool"):
        status, data = _get(client, OLD, layer)
        assert status == 200 and data["tag"] == _dashboard_tag(layer) and data["run"] == OLD and data["layer"] == layer
        wall = {e.step: e.wall_time for e in acc.Tensors(_dashboard_tag(layer))}
        want = []
        for step in sorted(OLD_HISTOGRAMS):
            arr = OLD_HISTOGRAMS[step].get(layer)
            if arr is None:
                continue
            if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) > 10_000:
                continue
            rows = arr[np.isfinite(arr).all(axis=1) & (arr[:, 2] >= 0)]
            if len(rows):
                want.append({"step": step, "wall_time": wall[step], "buckets": [[f7(v) for v in r] for r in rows]})
        assert data["histograms"] == want and data["steps"] == [h["step"] for h in want]
    assert [h["step"] for h in _get(client, OLD, "conv2")[1]["histograms"]] == [0]  # step 1 had no usable row
    # a tensor that is not [k, 3] (step 0) or has too many rows (step 1) is skipped; the rest is served
    assert _get(client, OLD, "add")[1]["steps"] == [1] and _get(client, OLD, "pool")[1]["steps"] == [0]
    assert len(_get(client, OLD, "pool")[1]["histograms"][0]["buckets"]) == 10_000
    messages = sorted(r.getMessage() for r in caplog.records)
    assert messages == [f"cnn_tb: skipping unreadable histogram(s) {_dashboard_tag(l)} of run '{OLD}'"
                        for l in ("add", "conv2", "pool")]  # one warning per run and tag, however many steps
    status, text = _get(client, OLD, "dense")  # neither records nor dashboard tags
    assert (status, text) == (404, f"Not found: layer 'dense' of run '{OLD}' has no activation histograms "
                                   "(they are written for logged layers unless histograms=False)")
    raw = client.get(url("histograms", run=OLD, layer="conv1")).data
    assert b", " not in raw and b": " not in raw  # compact JSON


def test_dashboard_histograms_are_read_once_per_version(logdir, monkeypatch):
    root, _ = logdir
    client = make_client(root)
    reader = client.plugin.reader
    calls = []
    original = reader._histogram_data
    monkeypatch.setattr(reader, "_histogram_data", lambda *a: calls.append(a[3]) or original(*a))
    first = _get(client, OLD, "conv1")
    assert _get(client, OLD, "conv1") == first and calls == [_dashboard_tag("conv1")]


def test_new_steps_show_at_once(tmp_path):
    """The answers are cached per version of the series: a new step is served after a reload."""
    root = str(tmp_path)
    fixture_writer.write_run(os.path.join(root, NEW), steps=(0, 1))
    fixture_writer.write_run(os.path.join(root, OLD), steps=(0,), histograms=False)
    _write_dashboard_histograms(os.path.join(root, OLD), {0: {"conv1": OLD_HISTOGRAMS[0]["conv1"]}})
    client = make_client(root)
    assert _get(client, NEW, "conv1")[1]["steps"] == [0, 1]
    assert _get(client, OLD, "conv1")[1]["steps"] == [0]
    fixture_writer.write_run(os.path.join(root, NEW), steps=(2,))
    _write_dashboard_histograms(os.path.join(root, OLD), {1: {"conv1": OLD_HISTOGRAMS[1]["conv1"]}})
    client.multiplexer.Reload()
    assert _get(client, NEW, "conv1")[1]["steps"] == [0, 1, 2]
    assert _get(client, OLD, "conv1")[1]["steps"] == [0, 1]
