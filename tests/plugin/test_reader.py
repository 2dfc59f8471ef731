"""Unit tests of cnn_tb.plugin.reader.FlowReader, used directly over TensorBoard's
MultiplexerDataProvider on event files written by tests.support.fixture_writer."""

import gzip
import json
import os
import zlib

import numpy as np
import pytest
from tensorboard import context, errors
from tensorboard.data import provider as tb_provider

from cnn_tb.contract import packs, records, tags
from cnn_tb.plugin.reader import PNG_MAGIC, FlowReader
from tests.support import fixture_writer

EID = ""
RUN_A, RUN_B = "a/cnn_tb", "b/cnn_tb"
STEPS_A, STEPS_B = [-1, 0, 1, 2], [-1, 0]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """Two cnn_tb runs and one run of plain scalars (like keras' train/)."""
    import tensorflow as tf

    root = str(tmp_path_factory.mktemp("reader"))
    info = {
        RUN_A: fixture_writer.write_run(os.path.join(root, "a", "cnn_tb"), steps=tuple(STEPS_A), n_probes=3),
        RUN_B: fixture_writer.write_run(os.path.join(root, "b", "cnn_tb"), steps=tuple(STEPS_B), n_probes=2, seed=1),
    }
    writer = tf.summary.create_file_writer(os.path.join(root, "train"))
    with writer.as_default():
        tf.summary.scalar("epoch_loss", 0.5, step=0)
    writer.close()
    return root, info


def _fresh_reader(root, pack_files=False):
    """``(FlowReader, its multiplexer, its data provider)`` over the event files of
    ``root``; ``pack_files``: reading format-2 pack files under ``root``."""
    from cnn_tb.plugin.pack_files import PackFiles

    from tensorboard.backend.event_processing import data_provider as dp_module
    from tensorboard.backend.event_processing import plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"cnn_tb": 0})
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    provider = dp_module.MultiplexerDataProvider(multiplexer, root)
    return FlowReader(provider, downsample=0, pack_files=PackFiles(root, "") if pack_files else None), multiplexer, provider



@pytest.fixture(scope="module")
def data_provider(logdir):
    return _fresh_reader(logdir[0])[2]


@pytest.fixture
def reader(data_provider):
    return FlowReader(data_provider, downsample=0)


@pytest.fixture
def ctx():
    return context.RequestContext()


def stored_blobs(dp, ctx, run, tag, step):
    """The blobs of ``tag`` at ``step``, read straight from the provider."""
    flt = tb_provider.RunTagFilter(runs=[run], tags=[tag])
    data = dp.read_blob_sequences(ctx, experiment_id=EID, plugin_name=tags.PLUGIN_NAME, downsample=1000,
                                  run_tag_filter=flt)
    (datum,) = [d for d in data[run][tag] if d.step == step]
    return [dp.read_blob(ctx, blob_key=ref.blob_key) for ref in datum.values]


def expected_run_record(info):
    rec = fixture_writer.run_record(info["layers"], info["n_probes"], info["class_names"], info["labels"])
    return records.parse_run_record(records.decode_json(records.encode_json(rec)))


def activation_names(layers):
    names = set()
    for l in layers:
        if not l["logged"]:
            continue
        if l["kind"] == "map":
            names |= {f"{l['name']}/{k}" for k in ("maps", "mean", "max")}
            if l["is_conv"]:
                names.add(f"{l['name']}/gradcam")
        elif l["kind"] == "vector":
            names.add(f"{l['name']}/vector")
    return names


def header_of(raw):
    return packs.parse_raw(raw)[0]


# ------------------------------------------------------------------------ runs


def test_runs_lists_exactly_the_flow_runs(reader, ctx):
    runs = reader.runs_impl(ctx, EID)
    assert [r["run"] for r in runs] == [RUN_A, RUN_B]  # not "train"
    a, b = runs
    assert set(a) == {"run", "has_model", "last_step", "last_wall_time"}
    assert a["has_model"] is True and b["has_model"] is True
    assert a["last_step"] == 2 and b["last_step"] == 0
    assert isinstance(a["last_wall_time"], float) and a["last_wall_time"] > 0


