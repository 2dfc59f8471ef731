"""One pass of the probes: activations, probabilities, predictions, Grad-CAM,
each recomputed independently (a direct Keras call, or numpy)."""

import keras
import numpy as np
import pytest

from cnn_tb.model import capture, graph, selection


def _capture(model, layers=None, cams=()):
    selected = selection.select(graph.walk(model), layers)
    return capture.Capture(model, [i.name for i in selected], list(cams))


def test_activations_and_probabilities_equal_a_direct_call():
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((6, 6, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(3, 3, padding="same", name="ic")(inner_in), name="inner")
    inp = keras.Input((6, 6, 2))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inp)
    b = inner(a)
    g = keras.layers.GlobalAveragePooling2D(name="g")(b)
    out = keras.layers.Dense(5, activation="softmax", name="out")(g)
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).random((3, 6, 6, 2), dtype=np.float32)
    result = _capture(model).run(x)
    direct = keras.Model(inp, [a, b, g, out])(x, training=False)
    want = dict(zip(["a", "inner", "g", "out"], [keras.ops.convert_to_numpy(t) for t in direct]))
    want["inner/ic"] = keras.ops.convert_to_numpy(inner(want["a"]))
    acts = result.device["acts"]
    assert set(acts) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(acts[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(result.probs, want["out"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.pred, np.argmax(want["out"], axis=1))


@pytest.mark.parametrize("activation", ["softmax", None, "sigmoid"])
def test_probabilities_for_softmax_logits_and_sigmoid_outputs(activation):
    keras.utils.set_random_seed(0)
    units = 1 if activation == "sigmoid" else 4
    inp = keras.Input((5, 5, 1))
    x = keras.layers.Conv2D(2, 3, name="c")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(units, activation=activation, name="out")(x)
    model = keras.Model(inp, out)
    x_in = np.random.default_rng(2).random((4, 5, 5, 1), dtype=np.float32)
    result = _capture(model).run(x_in)
    y = keras.ops.convert_to_numpy(model(x_in))
    if activation == "sigmoid":
        want = np.stack([1 - y[:, 0], y[:, 0]], axis=1)
    elif activation is None:
        e = np.exp(y - y.max(axis=1, keepdims=True))
        want = e / e.sum(axis=1, keepdims=True)
    else:
        want = y
    np.testing.assert_allclose(result.probs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.pred, np.argmax(want, axis=1))


def _cam_model(channels, dense_kernel):
    """input -> 1x1 conv (identity-like kernel) -> GAP -> Dense(softmax): the
    gradient of logit k w.r.t. the conv output is dense_kernel[c, k] / (H * W)."""
    inp = keras.Input((8, 8, channels))
    feat = keras.layers.Conv2D(channels, 1, use_bias=False, name="feat")(inp)
    x = keras.layers.GlobalAveragePooling2D()(feat)
    out = keras.layers.Dense(dense_kernel.shape[1], activation="softmax", use_bias=False, name="out")(x)
    model = keras.Model(inp, out)
    model.get_layer("feat").set_weights([np.eye(channels, dtype=np.float32)[None, None]])
    model.get_layer("out").set_weights([dense_kernel.astype(np.float32)])
    return model


def test_gradcam_peaks_where_the_class_evidence_is():
    """Class 0's evidence is the bright patch in the top-left corner: its
    Grad-CAM is the patch; the other class (negative weight) gets no map."""
    model = _cam_model(1, np.array([[1.0, -1.0]]))
    x = np.zeros((2, 8, 8, 1), np.float32)
    x[0, :2, :2] = 1.0  # probe 0: top-left corner
    x[1, 5:, 6:] = 1.0  # probe 1: bottom-right corner
    result = _capture(model, cams=["feat"]).run(x, labels=np.array([1, 0]))
    assert result.pred.tolist() == [0, 0]
    cams = result.device["cams"]["feat"]
    np.testing.assert_allclose(cams, x[..., 0], atol=1e-6)  # normalised to a peak of 1 exactly there
    assert np.unravel_index(np.argmax(cams[0]), (8, 8)) == (0, 0)
    assert np.unravel_index(np.argmax(cams[1]), (8, 8)) == (5, 6)
    np.testing.assert_array_equal(result.device["cams_true"]["feat"][0], 0.0)  # class 1: negative evidence only


def test_gradcam_equals_the_numpy_formula():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 4))
    model = _cam_model(3, w)
    x = rng.random((5, 8, 8, 3), dtype=np.float32)
    labels = np.array([0, 1, 2, 3, 0])
    result = _capture(model, cams=["feat"]).run(x, labels=labels)
    pred = np.argmax(x.mean(axis=(1, 2)) @ w, axis=1)
    np.testing.assert_array_equal(result.pred, pred)
    for cls, got in ((pred, result.device["cams"]["feat"]), (labels, result.device["cams_true"]["feat"])):
        alpha = w[:, cls].T / 64.0  # [N, C]: mean over positions of d logit / d feat
        cam = np.maximum(np.einsum("nhwc,nc->nhw", x, alpha), 0)
        peak = cam.max(axis=(1, 2), keepdims=True)
        want = np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0)
        np.testing.assert_allclose(got, want, atol=1e-5)


