"""Route tests through TensorBoardWSGI + werkzeug Client on real event files."""

import io
import json
import os
import urllib.parse

import numpy as np
import pytest

from cnn_tb.contract import packs, tags
from cnn_tb.plugin import plugin as plugin_module
from tests.support import fixture_writer
from tests.support.plugin_client import P, make_client, url


def parse_pack(data):
    """An uncompressed pack response: ``(header, {name: (array, entry)})``."""
    return packs.parse_raw(data)[0], packs.decode_raw(data)


def value(pack, name):
    return packs.value(pack, name), pack[name][1]


# ------------------------------------------------------------------ real run


def test_runs_lists_the_trained_run(trained, trained_client):
    r = trained_client.get(f"{P}/runs")
    assert r.status_code == 200
    runs = r.get_json()
    assert [x["run"] for x in runs] == [trained["run"]]
    assert runs[0]["has_model"] is True
    assert runs[0]["last_step"] == trained["epochs"] - 1


def test_run_describes_model_and_probes(trained, trained_client):
    r = trained_client.get(url("run", run=trained["run"]))
    assert r.status_code == 200
    info = r.get_json()
    names = [l["name"] for l in info["layers"]]
    assert names[:3] == ["input", "conv1", "conv2"]
    assert info["output_layer"] == "predictions"
    add = info["layers"][names.index("add")]
    assert sorted(add["inbound"]) == ["conv1", "conv2"]
    assert info["probes"]["count"] == trained["n_probes"]
    assert info["probe_images"] == trained["n_probes"]
    assert info["probes"]["class_names"] == trained["class_names"]
    conv1 = info["layers"][1]
    assert conv1["is_conv"] and conv1["kernel_shape"] == [3, 3, 3, 8]
    assert conv1["output_shape"] == [16, 16, 8]


def test_epochs_lists_every_step_with_summaries(trained, trained_client):
    r = trained_client.get(url("epochs", run=trained["run"]))
    assert r.status_code == 200
    data = r.get_json()
    assert data["steps"] == trained["steps"]
    last = data["epochs"][-1]
    assert set(last["layers"]["conv1"]) >= set(tags.STAT_NAMES)
    assert len(last["predictions"]) == trained["n_probes"]
    assert "loss" in last["logs"]
    assert data["epochs"][0]["step"] == -1


def test_probe_png_is_the_probe_image(trained, trained_client):
    from PIL import Image

    r = trained_client.get(url("probe", run=trained["run"], probe=1))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.data)))
    expected = np.round(trained["probe_images"][1] * 255)
    assert img.shape == expected.shape
    assert np.abs(img.astype(float) - expected).max() <= 1


def test_activations_equal_model_activations(trained, trained_client):
    import keras

    model = trained["model"]
    probe, step = 2, trained["steps"][-1]  # the model's weights after the last epoch
    r = trained_client.get(url("activations", run=trained["run"], probe=probe, step=step))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    _, pack = parse_pack(r.data)
    layers = ["conv1", "conv2", "add", "pool", "conv3"]
    probe_model = keras.Model(model.inputs, [model.get_layer(n).output for n in layers + ["dense", "predictions"]])
    outs = probe_model([trained["probe_images"][probe : probe + 1]], training=False)
    outs = [np.asarray(o)[0] for o in outs]
    for name, act in zip(layers, outs):
        for red, fn in (("mean", np.mean), ("max", np.max)):
            got, e = value(pack, f"{name}/{red}")
            tol = (e["hi"] - e["lo"]) / 255 + 1e-4
            np.testing.assert_allclose(got, fn(act, axis=-1), atol=tol, err_msg=f"{name}/{red}")
        maps, e = value(pack, f"{name}/maps")
        channels = e["meta"]["channels"]
        tol = (np.asarray(e["hi"]) - np.asarray(e["lo"])) / 255 + 1e-4
        assert e["meta"].get("pool", 1) == 1
        err = np.abs(maps - act[..., channels])
        assert np.all(err <= tol), f"{name}/maps: max error {err.max()} > {tol.max()}"
    dense, e = value(pack, "dense/vector")
    np.testing.assert_allclose(dense, outs[-2], atol=(e["hi"] - e["lo"]) / 255 + 1e-4)
    probs, e = value(pack, "predictions/vector")
    np.testing.assert_allclose(probs, outs[-1], atol=(e["hi"] - e["lo"]) / 255 + 1e-4)
    epochs = trained_client.get(url("epochs", run=trained["run"])).get_json()
    pred = epochs["epochs"][-1]["predictions"][probe]
    np.testing.assert_allclose(pred["probs"], outs[-1], atol=1e-4)
    assert pred["pred"] == int(np.argmax(outs[-1]))