def test_run_is_the_parsed_run_record(reader, ctx, logdir):
    for run in (RUN_A, RUN_B):
        info = logdir[1][run]
        got = reader.run_impl(ctx, EID, run)
        want = expected_run_record(info)
        blocks = got.pop("blocks")
        assert got == dict(want, run=run, run_step=-1, probe_images=info["n_probes"])
        # seven layers: shown whole, in network order
        assert blocks["flat"] is True and blocks["top"] == [["layer", i] for i in range(7)]
        assert [l["name"] for l in got["layers"]] == ["input", "conv1", "conv2", "add", "pool", "flatten", "dense"]
        assert got["probes"]["class_names"] == ["circle", "square", "triangle"]
        assert got["probes"]["count"] == info["n_probes"]
        assert got["gradcam_layers"] == ["conv1", "conv2"]
        assert got["output_layer"] == "dense"
    json.dumps(got, allow_nan=False)


def test_run_record_is_memoized_until_the_series_changes(reader, ctx):
    first = reader.run_impl(ctx, EID, RUN_A)
    assert reader.run_impl(ctx, EID, RUN_A) == first


# ---------------------------------------------------------------------- epochs


def test_epochs_lists_every_step_with_its_record(reader, ctx, logdir):
    info = logdir[1][RUN_A]
    data = reader.epochs_impl(ctx, EID, RUN_A)
    assert set(data) == {"run", "steps", "epochs", "full_epochs", "sampled"}
    assert data["full_epochs"] == len(STEPS_A) and data["sampled"] is False
    assert data["run"] == RUN_A
    assert data["steps"] == STEPS_A
    assert [e["step"] for e in data["epochs"]] == STEPS_A
    conv = ["conv1", "conv2"]
    for step, e in zip(STEPS_A, data["epochs"]):
        assert list(e) == list(records.EPOCH_SERVED)
        assert e["epochs_completed"] == step + 1
        assert e["logs"] == {"loss": records.opt_float(1.0 / (step + 2)),
                             "accuracy": records.opt_float(0.5 + 0.01 * step)}
        assert sorted(e["layers"]) == sorted(l["name"] for l in info["layers"][1:])
        assert e["layers"]["conv1"] == {
            "mean": records.opt_float(0.1 * step + 0.2), "std": 0.3, "min": 0.0, "max": 1.0 + step,
            "zero_frac": 0.4, "neg_frac": 0.0, "dead_frac": 0.1, "nonfinite": 0,
        }
        assert e["kernel_change"] == {c: (None if step < 0 else records.opt_float(0.1 / (step + 1))) for c in conv}
        assert e["nonfinite"] is False
        assert isinstance(e["wall_time"], float)
        assert len(e["predictions"]) == 3
        for i, p in enumerate(e["predictions"]):
            assert p["true"] == info["labels"][i]
            assert len(p["probs"]) == 3 and sum(p["probs"]) == pytest.approx(1.0, abs=1e-5)
            assert p["pred"] == int(np.argmax(p["probs"])) == p["top"][0][0]
            assert p["confidence"] == pytest.approx(max(p["probs"]), abs=1e-6)
            assert [c for c, _ in p["top"]] == list(np.argsort(-np.asarray(p["probs"]), kind="stable"))
    assert json.loads(gzip.decompress(reader.epochs_gzip_impl(ctx, EID, RUN_A))) == data
    assert reader.epochs_impl(ctx, EID, RUN_B)["steps"] == STEPS_B


# ----------------------------------------------------------------- probe images


def test_probe_is_the_stored_png(reader, ctx, data_provider):
    stored = stored_blobs(data_provider, ctx, RUN_A, tags.PROBES_TAG, -1)
    assert len(stored) == 3
    for i in range(3):
        png = reader.probe_impl(ctx, EID, RUN_A, i)
        assert png == stored[i] and png.startswith(PNG_MAGIC)


# ----------------------------------------------------------------------- packs


