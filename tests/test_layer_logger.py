"""LayerLogger: kinds, one write per step, timings, the failure rule, log_layers."""

import warnings

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb import layer_logger
from cnn_tb.contract import tags
from cnn_tb.summaries import ALL_KINDS
from tests.support.tb_data import LogDir


def small_model():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))


PROBES = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)


def test_kinds_decide_what_is_written(tmp_path):
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats", "predictions")).attach(small_model())
    assert logger.log(0) is True
    logger.close()
    log = LogDir(str(tmp_path))
    scalars = set(log.tags("scalars", "scalars")[tags.RUN_NAME])
    assert {"activation_stats/c1/mean", "activation_stats/out/dead_frac"} <= scalars
    assert "predictions/probe_accuracy" not in scalars  # the probes have no labels
    assert "predictions/table" in log.tags("text", "tensors")[tags.RUN_NAME]
    assert tags.RUN_NAME not in log.tags("images", "blobs")  # no pictures
    assert tags.RUN_NAME not in log.tags(tags.PLUGIN_NAME, "tensors")  # no flow records
    assert set(logger.last_timings) == {
        "forward_backward", "kernels", "prepare", "waiting", "reductions", "kernel_change", "statistics", "encoding", "rendering",
        "waiting_for_rendering", "writing", "total", "log_call"
    }
    assert all(t >= 0 for t in logger.last_timings.values())


@pytest.mark.parametrize("kinds", [(), ("nope",), ["stats", "maps"]])
def test_unknown_kinds_are_rejected(tmp_path, kinds):
    with pytest.raises(ValueError, match=r"`kinds` must be a non-empty subset of .*Received: kinds="):
        cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=kinds)
    assert set(ALL_KINDS) == {"feature_maps", "kernels", "stats", "heatmaps", "predictions", "feature_viz", "flow"}


def test_log_before_attach_raises(tmp_path):
    with pytest.raises(RuntimeError, match="before attach"):
        cnn_tb.LayerLogger(str(tmp_path), PROBES).log(0)


def test_three_failures_in_a_row_stop_logging_and_a_success_resets_the_count(tmp_path, monkeypatch):
    logger = cnn_tb.LayerLogger(str(tmp_path), PROBES, kinds=("stats",)).attach(small_model())
    kind = logger._kinds[0]
    real = kind.values
    fail = {"on": True, "calls": 0}

    def flaky(step):
        fail["calls"] += 1
        if fail["on"]:
            raise OSError("disk on fire")
        return real(step)

    monkeypatch.setattr(kind, "values", flaky)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [logger.log(s) for s in (0, 1)] == [False, False]
        fail["on"] = False
        assert logger.log(2) is True  # a success resets the count
        fail["on"] = True
        assert [logger.log(s) for s in (3, 4, 5)] == [False, False, False]
        assert fail["calls"] == 6
        assert logger.log(6) is False and fail["calls"] == 6  # stopped: not even tried
    messages = [str(w.message) for w in caught]
    assert sum("disk on fire" in m for m in messages) == 5
    stops = [m for m in messages if "stops logging" in m]
    assert len(stops) == 1 and "logging step 5 failed" in stops[0] and "3 failures in a row" in stops[0]
    assert layer_logger.MAX_FAILURES == 3
    logger.attach(small_model())  # a new model starts afresh
    fail["on"] = False
    assert logger.log(7) is True
    logger.close()


def test_log_layers_reuses_one_logger_per_model_probes_and_options(tmp_path):
    model = small_model()
    probes = cnn_tb.Probes(PROBES)
    assert cnn_tb.log_layers(model, probes, str(tmp_path), step=-1, kinds=("stats",))
    first = layer_logger._loggers[model]
    assert len(first) == 1
    assert cnn_tb.log_layers(model, probes, str(tmp_path), step=0, kinds=("stats",))
    assert layer_logger._loggers[model] == first
    assert cnn_tb.log_layers(model, probes, str(tmp_path), step=1, kinds=("predictions",))
    assert len(layer_logger._loggers[model]) == 2
    steps = LogDir(str(tmp_path)).scalars(tags.RUN_NAME, "activation_stats/c1/mean")
    assert sorted(steps) == [-1, 0]