def test_kernels_equal_model_weights(trained, trained_client):
    model = trained["model"]
    r = trained_client.get(url("kernels", run=trained["run"], step=trained["steps"][-1], layer="conv2"))
    assert r.status_code == 200
    header, pack = parse_pack(r.data)
    assert list(pack) == ["conv2/kernel"]
    got, e = value(pack, "conv2/kernel")
    want = np.asarray(model.get_layer("conv2").kernel)
    np.testing.assert_allclose(got, want, atol=(e["hi"] - e["lo"]) / 255 + 1e-5)


def test_activation_filters_layer_and_kinds(trained, trained_client):
    run, step = trained["run"], trained["steps"][0]
    r = trained_client.get(url("activations", run=run, probe=0, step=step, layer="conv1", kinds="maps,mean"))
    assert r.status_code == 200
    header, pack = parse_pack(r.data)
    assert sorted(pack) == ["conv1/maps", "conv1/mean"]
    assert header["step"] == step and header["probe"] == 0
    full = parse_pack(trained_client.get(url("activations", run=run, probe=0, step=step)).data)[1]
    np.testing.assert_array_equal(pack["conv1/maps"][0], full["conv1/maps"][0])


def test_steps_change_the_data(trained, trained_client):
    run = trained["run"]
    a = parse_pack(trained_client.get(url("activations", run=run, probe=0, step=-1)).data)[1]
    b = parse_pack(trained_client.get(url("activations", run=run, probe=0, step=trained["steps"][-1])).data)[1]
    assert not np.array_equal(value(a, "conv1/maps")[0], value(b, "conv1/maps")[0])


def test_histograms_are_the_logged_activations(trained, trained_client):
    """Every step's histogram counts every sampled activation; the last one spans the model's values."""
    run = trained["run"]
    r = trained_client.get(url("histograms", run=run, layer="conv1"))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    data = r.get_json()
    assert data["steps"] == trained["steps"] and data["tag"] == "cnn_tb/epoch"  # the epoch records: every step
    n_values = trained["n_probes"] * 16 * 16 * 8  # under the writer's 16,384-value sample
    for h in data["histograms"]:
        buckets = np.asarray(h["buckets"])
        assert buckets.shape == (30, 3)
        assert buckets[:, 2].sum() == n_values
        np.testing.assert_allclose(buckets[1:, 0], buckets[:-1, 1], rtol=1e-6)  # contiguous buckets
    import keras

    model = trained["model"]
    acts = np.asarray(keras.Model(model.inputs, model.get_layer("conv1").output)(trained["probe_images"]))
    last = np.asarray(data["histograms"][-1]["buckets"])
    np.testing.assert_allclose([last[0, 0], last[-1, 1]], [acts.min(), acts.max()], atol=1e-4)
    counts, _ = np.histogram(acts.ravel(), bins=last[:, 0].tolist() + [last[-1, 1]])
    assert np.abs(counts - last[:, 2]).sum() <= 4  # values on a bucket edge may fall either side
    assert json.dumps(data, allow_nan=False)


def test_run_record_of_a_small_model_is_flat(trained, trained_client):
    info = trained_client.get(url("run", run=trained["run"])).get_json()
    blocks = info["blocks"]
    assert blocks["flat"] is True and blocks["blocks"] == []
    assert [info["layers"][i]["name"] for _, i in blocks["top"]] == [l["name"] for l in info["layers"]]