def test_activations_is_the_raw_stored_pack(reader, ctx, data_provider, logdir):
    layers = logdir[1][RUN_A]["layers"]
    for step in (-1, 2):
        stored = stored_blobs(data_provider, ctx, RUN_A, tags.ACTIVATIONS_TAG, step)
        assert len(stored) == 3
        for probe in range(3):
            raw = reader.activations_impl(ctx, EID, RUN_A, probe, step)
            assert raw == zlib.decompress(stored[probe])
            decoded = packs.decode_raw(raw)
            assert set(decoded) == activation_names(layers)
            arr, entry = decoded["conv1/maps"]
            assert arr.dtype == np.uint8 and arr.shape == (16, 16, 8)
            assert entry["meta"]["full_shape"] == [16, 16, 8] and entry["meta"]["channels"] == list(range(8))
            assert decoded["dense/vector"][0].shape == (3,)
            assert "step" not in header_of(raw)


def test_activations_subset_for_layer_and_kinds(reader, ctx):
    full = reader.activations_impl(ctx, EID, RUN_A, 1, 0)
    full_pack, full_entries = packs.decode_raw(full), {e["name"]: e for e in header_of(full)["arrays"]}

    def check(sub, names):
        header = header_of(sub)
        assert header["step"] == 0 and header["probe"] == 1
        assert [e["name"] for e in header["arrays"]] == [n for n in full_entries if n in names]
        decoded = packs.decode_raw(sub)
        offset = 0
        for e in header["arrays"]:
            assert e == dict(full_entries[e["name"]], offset=offset)
            np.testing.assert_array_equal(decoded[e["name"]][0], full_pack[e["name"]][0])
            offset += e["nbytes"]

    check(reader.activations_impl(ctx, EID, RUN_A, 1, 0, layer="conv1", kinds={"maps", "mean"}),
          {"conv1/maps", "conv1/mean"})
    check(reader.activations_impl(ctx, EID, RUN_A, 1, 0, layer="conv2"),
          {"conv2/maps", "conv2/mean", "conv2/max", "conv2/gradcam"})
    check(reader.activations_impl(ctx, EID, RUN_A, 1, 0, kinds={"vector"}), {"flatten/vector", "dense/vector"})
    check(reader.activations_impl(ctx, EID, RUN_A, 1, 0, layer="pool", kinds={"gradcam"}), set())


def test_kernels(reader, ctx, data_provider, logdir):
    layers = {l["name"]: l for l in logdir[1][RUN_A]["layers"]}
    for step in STEPS_A:
        (stored,) = stored_blobs(data_provider, ctx, RUN_A, tags.KERNELS_TAG, step)
        raw = reader.kernels_impl(ctx, EID, RUN_A, step)
        assert raw == zlib.decompress(stored)
        decoded = packs.decode_raw(raw)
        assert sorted(decoded) == ["conv1/kernel", "conv2/kernel"]
        for name, (arr, entry) in decoded.items():
            layer = layers[packs.split_array_name(name)[0]]
            assert list(arr.shape) == layer["kernel_shape"]
            assert entry["lo"] == -entry["hi"] and entry["hi"] > 0
            assert entry["meta"] == {"full_shape": layer["kernel_shape"], "layer_class": "Conv2D"}
    sub = reader.kernels_impl(ctx, EID, RUN_A, 1, layer="conv2")
    header = header_of(sub)
    assert header["step"] == 1 and "probe" not in header
    assert [e["name"] for e in header["arrays"]] == ["conv2/kernel"]
    full = packs.decode_raw(reader.kernels_impl(ctx, EID, RUN_A, 1))
    np.testing.assert_array_equal(packs.decode_raw(sub)["conv2/kernel"][0], full["conv2/kernel"][0])


def test_steps_hold_different_data(reader, ctx):
    a = packs.decode_raw(reader.activations_impl(ctx, EID, RUN_A, 0, -1))
    b = packs.decode_raw(reader.activations_impl(ctx, EID, RUN_A, 0, 2))
    assert not np.array_equal(packs.value(a, "conv1/maps"), packs.value(b, "conv1/maps"))


# ------------------------------------------------------------------- not found


