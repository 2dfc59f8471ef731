"""LayerLogger(background=True), the callbacks' default: ``log`` returns after the
model is read; the step is finished and written on a background thread with the
weights of the step, in step order, failures reported by the next call."""

import os
import threading
import warnings

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from tests.support.tb_data import LogDir

PROBES = np.random.default_rng(0).random((3, 8, 8, 3), dtype=np.float32)


def small_model(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)  # non-trainable variables in the snapshot too
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))


def conv_output(model, images):
    """The first conv layer's output, recomputed with numpy from the kernel and bias."""
    k, b = (np.asarray(w) for w in model.get_layer("c1").get_weights())
    pad = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros(images.shape[:3] + (k.shape[-1],), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,co->nhwo", pad[:, dy : dy + 8, dx : dx + 8, :], k[dy, dx])
    return np.maximum(out + b, 0.0)


def compiled_logger(tmp_path, **options):
    """A background logger that logged step -1 (in the background, on a snapshot)
    and whose pass is compiled: later steps read the model on the calling thread."""
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, background=True, **options).attach(small_model())
    assert logger.log(-1) is True and logger.wait() is True
    assert logger.last_timings["deferred"] == 1.0
    assert logger.capture.wait_compiled(120)
    return logger


def plain(x):
    """Decoded packs as comparable Python values."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x.tolist() if isinstance(x, np.ndarray) else x


def scaled(model, factor):
    for layer in model.layers:
        f = abs(factor) if isinstance(layer, keras.layers.BatchNormalization) else factor  # variances stay > 0
        layer.set_weights([w * f for w in layer.get_weights()])


def test_a_step_holds_the_weights_of_its_log_call_though_they_change_before_it_is_written(tmp_path):
    model = small_model()
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats", "flow"), background=True).attach(model)
    expected = {}
    for step, factor in enumerate((1.0, 3.0, 0.5)):
        scaled(model, factor)
        expected[step] = conv_output(model, PROBES)
        assert logger.log(step) is True
        scaled(model, 7.0)  # "training" goes on before the step is written...
        scaled(model, 1 / 7.0)
    logger.close()
    epochs = LogDir(str(tmp_path)).epochs()
    assert sorted(epochs) == [0, 1, 2]
    for step, out in expected.items():
        stats = epochs[step]["layers"]["c1"]
        assert stats["mean"] == pytest.approx(out.mean(), rel=1e-4)
        assert stats["max"] == pytest.approx(out.max(), rel=1e-4)
        assert stats["zero_frac"] == pytest.approx(np.mean(out == 0), abs=1e-6)


def test_steps_before_and_after_the_pass_is_compiled_hold_the_weights_of_their_log_call(tmp_path):
    model = small_model()
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats", "flow"), background=True).attach(model)
    kernels = {}
    for step in (0, 1):
        if step == 1:
            assert logger.capture.wait_compiled(120)  # step 1: the pass runs compiled, on this thread
        scaled(model, 2.0)
        kernels[step] = np.asarray(model.get_layer("c1").get_weights()[0])
        want = conv_output(model, PROBES)
        assert logger.log(step) is True
        scaled(model, -5.0)  # training goes on before the step is written
        assert logger.wait() is True
        assert logger.last_timings.get("deferred") == (1.0 if step == 0 else None)
        scaled(model, -1 / 5.0)
        mean = LogDir(str(tmp_path)).scalars(tags.RUN_NAME, "activation_stats/c1/mean")[step]
        assert mean == pytest.approx(want.mean(), rel=1e-4)
    logger.close()
    change = LogDir(str(tmp_path)).epochs()[1]["kernel_change"]["c1"]
    assert change == pytest.approx(np.linalg.norm(kernels[1] - kernels[0]) / np.linalg.norm(kernels[0]), rel=1e-5)


def test_background_and_synchronous_runs_write_the_same_numbers(tmp_path):
    runs = {}
    for background in (False, True):
        model = small_model()
        log_dir = str(tmp_path / str(background))
        logger = cnn_tb.LayerLogger(log_dir, PROBES, kinds=("stats", "predictions", "flow"), feature_viz=False,
                                    background=background).attach(model)
        for step in (-1, 0, 1):
            assert logger.log(step, {"loss": 1.0 / (step + 2)}) is True
            scaled(model, 1.5)
        logger.close()
        log = LogDir(log_dir)
        runs[background] = (
            log.scalars(tags.RUN_NAME, "activation_stats/c1/mean"),
            {s: e["layers"] for s, e in log.epochs().items()},
            {s: plain(log.packs(s)) for s in (-1, 0, 1)},
        )
    assert sorted(runs[True][0]) == [-1, 0, 1]
    assert runs[True] == runs[False]


def test_the_step_is_finished_on_another_thread_and_log_waits_for_the_previous_one(tmp_path, monkeypatch):
    logger = compiled_logger(tmp_path, kinds=("stats",))
    kind = logger._kinds[0]
    real, seen = kind.values, []
    release = threading.Event()

    def slow(step):
        seen.append((step.step, threading.current_thread().name))
        release.wait(30)
        return real(step)

    monkeypatch.setattr(kind, "values", slow)
    assert logger.log(0) is True  # returns while its values are still being made
    assert logger._pending is not None and not logger._pending[1].done()
    release.set()
    assert logger.log(1) is True  # waited for step 0 first
    assert logger.wait() is True and logger._pending is None
    assert [s for s, _ in seen] == [0, 1]
    assert all(name.startswith("cnn_tb-step") for _, name in seen)
    assert {"forward_backward", "statistics", "writing", "total", "log_call"} <= set(logger.last_timings)
    logger.close()
    assert sorted(LogDir(str(tmp_path)).scalars(tags.RUN_NAME, "activation_stats/c1/mean")) == [-1, 0, 1]


def test_only_the_first_step_runs_wholly_in_the_background_and_the_next_waits_for_it(tmp_path, monkeypatch):
    model = small_model()
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats",), background=True).attach(model)
    kind = logger._kinds[0]
    real, release = kind.values, threading.Event()

    def held(step):
        release.wait(30)
        return real(step)

    monkeypatch.setattr(kind, "values", held)
    want = {}
    scaled(model, 1.0)
    want[-1] = conv_output(model, PROBES).mean()
    assert logger.log(-1) is True  # returns at once: the step waits on the worker
    first = logger._pending[1]
    scaled(model, -2.0)
    want[0] = conv_output(model, PROBES).mean()
    threading.Timer(0.5, release.set).start()
    assert logger.log(0) is True  # waited for step -1, then read the model here
    assert first.done() and logger._pending[0] == 0
    scaled(model, 10.0)
    logger.close()
    assert logger.last_timings.get("deferred") is None  # step 0 read the model on this thread
    means = LogDir(str(tmp_path)).scalars(tags.RUN_NAME, "activation_stats/c1/mean")
    assert sorted(means) == [-1, 0]
    for step in (-1, 0):
        assert means[step] == pytest.approx(want[step], rel=1e-4)


def test_a_failure_on_the_background_thread_warns_at_the_next_call_and_counts_toward_stopping(tmp_path, monkeypatch):
    logger = compiled_logger(tmp_path, kinds=("stats",))
    kind = logger._kinds[0]
    real = kind.values
    failing = {1, 3, 4, 5}

    def flaky(step):
        if step.step in failing:
            raise OSError(f"disk on fire at {step.step}")
        return real(step)

    monkeypatch.setattr(kind, "values", flaky)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert logger.log(0) is True
        assert logger.log(1) is True  # handed over; it fails later
        assert not any("disk on fire" in str(w.message) for w in caught)
        assert logger.log(2) is True  # reports step 1, then logs step 2
        assert [str(w.message) for w in caught if "disk on fire" in str(w.message)] == [
            "cnn_tb: logging step 1 failed and was skipped (OSError: disk on fire at 1); training continues."
        ]
        assert [logger.log(s) for s in (3, 4, 5)] == [True, True, True]  # each reports the one before
        assert logger.log(6) is False  # steps 3, 4 and 5 failed in a row: stopped, step 6 not even run
        assert logger.log(7) is False
        logger.close()
    messages = [str(w.message) for w in caught]
    assert sum("disk on fire" in m for m in messages) == 4  # steps 1, 3, 4, 5
    assert any("logging step 5 failed" in m and "stops logging" in m for m in messages)
    assert sorted(LogDir(str(tmp_path)).scalars(tags.RUN_NAME, "activation_stats/c1/mean")) == [-1, 0, 2]


def test_close_reports_a_failure_of_the_last_step(tmp_path, monkeypatch):
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats",), background=True).attach(small_model())
    monkeypatch.setattr(logger._kinds[0], "values", lambda step: 1 / 0)
    assert logger.log(0) is True
    with pytest.warns(RuntimeWarning, match=r"logging step 0 failed and was skipped \(ZeroDivisionError"):
        logger.close()


def test_the_callbacks_finish_in_the_background_and_fit_ends_with_every_epoch_written(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    cb = cnn_tb.LayerFlow(str(tmp_path), cnn_tb.Probes(PROBES, labels=[0, 1, 2]), feature_viz=False)
    assert cb.logger.background is True
    assert cnn_tb.LayerFlow(str(tmp_path), PROBES, background=False).logger.background is False
    x = np.random.default_rng(1).random((32, 8, 8, 3), dtype=np.float32)
    model.fit(x, np.arange(32) % 3, epochs=3, batch_size=16, verbose=0, callbacks=[cb])
    assert cb.logger._pending is None  # on_train_end waited
    epochs = LogDir(str(tmp_path)).epochs()
    assert sorted(epochs) == [-1, 0, 1, 2]
    final = conv_output(model, PROBES)
    stats = epochs[2]["layers"]["c1"]
    assert stats["mean"] == pytest.approx(final.mean(), rel=1e-4)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_background_must_be_a_bool(tmp_path, value):
    with pytest.raises(ValueError, match=rf"`background` must be True or False\. Received: background={value!r}"):
        cnn_tb.LayerLogger(str(tmp_path), PROBES, background=value)


SCRIPT = """
import sys
import keras
import numpy as np
import cnn_tb

keras.utils.set_random_seed(0)
inp = keras.Input((8, 8, 3))
x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")


class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("the training script failed")


rng = np.random.default_rng(0)
x, y = rng.random((32, 8, 8, 3), dtype=np.float32), np.arange(32) % 3
flow = cnn_tb.LayerFlow(sys.argv[1], cnn_tb.Probes(x[:3], labels=y[:3]), feature_viz=False)
model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[flow, Boom()])
"""


def test_a_script_that_stops_with_an_exception_still_writes_the_steps_it_logged(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    log_dir = tmp_path / "logs"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))  # this checkout
    done = subprocess.run([sys.executable, str(script), str(log_dir)], capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 1 and "the training script failed" in done.stderr, done.stderr[-3000:]
    # on_train_end never ran; the step of epoch 1 was handed to the background thread just before
    assert sorted(LogDir(str(log_dir)).epochs()) == [-1, 0, 1]