def test_run_record_of_resnet50_has_blocks(zoo_runs):
    root, runs = zoo_runs
    client = make_client(root)
    info = client.get(url("run", run=runs["ResNet50"]["run"])).get_json()
    layers, blocks = info["layers"], info["blocks"]
    assert blocks["flat"] is False
    names = [layers[i]["name"] if kind == "layer" else blocks["blocks"][i]["name"] for kind, i in blocks["top"]]
    assert blocks["top"][0] == ["layer", 0] and layers[0]["kind"] == "input"
    assert names[1:] == ["stem", "conv2", "conv3", "conv4", "conv5", "avg_pool", "predictions"]
    placed = []

    def visit(kind, i):
        if kind == "layer":
            placed.append(i)
        else:
            for child in blocks["blocks"][i]["children"]:
                visit(*child)

    for child in blocks["top"]:
        visit(*child)
    assert sorted(placed) == list(range(len(layers))) == list(range(runs["ResNet50"]["layers"]))
    r = client.get(url("histograms", run=runs["ResNet50"]["run"], layer="conv4_block3_out"))
    assert r.status_code == 200 and r.get_json()["steps"] == [-1, 0]


# ------------------------------------------------------------- bad requests


BAD_REQUESTS = [
    # (route, params, status, message fragment)
    ("run", {}, 400, "missing query parameter 'run'"),
    ("run", {"run": ""}, 400, "is empty"),
    ("run", {"run": "nope"}, 404, "unknown run"),
    ("epochs", {"run": "x" * 5000}, 400, "too long"),
    ("probe", {"run": "RUN"}, 400, "missing query parameter 'probe'"),
    ("probe", {"run": "RUN", "probe": "abc"}, 400, "must be an integer"),
    ("probe", {"run": "RUN", "probe": "-1"}, 400, "must be >= 0"),
    ("probe", {"run": "RUN", "probe": "99"}, 404, "unknown probe 99"),
    ("probe", {"run": "RUN", "probe": "1e3"}, 400, "must be an integer"),
    ("probe", {"run": "RUN", "probe": "9" * 40}, 400, "must be an integer"),
    ("probe", {"run": "RUN", "probe": "0\n"}, 400, "must be an integer"),  # "$" matches before a newline
    ("probe", {"run": "RUN", "probe": " 0"}, 400, "must be an integer"),
    ("activations", {"run": "RUN", "probe": "0"}, 400, "missing query parameter 'step'"),
    ("activations", {"run": "RUN", "probe": "0", "step": "1.5"}, 400, "must be an integer"),
    ("activations", {"run": "RUN", "probe": "0", "step": "777"}, 404, "no cnn_tb/activations data for step 777"),
    ("activations", {"run": "RUN", "probe": "50", "step": "0"}, 404, "blob 50"),
    ("activations", {"run": "RUN", "probe": "0", "step": "0", "layer": "nope"}, 404, "unknown layer 'nope'"),
    ("activations", {"run": "RUN", "probe": "0", "step": "0", "kinds": "maps,evil"}, 400, "comma-separated subset"),
    ("activations", {"run": "nope", "probe": "0", "step": "0"}, 404, "unknown run"),
    ("kernels", {"run": "RUN", "step": "x"}, 400, "must be an integer"),
    ("kernels", {"run": "RUN", "step": "123"}, 404, "no cnn_tb/kernels data for step 123"),
    ("kernels", {"run": "RUN", "step": "0", "layer": "pool"}, 404, "no kernel data"),
    ("kernels", {"run": "RUN", "step": "0", "layer": "\x00"}, 400, "NUL"),
    ("histograms", {"run": "RUN"}, 400, "missing query parameter 'layer'"),
    ("histograms", {"run": "RUN", "layer": ""}, 400, "is empty"),
    ("histograms", {"run": "RUN", "layer": "nope"}, 404, "unknown layer 'nope'"),
    ("histograms", {"run": "RUN", "layer": "input"}, 404, "has no activation histograms"),
    ("histograms", {"run": "nope", "layer": "conv1"}, 404, "unknown run"),
]


@pytest.mark.parametrize("route,params,status,fragment", BAD_REQUESTS)
def test_bad_parameters_give_4xx_with_message(trained, trained_client, route, params, status, fragment):
    params = {k: (trained["run"] if v == "RUN" else v) for k, v in params.items()}
    r = trained_client.get(url(route, **params))
    assert r.status_code == status, r.data
    assert r.headers["Content-Type"].startswith("text/plain")
    assert fragment in r.data.decode()