NOT_FOUND = [
    # (call, message fragment)
    (lambda r, c: r.run_impl(c, EID, "nope/cnn_tb"), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.run_impl(c, EID, "train"), "unknown run 'train'"),
    (lambda r, c: r.epochs_impl(c, EID, "nope/cnn_tb"), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.epochs_gzip_impl(c, EID, "nope/cnn_tb"), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.probe_impl(c, EID, "nope/cnn_tb", 0), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.probe_impl(c, EID, RUN_A, 3), "unknown probe 3"),
    (lambda r, c: r.activations_impl(c, EID, "nope/cnn_tb", 0, 0), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.activations_impl(c, EID, RUN_A, 50, 0), "blob 50 at step 0"),
    (lambda r, c: r.activations_impl(c, EID, RUN_A, 0, 777), "no cnn_tb/activations data for step 777"),
    (lambda r, c: r.activations_impl(c, EID, RUN_B, 0, 1), "no cnn_tb/activations data for step 1"),
    (lambda r, c: r.activations_impl(c, EID, RUN_A, 0, 0, layer="ghost"), "unknown layer 'ghost'"),
    (lambda r, c: r.activations_impl(c, EID, RUN_A, 0, 0, layer="input"), "layer 'input' has no activation data"),
    (lambda r, c: r.kernels_impl(c, EID, "nope/cnn_tb", 0), "unknown run 'nope/cnn_tb'"),
    (lambda r, c: r.kernels_impl(c, EID, RUN_A, 123), "no cnn_tb/kernels data for step 123"),
    (lambda r, c: r.kernels_impl(c, EID, RUN_A, 0, layer="ghost"), "unknown layer 'ghost'"),
    (lambda r, c: r.kernels_impl(c, EID, RUN_A, 0, layer="pool"), "layer 'pool' has no kernel data"),
]


@pytest.mark.parametrize("call,fragment", NOT_FOUND, ids=[f for _, f in NOT_FOUND])
def test_unknown_names_raise_not_found(reader, ctx, call, fragment):
    with pytest.raises(errors.NotFoundError) as info:
        call(reader, ctx)
    assert fragment in str(info.value)


# ----------------------------------------------------------------- blob reads


def test_one_blob_read_per_activations_request(reader, ctx, data_provider, monkeypatch):
    calls = []
    original = data_provider.read_blob

    def counting(ctx=None, *, blob_key):
        calls.append(blob_key)
        return original(ctx, blob_key=blob_key)

    monkeypatch.setattr(data_provider, "read_blob", counting)
    first = reader.activations_impl(ctx, EID, RUN_A, 2, 1)
    assert len(calls) == 1
    assert reader.activations_impl(ctx, EID, RUN_A, 2, 1) == first
    assert len(calls) == 1  # a repeat is served from the cache
    reader.activations_impl(ctx, EID, RUN_A, 2, 1, layer="conv1", kinds={"maps"})
    assert len(calls) == 1  # a subset of the same pack, too
    reader.activations_impl(ctx, EID, RUN_A, 0, 1)
    assert len(calls) == 2  # another probe: its own blob
    reader.kernels_impl(ctx, EID, RUN_A, 1)
    reader.kernels_impl(ctx, EID, RUN_A, 1, layer="conv1")
    assert len(calls) == 3
    assert len(set(calls)) == 3


# --------------------------------------------- listings, caches and warnings


@pytest.fixture
def fresh_warnings(monkeypatch, caplog):
    from cnn_tb.plugin import log

    monkeypatch.setattr(log, "_warned", set())
    caplog.set_level("WARNING", logger="cnn_tb.plugin")
    return caplog


def test_a_new_run_and_a_run_without_epochs_are_listed_at_once(tmp_path, ctx):
    root = str(tmp_path)
    fixture_writer.write_run(os.path.join(root, "a", "cnn_tb"), steps=(-1, 0))
    reader, multiplexer, _ = _fresh_reader(root)
    assert [r["run"] for r in reader.runs_impl(ctx, EID)] == ["a/cnn_tb"]
    # a run that has started: its run record is written, no epoch is complete yet
    fixture_writer.write_run(os.path.join(root, "b", "cnn_tb"), steps=(-1,), skip_epoch_for=(-1,))
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    runs = reader.runs_impl(ctx, EID)  # the listing is fresh: no wait for a cache to expire
    assert [r["run"] for r in runs] == ["a/cnn_tb", "b/cnn_tb"]
    assert runs[1] == {"run": "b/cnn_tb", "has_model": True, "last_step": None, "last_wall_time": None}
    assert runs[0]["last_step"] == 0 and runs[0]["last_wall_time"] > 0
    assert reader.epochs_impl(ctx, EID, "b/cnn_tb") == {"run": "b/cnn_tb", "steps": [], "epochs": [],
                                                        "full_epochs": 0, "sampled": False}


