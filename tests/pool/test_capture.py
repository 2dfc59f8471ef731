"""The pool's pass: features, channel maxima and their positions, predictions,
in padded batches, against a direct Keras call."""

import keras
import numpy as np

from cnn_tb.contract.tags import MAP
from cnn_tb.model import graph, selection
from cnn_tb.model.graph import LayerInfo
from cnn_tb.pool import capture


def _model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((10, 10, 3), name="input")
    c1 = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    p = keras.layers.MaxPooling2D(name="p")(c1)
    c2 = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(p)
    g = keras.layers.GlobalAveragePooling2D(name="g")(c2)
    out = keras.layers.Dense(3, activation="softmax", name="out")(g)
    return keras.Model(inp, out), [c1, p, c2, g, out]


def test_pool_pass_equals_a_direct_call():
    model, outs = _model()
    infos = selection.select(graph.walk(model))
    x = np.random.default_rng(1).random((23, 10, 10, 3), dtype=np.float32)
    labels = np.random.default_rng(2).integers(0, 3, 23)
    pc = capture.PoolCapture(model, infos, {"c1": 2, "c2": 6}, len(x))
    pc.batch = 5  # 5 batches, the last padded with 2 copies of the first image
    got = pc.run(x, labels)
    direct = [keras.ops.convert_to_numpy(t) for t in keras.Model(model.inputs, outs)([x], training=False)]
    acts = dict(zip(["c1", "p", "c2", "g", "out"], direct))
    assert set(got.features) == set(acts)
    for name, a in acts.items():
        want = a.mean(axis=(1, 2)) if a.ndim == 4 else a
        np.testing.assert_allclose(got.features[name], want, rtol=1e-5, atol=1e-6, err_msg=name)
    for name, k in (("c1", 2), ("c2", 6)):
        flat = acts[name].reshape(23, -1, acts[name].shape[-1])[..., :k]
        np.testing.assert_allclose(got.maxima[name], flat.max(axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got.argmax[name], flat.argmax(axis=1))
    assert set(got.maxima) == {"c1", "c2"}
    np.testing.assert_array_equal(got.pred, acts["out"].argmax(axis=1))
    np.testing.assert_allclose(got.confidence, acts["out"].max(axis=1), rtol=1e-5)
    assert pc.capture.wait_compiled(timeout=300)  # one shape: compiled once, same numbers
    again = pc.run(x, labels)
    np.testing.assert_allclose(again.features["c2"], got.features["c2"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(again.argmax["c2"], got.argmax["c2"])
    assert len(pc.capture._fns) == 1


def test_non_finite_values_never_win_a_maximum():
    inp = keras.Input((4, 4, 1))
    out = keras.layers.Lambda(lambda t: keras.ops.log(t), name="log")(inp)  # log(0) = -inf, log(-1) = NaN
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(out)))
    x = np.full((3, 4, 4, 1), 0.5, np.float32)
    x[0, 0, 0] = np.nan
    x[1, 2, 1] = 3.0
    info = next(i for i in graph.walk(model) if i.name == "log")
    pc = capture.PoolCapture(model, [info], {"log": 1}, 3)
    got = pc.run(x, np.zeros(3, np.int64))
    assert got.argmax["log"][:, 0].tolist() == [1, 9, 0]
    assert pc.capture.wait_compiled(timeout=300)
    again = pc.run(x, np.zeros(3, np.int64))  # the compiled pass: same rule
    assert again.argmax["log"][:, 0].tolist() == [1, 9, 0]
    np.testing.assert_array_equal(again.maxima["log"][:, 0], np.log([0.5, 3.0, 0.5]).astype(np.float32))


def test_ties_go_to_the_first_position_as_in_numpy():
    # constant regions and a ReLU: many positions share a channel's maximum
    # (the all-finite path, which finds the position without argmax on TensorFlow)
    inp = keras.Input((8, 8, 2))
    c = keras.layers.Conv2D(3, 1, activation="relu", name="c", kernel_initializer="ones", bias_initializer="zeros")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(c)))
    rng = np.random.default_rng(3)
    x = np.repeat(np.repeat(rng.integers(-2, 3, (9, 2, 2, 2)), 4, axis=1), 4, axis=2).astype(np.float32)
    info = next(i for i in graph.walk(model) if i.name == "c")
    pc = capture.PoolCapture(model, [info], {"c": 3}, len(x))
    pc.batch = 4
    act = keras.ops.convert_to_numpy(keras.Model(inp, c)(x)).reshape(9, -1, 3)
    assert (act == act.max(axis=1, keepdims=True)).sum(axis=1).min() >= 16  # every maximum is tied
    for _ in range(2):  # eager, then compiled
        got = pc.run(x, np.zeros(9, np.int64))
        np.testing.assert_array_equal(got.argmax["c"], act.argmax(axis=1))
        np.testing.assert_array_equal(got.maxima["c"], act.max(axis=1))
        assert pc.capture.wait_compiled(timeout=300)


def test_batch_size_follows_memory_and_evens_out():
    big = [LayerInfo("m", None, "Conv2D", MAP, (224, 224, 64), [], 0)]  # 12.8 MB per image
    assert capture.batch_size(big, 512) == 15  # 192 MiB / 12.8 MB = 15 per batch, 35 batches
    small = [LayerInfo("m", None, "Conv2D", MAP, (8, 8, 4), [], 0)]
    assert capture.batch_size(small, 512) == 256
    assert capture.batch_size(small, 300) == 150
    assert capture.batch_size(small, 7) == 7