def test_repeated_parameter_is_rejected(trained, trained_client):
    run = urllib.parse.quote(trained["run"])
    r = trained_client.get(f"{P}/activations?run={run}&probe=0&probe=1&step=0")
    assert r.status_code == 400
    assert b"given 2 times" in r.data


def test_post_is_rejected(trained_client):
    r = trained_client.post(f"{P}/runs")
    assert r.status_code == 405


TRAVERSAL = [
    "static/..%2f..%2fplugin.py",
    "static/../../plugin.py",
    "static/..%2fplugin.py",
    "static/%2e%2e/%2e%2e/setup.py",
    "static/index.js/../../../setup.py",
    "static//etc/passwd",
    "static/%2fetc%2fpasswd",
    "static/....//....//setup.py",
    "static/index.js%00.png",
    "static/__init__.py",
    "static/",
    "static/INDEX.JS",
    "static/index.js.bak",
    "static/..\\..\\setup.py",
    "static/%5c..%5csetup.py",
]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_static_traversal_attempts_are_404(trained_client, path):
    r = trained_client.get(f"{P}/{path}")
    assert r.status_code == 404, (path, r.data[:100])
    assert b"import" not in r.data and b"root:" not in r.data


def test_static_allow_list_serves_exactly_the_frontend(trained_client):
    frontend = plugin_module.STATIC_DIR
    shipped = sorted(
        os.path.relpath(os.path.join(d, f), frontend)
        for d, _, files in os.walk(frontend)
        for f in files
        if not f.startswith(".")
    )
    assert shipped == sorted(plugin_module.STATIC_FILES)
    assert "index.js" in shipped and "views/flow.js" in shipped and "style.css" in shipped
    for name, ctype in plugin_module.STATIC_FILES.items():
        r = trained_client.get(f"{P}/static/{name}")
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith(ctype)
        with open(os.path.join(frontend, name), "rb") as f:
            assert r.data == f.read()


def test_plugin_listing_and_entry_module(trained_client):
    listing = trained_client.get("/data/plugins_listing").get_json()
    entry = listing["cnn_tb"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "CNN Flow"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": f"{P}/static/index.js"}
    js = trained_client.get(f"{P}/static/index.js").data.decode()
    assert "export async function render()" in js
    source = "".join(
        open(os.path.join(plugin_module.STATIC_DIR, f)).read() for f in plugin_module.STATIC_FILES
    ).replace("http://www.w3.org/2000/svg", "")  # an XML namespace name, not fetched
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "http://", "https://"):
        assert sink not in source, sink


# ------------------------------------------------------ edge-case fixtures


def test_hostile_names_are_returned_verbatim(synthetic_client):
    info = synthetic_client.get(url("run", run="hostile/cnn_tb")).get_json()
    names = [l["name"] for l in info["layers"]]
    assert fixture_writer.HOSTILE in names
    assert fixture_writer.HOSTILE in info["probes"]["class_names"]
    r = synthetic_client.get(url("activations", run="hostile/cnn_tb", probe=0, step=0, layer=fixture_writer.HOSTILE))
    assert r.status_code == 200
    _, pack = parse_pack(r.data)
    assert f"{fixture_writer.HOSTILE}/maps" in pack


def test_nonfinite_step_is_flagged(synthetic_client):
    data = synthetic_client.get(url("epochs", run="hostile/cnn_tb")).get_json()
    flags = {e["step"]: e["nonfinite"] for e in data["epochs"]}
    assert flags == {-1: False, 0: False, 1: False, 2: True}


def test_step_without_epoch_record_is_not_listed(synthetic_client):
    data = synthetic_client.get(url("epochs", run="interrupted/cnn_tb")).get_json()
    assert data["steps"] == [-1, 0]