def test_records_are_decoded_once_per_version(tmp_path, ctx, monkeypatch):
    root = str(tmp_path)
    fixture_writer.write_run(os.path.join(root, "a", "cnn_tb"), steps=(-1, 0))
    reader, _, _ = _fresh_reader(root)
    calls = []
    original = reader._decoded_records
    monkeypatch.setattr(reader, "_decoded_records", lambda *a, **k: calls.append(a[3]) or original(*a, **k))
    first = reader.run_impl(ctx, EID, "a/cnn_tb")
    assert reader.run_impl(ctx, EID, "a/cnn_tb") == first and calls == [tags.RUN_TAG]
    h = reader.histograms_impl(ctx, EID, "a/cnn_tb", "conv1")
    assert reader.histograms_impl(ctx, EID, "a/cnn_tb", "conv1") == h and calls == [tags.RUN_TAG, tags.EPOCH_TAG]
    reader.histograms_impl(ctx, EID, "a/cnn_tb", "conv2")
    assert calls == [tags.RUN_TAG, tags.EPOCH_TAG, tags.EPOCH_TAG]  # another layer: its own answer


def test_a_rewritten_run_record_is_served_at_once(tmp_path, ctx):
    root = str(tmp_path)
    run_dir = os.path.join(root, "a", "cnn_tb")
    fixture_writer.write_run(run_dir, steps=(-1, 0))
    reader, multiplexer, _ = _fresh_reader(root)
    assert reader.run_impl(ctx, EID, "a/cnn_tb")["probes"]["class_names"] == ["circle", "square", "triangle"]
    # the writer writes the run record again (e.g. new feature-visualization settings)
    fixture_writer.write_run(run_dir, steps=(1,), class_names=["x", "y", "z"])
    multiplexer.Reload()
    got = reader.run_impl(ctx, EID, "a/cnn_tb")
    assert got["probes"]["class_names"] == ["x", "y", "z"] and got["run_step"] == 1


def test_a_structure_that_cannot_be_computed_is_flat_with_one_warning(tmp_path, ctx, monkeypatch, fresh_warnings):
    from cnn_tb.plugin import structure

    def broken(*args, **kwargs):
        raise ValueError("odd record")

    root = str(tmp_path)
    for name in ("a", "b"):
        fixture_writer.write_run(os.path.join(root, name, "cnn_tb"), steps=(-1, 0))
    monkeypatch.setattr(structure, "block_structure", broken)
    reader, _, _ = _fresh_reader(root)
    for run in ("a/cnn_tb", "b/cnn_tb"):
        got = reader.run_impl(ctx, EID, run)
        assert got["blocks"] == structure.flat_structure(len(got["layers"])) and len(got["layers"]) == 7
    messages = [r.getMessage() for r in fresh_warnings.records]
    assert messages == ["cnn_tb: no block structure for run 'a/cnn_tb' (ValueError: odd record)",
                        "cnn_tb: no block structure for run 'b/cnn_tb' (ValueError: odd record)"]


def test_blocks_are_the_structure_of_the_record(ctx, tmp_path):
    """The record's model name (stripped from layer names) and output layer shape the blocks."""
    from cnn_tb.plugin import structure

    layers = fixture_writer.chain_layers(40)
    for i, layer in enumerate(layers[1:41]):  # names that start with the model's name, as ConvNeXt's
        layer["name"] = f"fixture_net_stage_{i // 10 + 1}_block_{i % 10 + 1}_conv"
    for layer, before in zip(layers[1:], layers[:-1]):
        layer["inbound"] = [before["name"]]
    root = str(tmp_path)
    fixture_writer.write_run(os.path.join(root, "deep", "cnn_tb"), steps=(0,), layers=layers,
                             output_layer=layers[25]["name"])
    reader, _, _ = _fresh_reader(root)
    got = reader.run_impl(ctx, EID, "deep/cnn_tb")
    assert got["model_name"] == "fixture_net" and got["output_layer"] == layers[25]["name"]
    want = structure.block_structure(got["layers"], "fixture_net", layers[25]["name"])
    assert got["blocks"] == want and want["flat"] is False and len(want["top"]) <= structure.MAX_TOP
    assert want != structure.block_structure(got["layers"], None, layers[25]["name"])
    assert want != structure.block_structure(got["layers"], "fixture_net", None)