def _numpy_cams(x, w, cls):
    alpha = w[:, cls].T / 64.0  # [N, C]: mean over positions of d logit / d feat
    cam = np.maximum(np.einsum("nhwc,nc->nhw", x, alpha), 0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0)


def test_true_class_maps_with_every_probe_right_and_with_one_wrong():
    """With every probe's true class predicted, the true-class backward pass is
    skipped and its maps are the predicted ones; one wrong probe brings it back.
    Both eager (the first passes) and compiled."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=(3, 4))
    model = _cam_model(3, w)
    x = rng.random((5, 8, 8, 3), dtype=np.float32)
    pred = np.argmax(x.mean(axis=(1, 2)) @ w, axis=1)
    wrong = pred.copy()
    wrong[2] = (pred[2] + 1) % 4
    cap = _capture(model, cams=["feat"])
    for compiled in (False, True):
        if compiled:
            assert cap.wait_compiled(timeout=300) and cap.compiled
        for labels in (pred, wrong, pred):
            result = cap.run(x, labels=labels)
            np.testing.assert_array_equal(result.pred, pred)
            np.testing.assert_allclose(result.device["cams"]["feat"], _numpy_cams(x, w, pred), atol=1e-5)
            np.testing.assert_allclose(result.device["cams_true"]["feat"], _numpy_cams(x, w, labels), atol=1e-5)
        assert not np.allclose(_numpy_cams(x, w, wrong)[2], _numpy_cams(x, w, pred)[2], atol=1e-3)


def test_the_compiled_pass_equals_the_eager_one():
    """The first passes run eagerly while the compiled function is built in the
    background; both give the same numbers."""
    model = _cam_model(3, np.random.default_rng(5).normal(size=(3, 4)))
    x = np.random.default_rng(6).random((4, 8, 8, 3), dtype=np.float32)
    cap = _capture(model, cams=["feat"])
    eager = cap.run(x, labels=np.array([0, 1, 2, 3]))
    assert cap.wait_compiled(timeout=300) and cap.compiled
    compiled = cap.run(x, labels=np.array([0, 1, 2, 3]))
    np.testing.assert_allclose(compiled.probs, eager.probs, rtol=1e-5, atol=1e-6)
    for key in ("acts", "cams", "cams_true"):
        for name, value in eager.device[key].items():
            np.testing.assert_allclose(compiled.device[key][name], value, rtol=1e-5, atol=1e-5, err_msg=f"{key}/{name}")


def test_reductions_run_later_hold_the_pass_of_the_run_call():
    """``reduce_later``: ``run`` returns after the pass, its tensors kept on the
    device; ``device_fn`` runs when ``device`` is first read (training has changed
    the weights meanwhile): the numbers are those of the weights at ``run``,
    the same as one function's, eager and compiled, recomputed with numpy."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(3, 4))
    x = rng.random((5, 8, 8, 3), dtype=np.float32)
    labels = np.array([0, 1, 2, 3, 0])

    def device_fn(t):  # a reduction of each kind of tensor the pass hands on
        return {"feat_mean": keras.ops.mean(t.acts["feat"], axis=(1, 2)), "cams": t.cams, "cams_true": t.cams_true,
                "probs_sum": keras.ops.sum(t.probs, axis=1), "pred": t.pred}

    later = capture.Capture(_cam_model(3, w), ["feat", "out"], ["feat"], device_fn=device_fn, reduce_later=True)
    for compiled in (False, True):
        if compiled:
            assert later.wait_compiled(timeout=300) and later.compiled
        scale = 2.0 if compiled else 1.0
        later.model.get_layer("feat").set_weights([scale * np.eye(3, dtype=np.float32)[None, None]])
        result = later.run(x, labels=labels)
        once = capture.Capture(later.model, ["feat", "out"], ["feat"], device_fn=device_fn).run(x, labels=labels)
        later.model.get_layer("feat").set_weights([-5.0 * np.eye(3, dtype=np.float32)[None, None]])  # "training"
        feat = scale * x
        pred = np.argmax(feat.mean(axis=(1, 2)) @ w, axis=1)
        np.testing.assert_array_equal(result.pred, pred)
        got = result.device
        np.testing.assert_allclose(got["feat_mean"], feat.mean(axis=(1, 2)), rtol=1e-5)
        np.testing.assert_allclose(got["cams"]["feat"], _numpy_cams(feat, w, pred), atol=1e-5)
        np.testing.assert_allclose(got["cams_true"]["feat"], _numpy_cams(feat, w, labels), atol=1e-5)
        np.testing.assert_allclose(got["probs_sum"], 1.0, rtol=1e-5)
        np.testing.assert_array_equal(got["pred"], pred)
        assert result.device is got  # reduced once
        for key in ("feat_mean", "probs_sum", "pred"):
            np.testing.assert_allclose(got[key], once.device[key], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(got["cams_true"]["feat"], once.device["cams_true"]["feat"], atol=1e-6)