def test_future_version_records_are_skipped_with_one_warning(synthetic_logdir, plugin_warnings):
    client = make_client(synthetic_logdir[0])
    for _ in range(3):
        data = client.get(url("epochs", run="future_epoch/cnn_tb")).get_json()
        assert data["steps"] == []
    newer = [r for r in plugin_warnings() if "newer" in r.getMessage() and "future_epoch" in r.getMessage()]
    assert len(newer) == 1
    runs = [r["run"] for r in client.get(f"{P}/runs").get_json()]
    assert "future_content/cnn_tb" not in runs
    assert "hostile/cnn_tb" in runs


def test_run_with_newer_plugin_metadata_is_not_served(synthetic_client):
    """As /runs does not list it, no route reads it (its records would parse: only the
    metadata says that the format is newer)."""
    run = "future_content/cnn_tb"
    for path in (url("run", run=run), url("epochs", run=run), url("probe", run=run, probe=0),
                 url("activations", run=run, probe=0, step=0), url("kernels", run=run, step=0)):
        r = synthetic_client.get(path)
        assert (r.status_code, r.data) == (404, b"Not found: unknown run 'future_content/cnn_tb'"), path


def test_foreign_data_under_our_tags_is_ignored(synthetic_client):
    runs = [r["run"] for r in synthetic_client.get(f"{P}/runs").get_json()]
    assert "foreign/cnn_tb" not in runs
    r = synthetic_client.get(url("run", run="foreign/cnn_tb"))
    assert r.status_code == 404


def test_corrupt_pack_is_404_with_one_warning(synthetic_logdir, plugin_warnings):
    client = make_client(synthetic_logdir[0])
    for probe in range(3):
        r = client.get(url("activations", run="corrupt/cnn_tb", probe=probe, step=0))
        assert r.status_code == 404
        assert b"unreadable" in r.data
    assert len([r for r in plugin_warnings() if "corrupt" in r.getMessage()]) == 1
    ok = client.get(url("activations", run="corrupt/cnn_tb", probe=0, step=1))
    assert ok.status_code == 200