def test_probe_images_are_read_once_and_bad_ones_warn_once_per_run(tmp_path, ctx, monkeypatch, fresh_warnings):
    import tensorflow as tf

    root = str(tmp_path)
    good = fixture_writer.write_run(os.path.join(root, "good", "cnn_tb"), steps=(0,), n_probes=2)
    for name in ("bad1", "bad2"):
        fixture_writer.write_run(os.path.join(root, name, "cnn_tb"), steps=(0,), n_probes=2,
                                 probe_images=[b"GIF89a not a png", b"\x89PNG\r\n\x1a\n"])
    writer = tf.summary.create_file_writer(os.path.join(root, "noprobes", "cnn_tb"))  # a run record only
    with writer.as_default():
        rec = fixture_writer.run_record([fixture_writer._complete_layer(l) for l in fixture_writer.default_layers()],
                                        2, ["a", "b", "c"], [0, 1])
        tf.summary.write(tags.RUN_TAG, tf.constant(records.encode_json(rec)), step=0,
                         metadata=tags.create_summary_metadata(tags.RUN_TAG))
    writer.close()
    reader, _, provider = _fresh_reader(root)
    calls = []
    original = provider.read_blob
    monkeypatch.setattr(provider, "read_blob", lambda ctx=None, *, blob_key: calls.append(blob_key) or original(ctx, blob_key=blob_key))
    first = reader.probe_impl(ctx, EID, "good/cnn_tb", 1)
    assert first.startswith(PNG_MAGIC) and len(calls) == 1
    assert reader.probe_impl(ctx, EID, "good/cnn_tb", 1) == first and len(calls) == 1  # cached
    assert reader.probe_impl(ctx, EID, "good/cnn_tb", 0) != first and len(calls) == 2
    for run in ("bad1/cnn_tb", "bad2/cnn_tb", "bad1/cnn_tb"):
        with pytest.raises(errors.NotFoundError, match=f"probe 0 of run '{run}' is not a PNG image"):
            reader.probe_impl(ctx, EID, run, 0)
    assert [r.getMessage() for r in fresh_warnings.records] == [
        "cnn_tb: probe image(s) of run 'bad1/cnn_tb' are not PNG data",
        "cnn_tb: probe image(s) of run 'bad2/cnn_tb' are not PNG data",
    ]
    assert reader.probe_impl(ctx, EID, "bad1/cnn_tb", 1) == b"\x89PNG\r\n\x1a\n"  # the good one is served
    with pytest.raises(errors.NotFoundError) as info:
        reader.probe_impl(ctx, EID, "noprobes/cnn_tb", 0)
    assert str(info.value) == "Not found: run 'noprobes/cnn_tb' has no probe images"
    assert reader.run_impl(ctx, EID, "noprobes/cnn_tb")["probe_images"] == 0
    assert good["n_probes"] == 2


