"""Bad input: a clear error, early (constructor or set_model), never a lost run."""

import os
import warnings

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from tests.support.tb_data import LogDir

L = keras.layers
GOOD = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)


def small_cnn(shape=(16, 16, 3), classes=4):
    inp = keras.Input(shape)
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(classes, activation="softmax", name="out")(x))


@pytest.mark.parametrize(
    "images, labels, class_names, error, match",
    [
        (GOOD[..., :2][..., 0], None, None, ValueError, r"last axis has 16 entries"),
        (np.zeros(5), None, None, ValueError, r"NHWC \(4-D\) or a single HWC image. Received shape \(5,\)"),
        (np.zeros((2, 8, 8, 3, 1)), None, None, ValueError, r"NHWC \(4-D\).*\(2, 8, 8, 3, 1\)"),
        (GOOD.astype(np.int32), None, None, TypeError, r"integer dtype int32"),
        (GOOD.astype(str), None, None, TypeError, r"dtype <U"),
        (GOOD * 255, None, None, ValueError, r"values in \[0, 1\].*0\.\.255 values"),
        (GOOD - 0.5, None, None, ValueError, r"values in \[0, 1\]; received values in \[-0\.\d+, 0\.\d+\]"),
        (np.where(GOOD > 0.99, np.nan, GOOD), None, None, ValueError, r"NaN or Inf"),
        (GOOD, [0, 1, 2], None, ValueError, r"number of labels \(3\) does not match .* \(4\)"),
        (GOOD, [0, 1, 2, -1], None, ValueError, r"Labels must be >= 0"),
        (GOOD, [0.5, 1, 2, 3], None, ValueError, r"whole numbers"),
        (GOOD, [0, 1, 2, 5], ["a", "b"], ValueError, r"labels go up to 5 but `class_names` has only 2"),
        (np.zeros((0, 8, 8, 3)), None, None, ValueError, r"No probe images"),
    ],
)
def test_bad_probes(images, labels, class_names, error, match):
    with pytest.raises(error, match=match):
        cnn_tb.Probes(images, labels=labels, class_names=class_names)


def test_uint8_and_single_image_and_one_hot_are_accepted():
    p = cnn_tb.Probes(np.round(GOOD[0] * 255).astype(np.uint8), labels=np.eye(4)[[2]])
    assert p.images.shape == (1, 16, 16, 3) and p.labels.tolist() == [2]
    np.testing.assert_allclose(p.images[0], np.round(GOOD[0] * 255) / 255, atol=1e-6)


def _fit(model, callback, x=GOOD, y=np.arange(4) % 4):
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])


@pytest.mark.parametrize(
    "make_model, probes, kwargs, match",
    [
        (lambda: small_cnn((16, 16, 1)), cnn_tb.Probes(GOOD), {}, r"input shape is \(16, 16, 1\).*\(16, 16, 3\).*1-channel"),
        (lambda: small_cnn((32, 32, 3)), cnn_tb.Probes(GOOD), {}, r"input shape is \(32, 32, 3\)"),
        (lambda: small_cnn(classes=3), cnn_tb.Probes(GOOD, labels=[0, 1, 2, 3]), {}, r"labels go up to 3.*only 3 classes"),
        (lambda: small_cnn(), cnn_tb.Probes(GOOD, class_names=list("abc")), {}, r"`class_names` has 3 names but the model outputs 4"),
        (lambda: small_cnn(), cnn_tb.Probes(GOOD), {"layers": ["c1", "nope"]}, r"does not have: 'nope'.*'c1'"),
        (
            lambda: keras.Sequential([keras.Input((16, 16, 3)), L.Flatten(), L.Dense(4)]),
            cnn_tb.Probes(GOOD),
            {},
            r"no layer with an image-shaped output",
        ),
    ],
)
def test_model_mismatch_fails_before_training(tmp_path, make_model, probes, kwargs, match):
    model = make_model()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=match):
        _fit(model, cnn_tb.LayerFlow(str(tmp_path), probes, **kwargs))
    # nothing trained, nothing written
    for b, w in zip(before, model.weights):
        np.testing.assert_array_equal(b, w.numpy())
    assert not os.path.exists(tmp_path / tags.RUN_NAME) or not os.listdir(tmp_path / tags.RUN_NAME)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"every_n_epochs": 0}, r"`every_n_epochs` must be a positive int. Received: every_n_epochs=0"),
        ({"max_channels": -3}, r"`max_channels` must be a positive int. Received: max_channels=-3"),
        ({"cmap": "not_a_cmap"}, r"`cmap` is not a known matplotlib colormap. Received: cmap='not_a_cmap'"),
        ({"layers": [3]}, r"entries must be layer names .* Received the entry 3"),
        ({"layers": []}, r"empty list"),
        ({"run_name": "a/b"}, r"`run_name` must be a plain directory name"),
        ({"log_untrained": "yes"}, r"`log_untrained` must be True or False"),
    ],
)
def test_bad_arguments_fail_in_constructor(tmp_path, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cnn_tb.LayerFlow(str(tmp_path), GOOD, **kwargs)


def test_missing_probes_and_bad_log_dir(tmp_path):
    with pytest.raises(ValueError, match=r"`probes` are needed .*Received: probes=None"):
        cnn_tb.FeatureMaps(str(tmp_path))
    with pytest.raises(ValueError, match=r"`log_dir` must be a non-empty path. Received: log_dir=''"):
        cnn_tb.LayerFlow("", GOOD)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match=r"cannot create its run directory .*a_file"):
        _fit(small_cnn(), cnn_tb.LayerFlow(str(blocker / "logs"), GOOD))


def test_divergence_is_logged_and_flagged(tmp_path):
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, name="c1")(inp)
    model = keras.Model(inp, L.Dense(4, activation="softmax")(L.Flatten()(x)))
    model.compile("adam", "sparse_categorical_crossentropy")
    k = model.get_layer("c1").kernel
    k.assign(np.full(k.shape, np.nan, np.float32))
    logger = cnn_tb.LayerLogger(str(tmp_path), cnn_tb.Probes(GOOD, labels=[0, 1, 2, 3]))
    logger.attach(model)
    assert logger.log(0) is True
    logger.close()
    epoch = LogDir(str(tmp_path)).epochs()[0]
    assert epoch["nonfinite"] is True and epoch["nonfinite_weights"] == ["c1"]
    assert epoch["layers"]["c1"]["nonfinite"] == 4 * 14 * 14 * 4
    assert epoch["layers"]["c1"]["mean"] is None  # NaN is stored as null


def test_failure_inside_logging_warns_and_training_continues(tmp_path, monkeypatch):
    from cnn_tb.summaries import activation_stats as stats_mod

    calls = {"n": 0}
    real = stats_mod.from_vector

    def flaky(vector):
        calls["n"] += 1
        if calls["n"] == 2:  # the second layer of the first logged step
            raise OSError("disk on fire")
        return real(vector)

    monkeypatch.setattr(stats_mod, "from_vector", flaky)
    model = small_cnn()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile("adam", "sparse_categorical_crossentropy")
        hist = model.fit(GOOD, np.arange(4), epochs=2, verbose=0,
                         callbacks=[cnn_tb.LayerFlow(str(tmp_path), GOOD)])
    assert len(hist.history["loss"]) == 2
    assert any("logging step -1 failed" in str(w.message) and "disk on fire" in str(w.message) for w in caught)
    assert sorted(LogDir(str(tmp_path)).epochs()) == [0, 1]