def _records(path):
    """The events of an event file: ``[(step, [tags], serialized size)]``."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    out = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        event = event_pb2.Event.FromString(raw)
        out.append((event.step, [v.tag for v in event.summary.value], len(raw)))
    return out


def test_truncated_event_file_is_served_up_to_the_cut(tmp_path):
    """A writer killed in the middle of the last record (step 2's epoch record):
    steps -1, 0, 1 are served, step 2 is not listed, and what is served of step 2's
    earlier records is complete (byte for byte what an untruncated run holds)."""
    run_dir, ref_dir = str(tmp_path / "r" / "cnn_tb"), str(tmp_path / "ref" / "cnn_tb")
    for d in (run_dir, ref_dir):  # the same seed: the same packs
        fixture_writer.write_run(d, steps=(-1, 0, 1, 2))
    (name,) = os.listdir(run_dir)
    step, record_tags, size = _records(os.path.join(run_dir, name))[-1]
    assert (step, record_tags) == (2, [tags.EPOCH_TAG]) and size > 100  # the cut falls inside this record
    fixture_writer.truncate_last_event_file(run_dir, drop_bytes=100)
    client = make_client(str(tmp_path))
    data = client.get(url("epochs", run="r/cnn_tb")).get_json()
    assert data["steps"] == [-1, 0, 1]
    assert data["epochs"] == client.get(url("epochs", run="ref/cnn_tb")).get_json()["epochs"][:3]
    # step 2's blobs were written before its epoch record: they are served, and whole
    for step in (-1, 0, 1, 2):
        for route, params in (("activations", dict(probe=0)), ("activations", dict(probe=2)), ("kernels", {})):
            r = client.get(url(route, run="r/cnn_tb", step=step, **params))
            ref = client.get(url(route, run="ref/cnn_tb", step=step, **params))
            assert (r.status_code, ref.status_code) == (200, 200), (route, step)
            assert r.data == ref.data, (route, step, params)


def test_live_run_shows_new_epochs_at_once(tmp_path):
    """A step written after the first requests is served on the next request,
    although blob listings are cached."""

    run_dir = str(tmp_path / "live" / "cnn_tb")
    fixture_writer.write_run(run_dir, steps=(-1, 0))
    client = make_client(str(tmp_path))
    assert client.get(url("epochs", run="live/cnn_tb")).get_json()["steps"] == [-1, 0]
    assert client.get(url("activations", run="live/cnn_tb", probe=0, step=0)).status_code == 200
    assert client.get(url("activations", run="live/cnn_tb", probe=0, step=1)).status_code == 404
    # the training goes on: step 1 is written by a new writer session. (Within
    # one process and one second, event file names can sort out of creation
    # order, which the Python loader rejects; a real resumed run is later.)
    import time

    time.sleep(1.1)
    fixture_writer.write_run(run_dir, steps=(1,))
    client.multiplexer.Reload()
    assert client.get(url("epochs", run="live/cnn_tb")).get_json()["steps"] == [-1, 0, 1]
    assert client.get(url("activations", run="live/cnn_tb", probe=0, step=1)).status_code == 200
    assert client.get(url("kernels", run="live/cnn_tb", step=1)).status_code == 200


def test_deleted_run_never_breaks_the_plugin(tmp_path):
    import shutil


    fixture_writer.write_run(str(tmp_path / "a" / "cnn_tb"), steps=(-1, 0))
    fixture_writer.write_run(str(tmp_path / "b" / "cnn_tb"), steps=(-1, 0))
    client = make_client(str(tmp_path))
    assert {r["run"] for r in client.get(f"{P}/runs").get_json()} == {"a/cnn_tb", "b/cnn_tb"}
    shutil.rmtree(tmp_path / "b")
    client.multiplexer.Reload()
    for route in (url("runs"), url("epochs", run="b/cnn_tb"), url("run", run="b/cnn_tb"),
                  url("activations", run="b/cnn_tb", probe=0, step=0), url("epochs", run="a/cnn_tb"),
                  url("probe", run="b/cnn_tb", probe=0)):
        assert client.get(route).status_code in (200, 404), route
    assert client.get(url("epochs", run="a/cnn_tb")).get_json()["steps"] == [-1, 0]


def test_empty_logdir_lists_no_runs(tmp_path):

    client = make_client(str(tmp_path))
    assert client.get(f"{P}/runs").get_json() == []
    assert client.get(url("epochs", run="x")).status_code == 404


def _diverging_cnn():
    """conv1 (ReLU) -> conv2 (linear) -> gap -> out (softmax): a NaN kernel in conv2
    reaches every later layer. (A fused Conv2D+ReLU maps NaN to 0 on TensorFlow's
    CPU kernels, so a ReLU after conv2 would hide the divergence from the activations.)"""
    import keras

    inp = keras.Input((16, 16, 3), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))


def test_diverged_model_is_flagged_not_broken(tmp_path):
    """NaN weights logged by the real writer: the step is served, every layer from
    conv2 on is flagged in the epoch record and in the pack, conv1 is untouched."""
    import cnn_tb
    from tests.support.tb_data import LogDir

    rng = np.random.default_rng(0)
    probes = cnn_tb.Probes(rng.random((2, 16, 16, 3), dtype=np.float32), labels=[0, 2])
    model = _diverging_cnn()
    healthy = _diverging_cnn()
    healthy.set_weights(model.get_weights())
    cnn_tb.log_layers(model, probes, str(tmp_path / "nan_run"), -1)
    kernel = model.get_layer("conv2").kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))
    cnn_tb.log_layers(model, probes, str(tmp_path / "nan_run"), 0)
    cnn_tb.log_layers(healthy, probes, str(tmp_path / "healthy_run"), 0)  # the same weights but conv2's
    client = make_client(str(tmp_path))
    run, ok_run = "nan_run/cnn_tb", "healthy_run/cnn_tb"

    data = client.get(url("epochs", run=run)).get_json()
    json.dumps(data, allow_nan=False)  # strict JSON: no NaN literals reach the browser
    assert data["steps"] == [-1, 0]
    assert [e["nonfinite"] for e in data["epochs"]] == [False, True]
    before, after = data["epochs"]
    n = len(probes)
    # every value of conv2 and of each layer after it is NaN, and counted
    sizes = {"conv2": n * 16 * 16 * 6, "gap": n * 6, "out": n * 3}
    assert {name: s["nonfinite"] for name, s in after["layers"].items()} == dict(conv1=0, **sizes)
    assert {name: s["nonfinite"] for name, s in before["layers"].items()} == dict(conv1=0, conv2=0, gap=0, out=0)
    for name in sizes:
        assert {after["layers"][name][k] for k in tags.STAT_NAMES[:4]} == {None}, name  # NaN served as null
    assert after["kernel_change"]["conv2"] is None and after["kernel_change"]["conv1"] == 0
    assert all(p["probs"] == [None] * 3 for p in after["predictions"])
    stored = LogDir(str(tmp_path / "nan_run")).epochs()[0]
    assert stored["nonfinite_weights"] == ["conv2"]

    for probe in range(n):
        r = client.get(url("activations", run=run, probe=probe, step=0))
        assert r.status_code == 200
        _, pack = parse_pack(r.data)
        meta = {name: e["meta"].get("nonfinite") for name, (_, e) in pack.items() if "gradcam" not in name}
        assert meta == {
            "conv1/mean": 0, "conv1/max": 0, "conv1/maps": 0,
            "conv2/mean": 16 * 16, "conv2/max": 16 * 16, "conv2/maps": 16 * 16 * 6, "gap/vector": 6, "out/vector": 3,
        }
        # conv1 is exactly what the healthy twin logged
        _, healthy_pack = parse_pack(client.get(url("activations", run=ok_run, probe=probe, step=0)).data)
        for kind in ("maps", "mean", "max"):
            got, want = pack[f"conv1/{kind}"], healthy_pack[f"conv1/{kind}"]
            np.testing.assert_array_equal(got[0], want[0])
            assert got[1] == want[1], kind
    ok = client.get(url("epochs", run=ok_run)).get_json()["epochs"][0]
    assert after["layers"]["conv1"] == ok["layers"]["conv1"]
    assert ok["nonfinite"] is False

    _, kernels = parse_pack(client.get(url("kernels", run=run, step=0)).data)
    assert {name: e["meta"]["nonfinite"] for name, (_, e) in kernels.items()} == {
        "conv1/kernel": 0, "conv2/kernel": 3 * 3 * 4 * 6}


# ------------------------------------------------------------------ feature visualizations


def test_feature_viz_lists_the_scheduled_steps_and_layers(fviz_run, fviz_client):
    r = fviz_client.get(url("feature_viz", run=fviz_run["run"]))
    assert r.status_code == 200
    data = r.get_json()
    assert data["steps"] == fviz_run["viz_steps"] == [1, 3, 5]
    assert data["layers"] == {
        "conv1": {"channels": list(range(8)), "image_shape": [16, 16, 3]},
        "conv2": {"channels": list(range(8)), "image_shape": [16, 16, 3]},
        "conv3": {"channels": list(range(12)), "image_shape": [16, 16, 3]},
    }
    for rec in data["records"]:
        assert rec["steps"] == fviz_run["steps"] and rec["seed"] == 0 and rec["seconds"] > 0
        assert rec["cost"]["max_share"] is None and rec["cost"]["train_seconds"] > 0
        assert all(len(l["objective"]) == len(l["channels"]) for l in rec["layers"].values())
    # the spent time only grows
    spent = [rec["cost"]["spent_seconds"] for rec in data["records"]]
    assert spent == sorted(spent) and spent[0] > 0


def test_feature_viz_image_is_the_strip_of_the_channels_images(fviz_run, fviz_client):
    from PIL import Image

    import cnn_tb

    last = fviz_run["viz_steps"][-1]
    r = fviz_client.get(url("feature_viz_image", run=fviz_run["run"], step=last, layer="conv3"))
    assert r.status_code == 200 and r.mimetype == "image/png"
    strip = np.asarray(Image.open(io.BytesIO(r.data))).astype(np.float32) / 255.0
    assert strip.shape == (16, 12 * 16, 3)
    # the last step's images are those of the trained model, same seed, same steps
    again = cnn_tb.feature_visualization(fviz_run["model"], "conv3", channels=range(12), steps=fviz_run["steps"], seed=0)
    np.testing.assert_allclose(strip, again.transpose(1, 0, 2, 3).reshape(16, 12 * 16, 3), atol=1.5 / 255)
    # and the images changed with training: the first step's strip differs
    first = fviz_client.get(url("feature_viz_image", run=fviz_run["run"], step=fviz_run["viz_steps"][0], layer="conv3"))
    assert np.abs(np.asarray(Image.open(io.BytesIO(first.data))).astype(np.float32) / 255.0 - strip).max() > 0.1


@pytest.mark.parametrize("params, status, message", [
    ({"step": 2, "layer": "conv3"}, 404, "no feature visualizations at step 2"),
    ({"step": 5, "layer": "dense"}, 404, "layer 'dense' has no feature visualizations"),
    ({"step": 5}, 400, "missing query parameter 'layer'"),
    ({"layer": "conv3"}, 400, "missing query parameter 'step'"),
    ({"step": "x", "layer": "conv3"}, 400, "must be an integer"),
])
def test_feature_viz_image_errors(fviz_run, fviz_client, params, status, message):
    r = fviz_client.get(url("feature_viz_image", run=fviz_run["run"], **params))
    assert r.status_code == status
    assert message in r.get_data(as_text=True)


def test_feature_viz_of_a_run_without_them_is_empty_and_unknown_run_404(synthetic_client):
    r = synthetic_client.get(url("feature_viz", run="hostile/cnn_tb"))
    assert r.status_code == 200
    assert r.get_json() == {"run": "hostile/cnn_tb", "steps": [], "layers": {}, "records": []}
    assert synthetic_client.get(url("feature_viz", run="nope")).status_code == 404
    r = synthetic_client.get(url("feature_viz_image", run="hostile/cnn_tb", step=0, layer="conv1"))
    assert r.status_code == 404


def test_feature_viz_image_with_a_truncated_pack_file_is_404(fviz_run, tmp_path):
    import shutil

    from tests.support.plugin_client import make_client

    root = str(tmp_path / "copy")
    shutil.copytree(fviz_run["log_dir"], root)
    run_dir = os.path.join(root, fviz_run["run"])
    for folder, _, files in os.walk(run_dir):
        for name in files:
            if name.endswith(tags.FEATURE_VIZ_SUFFIX):
                with open(os.path.join(folder, name), "r+b") as f:
                    f.truncate(10)
    client = make_client(root)
    r = client.get(url("feature_viz_image", run=fviz_run["run"], step=1, layer="conv1"))
    assert r.status_code == 404 and "truncated" in r.get_data(as_text=True)


def test_small_routes_are_served_as_foreground_and_bulk_ones_give_way(synthetic_logdir, monkeypatch):
    """What a route counts as (cnn_tb.plugin.cache.Foreground): the routes that
    decode a whole run's records (/epochs, /histograms, /pool) are bulk and give
    way between records; every other route is a small request they give way to."""
    client = make_client(synthetic_logdir[0])
    reader = client.plugin.reader
    seen = {}
    for name in ("runs_impl", "run_impl", "epoch_json_impl", "activations_impl", "epochs_gzip_impl",
                 "histograms_impl", "pool_gzip_impl", "probe_impl"):
        original = getattr(reader, name)

        def spy(*a, _name=name, _original=original, **k):
            seen.setdefault(_name, reader.foreground._count)  # (run_impl is called by others too)
            return _original(*a, **k)

        monkeypatch.setattr(reader, name, spy)
    gave_way = []
    original_give_way = reader.foreground.give_way
    monkeypatch.setattr(reader.foreground, "give_way", lambda: gave_way.append(1) or original_give_way())
    run = "hostile/cnn_tb"
    for route, params in [("runs", {}), ("run", {"run": run}), ("epoch", {"run": run, "step": 1}),
                          ("activations", {"run": run, "probe": 0, "step": 1}), ("probe", {"run": run, "probe": 0}),
                          ("epochs", {"run": run}), ("histograms", {"run": run, "layer": "conv1"}), ("pool", {"run": run})]:
        client.get(url(route, **params))
    assert seen == {"runs_impl": 1, "run_impl": 1, "epoch_json_impl": 1, "activations_impl": 1, "probe_impl": 1,
                    "epochs_gzip_impl": 0, "histograms_impl": 0, "pool_gzip_impl": 0}
    assert reader.foreground._count == 0 and gave_way  # the bulk decodes asked, between records