def test_new_epochs_are_served_at_once_and_the_payload_is_compact_json(tmp_path, ctx):
    root = str(tmp_path)
    run_dir = os.path.join(root, "a", "cnn_tb")
    fixture_writer.write_run(run_dir, steps=(-1, 0))
    reader, multiplexer, _ = _fresh_reader(root)
    assert reader.epochs_impl(ctx, EID, "a/cnn_tb")["steps"] == [-1, 0]
    fixture_writer.write_run(run_dir, steps=(1,))
    multiplexer.Reload()
    got = reader.epochs_impl(ctx, EID, "a/cnn_tb")
    assert got["steps"] == [-1, 0, 1] and got["full_epochs"] == 3
    assert reader.epoch_impl(ctx, EID, "a/cnn_tb", 1) == got["epochs"][2]
    raw = gzip.decompress(reader.epochs_gzip_impl(ctx, EID, "a/cnn_tb"))
    assert raw == json.dumps(got, separators=(",", ":"), allow_nan=False).encode()
    assert gzip.compress(raw, compresslevel=5, mtime=0) == reader.epochs_gzip_impl(ctx, EID, "a/cnn_tb")
    # answers are built once per version of the epoch series, and /histograms keeps its own parse
    calls = []
    original = reader._per_datum
    reader._per_datum = lambda *a, **k: calls.append(a[3]) or original(*a, **k)
    assert reader.epochs_impl(ctx, EID, "a/cnn_tb") == got and calls == []
    assert reader.epoch_impl(ctx, EID, "a/cnn_tb", 0) == got["epochs"][1] and calls == []
    h = json.loads(reader.histograms_impl(ctx, EID, "a/cnn_tb", "conv1"))
    assert h["steps"] == [-1, 0, 1] and len(h["histograms"][0]["buckets"]) == 30
    assert calls.count(tags.EPOCH_TAG) == 1  # (the run record written again at step 1 is read too)
    del reader._per_datum
    # another run's epochs are its own
    fixture_writer.write_run(os.path.join(root, "b", "cnn_tb"), steps=(7,))
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    assert reader.epochs_impl(ctx, EID, "b/cnn_tb")["steps"] == [7]
    assert reader.epochs_impl(ctx, EID, "a/cnn_tb")["steps"] == [-1, 0, 1]


def test_epoch_records_are_kept_as_bytes_in_a_bounded_cache(tmp_path, ctx):
    """/epochs and /epoch keep no parsed record per epoch: the served JSON of each
    record lives in a byte-bounded cache, and an evicted one is encoded again."""
    from cnn_tb.plugin.cache import ByteLRU, python_size

    root = str(tmp_path)
    steps = tuple(range(-1, 9))
    fixture_writer.write_run(os.path.join(root, "a", "cnn_tb"), steps=steps)
    roomy, _, _ = _fresh_reader(root)
    want = roomy.epochs_impl(ctx, EID, "a/cnn_tb")
    assert want["steps"] == list(steps) and want["full_epochs"] == len(steps)
    one = len(roomy.epoch_json_impl(ctx, EID, "a/cnn_tb", 3))
    tight, _, _ = _fresh_reader(root)
    tight._encoded = ByteLRU(3 * (one + 128) + 2 * one)  # room for about three records of ten
    assert tight.epochs_impl(ctx, EID, "a/cnn_tb") == want
    assert len(tight._encoded) < len(steps) and tight._encoded.size <= tight._encoded.max_bytes
    for i, step in enumerate(steps):  # evicted ones are encoded again, the same
        assert tight.epoch_impl(ctx, EID, "a/cnn_tb", step) == want["epochs"][i]
        assert tight.epoch_json_impl(ctx, EID, "a/cnn_tb", step) == json.dumps(
            want["epochs"][i], separators=(",", ":")).encode()
    with pytest.raises(errors.NotFoundError, match="no complete epoch record at step 99"):
        tight.epoch_impl(ctx, EID, "a/cnn_tb", 99)
    # what the memo keeps per epoch: a step and a wall time, no record
    (memo,) = [v for k, (_, v) in tight._derived._items.items() if k[0] == "epochs"]
    assert sorted(memo) == ["gzip", "steps", "wall_times"] and sorted(memo["wall_times"]) == list(steps)
    # the parsed-record cache counts Python objects, not their printed length
    rec = {"a": [1.5, 2.5], "b": "xy"}
    import sys
    assert python_size(rec) == sum(sys.getsizeof(x) for x in (rec, "a", "b", rec["a"], 1.5, 2.5, "xy"))


def _count_calls(monkeypatch, provider, method="list_tensors", arg="plugin_name"):
    """``kwargs[arg]`` of the calls of ``provider.<method>`` made on this thread (a
    stale listing is refreshed on a background thread, which a slow machine may reach)."""
    import threading

    calls, me, original = [], threading.current_thread(), getattr(provider, method)

    def counting(*args, **kwargs):
        if threading.current_thread() is me:
            calls.append(kwargs.get(arg))
        return original(*args, **kwargs)

    monkeypatch.setattr(provider, method, counting)
    return calls


def _count_listings(monkeypatch, provider):
    return _count_calls(monkeypatch, provider)


