"""Every kind of model the core issue lists trains with LayerFlow and logs."""

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb import render
from cnn_tb.contract import packs, records, tags
from tests.support.tb_data import LogDir

L = keras.layers


def sequential(shape=(16, 16, 3)):
    return keras.Sequential(
        [keras.Input(shape), L.Conv2D(4, 3, activation="relu", name="c1"), L.MaxPooling2D(name="pool"),
         L.Flatten(), L.Dense(4, activation="softmax", name="out")]
    )


def residual():
    inp = keras.Input((16, 16, 3))
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inp)
    b = L.Conv2D(4, 3, padding="same", name="branch")(a)
    s = L.Add(name="skip_add")([a, b])
    c = L.Conv2D(2, 1, name="side")(s)
    cat = L.Concatenate(name="concat")([s, c])
    x = L.GlobalAveragePooling2D(name="gap")(cat)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(x))


def nested():
    inner_in = keras.Input((16, 16, 3))
    h = L.Conv2D(4, 3, activation="relu", name="inner_conv")(inner_in)
    inner = keras.Model(inner_in, L.MaxPooling2D(name="inner_pool")(h), name="backbone")
    inp = keras.Input((16, 16, 3))
    x = inner(inp)
    x = L.Conv2D(4, 3, name="head_conv")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(x))


def logits():
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, name="c1")(inp)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(4, name="logits")(x))


def _train(model, x, y, log_dir, loss="sparse_categorical_crossentropy", **kw):
    model.compile("adam", loss)
    probes = cnn_tb.Probes(x[:3], labels=y[:3])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[cnn_tb.LayerFlow(log_dir, probes, **kw)])
    return LogDir(log_dir)


def _data(shape, n=32, classes=4):
    rng = np.random.default_rng(0)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, classes, n)


def _run_record(log):
    (raw,) = log.tensors(tags.RUN_NAME, tags.RUN_TAG, tags.PLUGIN_NAME).values()
    return records.decode_json(raw)


def test_sequential(tmp_path):
    x, y = _data((16, 16, 3))
    log = _train(sequential(), x, y, str(tmp_path))
    assert sorted(log.epochs()) == [-1, 0]
    pack = log.packs(0)[0]
    assert pack["c1/maps"][0].shape == (14, 14, 4) and pack["pool/maps"][0].shape == (7, 7, 4)
    assert "out/vector" in pack
    assert "flatten/vector" not in pack  # pure reshape: skipped by default


def test_residual_add_and_concatenate(tmp_path):
    x, y = _data((16, 16, 3))
    log = _train(residual(), x, y, str(tmp_path))
    layers = {l["name"]: l for l in _run_record(log)["layers"]}
    assert layers["skip_add"]["inbound"] == ["stem", "branch"]
    assert layers["concat"]["inbound"] == ["skip_add", "side"]
    assert layers["concat"]["output_shape"] == [16, 16, 6]
    pack = log.packs(0)[1]
    assert pack["concat/maps"][0].shape == (16, 16, 6)
    assert "stem/gradcam" in pack and "branch/gradcam" in pack


def test_nested_model(tmp_path):
    x, y = _data((16, 16, 3))
    model = nested()
    log = _train(model, x, y, str(tmp_path))
    backbone = model.get_layer("backbone")
    inner = keras.Model(backbone.inputs, backbone.get_layer("inner_conv").output)
    want = inner.predict(x[:3], verbose=0)
    pack = log.packs(0)[2]
    got = packs.value(pack, "backbone/inner_conv/mean")
    np.testing.assert_allclose(got, want[2].mean(axis=-1), atol=(np.ptp(want[2].mean(-1)) / 255) * 0.51 + 1e-5)
    layers = {l["name"]: l for l in _run_record(log)["layers"]}
    assert layers["backbone/inner_conv"]["parent"] == "backbone"
    assert layers["head_conv"]["inbound"] == ["backbone"]
    pack = log.packs(0)[0]
    assert pack["backbone/inner_conv/maps"][0].shape == (14, 14, 4)
    assert pack["backbone/maps"][0].shape == (7, 7, 4)
    assert "backbone/inner_conv" in log.epochs()[0]["layers"]


@pytest.mark.parametrize("shape", [(28, 28, 1), (48, 64, 3)])
def test_grayscale_and_non_square(tmp_path, shape):
    x, y = _data(shape)
    log = _train(sequential(shape), x, y, str(tmp_path))
    h, w = shape[0] - 2, shape[1] - 2
    assert log.packs(0)[0]["c1/mean"][0].shape == (h, w)
    kernel = log.images(tags.RUN_NAME, "kernels/c1")[0][0]
    assert kernel.ndim == 3
    overlay = log.images(tags.RUN_NAME, "heatmaps/max_activation/c1")[0][0]
    height = overlay.shape[0] - render.pictures.CAPTION_HEIGHT  # below the caption
    assert height / overlay.shape[1] == pytest.approx(shape[0] / shape[1])


def test_mixed_precision(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = keras.Input((16, 16, 3))
        h = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
        h = L.Flatten()(h)
        out = L.Dense(4, activation="softmax", dtype="float32", name="out")(h)
        model = keras.Model(inp, out)
        x, y = _data((16, 16, 3))
        log = _train(model, x, y, str(tmp_path))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    stats = log.epochs()[0]["layers"]["c1"]
    assert stats["max"] > 0 and stats["nonfinite"] == 0
    probs = [p["probs"] for p in log.epochs()[0]["predictions"]]
    np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, atol=1e-3)


def test_logits_output(tmp_path):
    x, y = _data((16, 16, 3))
    model = logits()
    log = _train(model, x, y, str(tmp_path), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert _run_record(log)["output_kind"] == "logits"
    z = model.predict(x[:3], verbose=0)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    got = np.array([q["probs"] for q in log.epochs()[0]["predictions"]])
    np.testing.assert_allclose(got, p, atol=1e-5)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(4, 3)
        self.flat = L.Flatten()
        self.out = L.Dense(4)

    def call(self, x):
        return self.out(self.flat(self.conv(x)))


def test_subclassed_model_gets_a_clear_error(tmp_path):
    x, y = _data((16, 16, 3))
    model = Subclassed()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="subclassed keras.Model.*Functional API"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cnn_tb.LayerFlow(str(tmp_path), cnn_tb.Probes(x[:2]))])


def test_subclassed_model_works_with_kernel_grids(tmp_path):
    x, y = _data((16, 16, 3))
    model = Subclassed()
    model.compile("adam", "sparse_categorical_crossentropy")
    model(x[:1])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cnn_tb.KernelGrids(str(tmp_path))])
    log = LogDir(str(tmp_path))
    assert sorted(log.images(tags.RUN_NAME, f"kernels/{model.conv.name}")) == [-1, 0]