def test_an_epoch_the_last_listing_knows_is_served_without_listing_the_runs(tmp_path, ctx, monkeypatch):
    """/epoch of a step already listed asks the data provider for nothing (with
    TensorBoard's Rust data server a listing took ~40 ms at 1,000 epochs); a step
    written since is read at once (one read of the epoch tag, no listing)."""
    root = str(tmp_path)
    run_dir = os.path.join(root, "a", "cnn_tb")
    fixture_writer.write_run(run_dir, steps=(-1, 0, 1))
    reader, multiplexer, provider = _fresh_reader(root)
    want = reader.epochs_impl(ctx, EID, "a/cnn_tb")
    calls = _count_listings(monkeypatch, provider)
    reads = _count_calls(monkeypatch, provider, "read_tensors", "run_tag_filter")
    for i, step in enumerate(want["steps"]):
        assert reader.epoch_impl(ctx, EID, "a/cnn_tb", step) == want["epochs"][i]
    assert calls == [] and reads == []
    fixture_writer.write_run(run_dir, steps=(2,))
    multiplexer.Reload()
    got = reader.epoch_impl(ctx, EID, "a/cnn_tb", 2)
    assert got["step"] == 2 and calls == [] and [set(r.tags) for r in reads] == [{tags.EPOCH_TAG}]
    assert reader.epoch_impl(ctx, EID, "a/cnn_tb", 2) == got and calls == []
    with pytest.raises(errors.NotFoundError, match="no complete epoch record at step 3"):
        reader.epoch_impl(ctx, EID, "a/cnn_tb", 3)  # unknown: read, then refused
    assert calls == []


def test_a_first_request_about_the_last_step_decodes_that_record_alone(tmp_path, ctx, monkeypatch):
    """A page opening a long run asks for its last epoch (/epoch) and that epoch's
    maps (/activations, through the pack index) beside /epochs: on a reader that
    has decoded nothing yet, each reads the tag's last record alone (downsample 1:
    the Rust data server then sends one record) and decodes that one, not every
    epoch; the same answer as after /epochs has decoded them all."""
    root = str(tmp_path)
    steps = tuple(range(-1, 11))
    fixture_writer.write_run(os.path.join(root, "a", "cnn_tb"), steps=steps, pack_files=True)
    full, _, _ = _fresh_reader(root, pack_files=True)
    want_epoch = full.epoch_impl(ctx, EID, "a/cnn_tb", 10)
    want_maps = full.activations_impl(ctx, EID, "a/cnn_tb", 1, 10)
    want_maps_3, want_epoch_4 = full.activations_impl(ctx, EID, "a/cnn_tb", 1, 3), full.epoch_impl(ctx, EID, "a/cnn_tb", 4)
    assert want_epoch == full.epochs_impl(ctx, EID, "a/cnn_tb")["epochs"][-1]
    reader, _, provider = _fresh_reader(root, pack_files=True)
    decoded = []
    original = records.decode_json
    monkeypatch.setattr(records, "decode_json", lambda raw, what: decoded.append(what) or original(raw, what=what))
    reads = _count_calls(monkeypatch, provider, "read_tensors", "downsample")
    assert reader.epoch_impl(ctx, EID, "a/cnn_tb", 10) == want_epoch
    assert reads == [1] and decoded == [f"{tags.EPOCH_TAG} step 10"]
    assert reader.activations_impl(ctx, EID, "a/cnn_tb", 1, 10) == want_maps
    assert reads == [1, 1] and decoded[1:] == [f"{tags.PACKS_TAG} step 10"]
    # another step: the whole index, once (the last step's record is not decoded again)
    assert reader.activations_impl(ctx, EID, "a/cnn_tb", 1, 3) == want_maps_3
    packs_decoded = [w for w in decoded if w.startswith(tags.PACKS_TAG)]
    assert sorted(packs_decoded) == sorted(f"{tags.PACKS_TAG} step {s}" for s in steps)
    # an epoch not the last: one read of them all, one record decoded
    del decoded[:]
    assert reader.epoch_impl(ctx, EID, "a/cnn_tb", 4) == want_epoch_4
    assert decoded == [f"{tags.EPOCH_TAG} step 4"] and reads[-1] == reader._downsample
