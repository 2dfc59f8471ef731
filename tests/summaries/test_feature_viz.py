"""The feature_viz kind: its schedule and budget, its layer choice, and what it
writes (records, pack file strips, Images-dashboard grids, run record)."""

import io
import os
import time

import keras
import numpy as np
import pytest
from PIL import Image

import cnn_tb
from cnn_tb.contract import feature_viz_record, records, tags
from cnn_tb.model import graph
from cnn_tb.summaries import ALL_KINDS
from cnn_tb.summaries import feature_viz as kind
from tests.support.tb_data import LogDir

# ------------------------------------------------------------------ schedule


def test_due_steps_every_n_and_the_last():
    s = kind.Schedule(every_n_epochs=5)
    assert [e for e in range(-1, 12) if s.due(e)] == [4, 9]
    assert s.due(7, final=True) and not kind.Schedule(5, at_end=False).due(7, final=True)
    assert not s.due(-1, final=True)  # the untrained model is not visualized


def test_no_run_before_any_training_is_measured():
    s = kind.Schedule(every_n_epochs=1)
    assert s.decide(0) == (False, "no training time measured yet")
    assert s.skipped == [0]


def test_first_run_without_an_estimate_then_the_budget_decides():
    s = kind.Schedule(every_n_epochs=1, at_end=False, max_share=0.05)
    s.trained(10.0, 1)
    assert s.decide(0) == (True, "first run")
    s.spent(0, 2.0)  # 2 s against 0.05 * 10 s: over for a while
    for e in range(1, 40):
        s.trained(10.0, 1)
        run, _ = s.decide(e)
        if run:
            s.spent(e, 2.0)
        # the average cost never exceeds the share (after the first run)
        assert s.spent_seconds <= 0.05 * s.train_seconds + 2.0
    assert s.runs == [0, 7, 11, 15, 19, 23, 27, 31, 35, 39]  # every 4 epochs: 2 s / (0.05 * 10 s)
    assert s.share == pytest.approx(20.0 / 400.0)
    assert 1 in s.skipped and 7 not in s.skipped


def test_no_budget_runs_every_due_step():
    s = kind.Schedule(every_n_epochs=2, max_share=None)
    assert [s.decide(e, final=e == 4)[0] for e in range(5)] == [False, True, False, True, True]
    assert kind.FeatureVizOptions(max_share=None).max_share is None


def test_prior_estimate_keeps_the_first_run_within_budget():
    s = kind.Schedule(every_n_epochs=1, at_end=False, max_share=0.05)
    s.trained(10.0, 1)
    assert s.decide(0, prior=1.0) == (False, "over budget")  # 1 s > 0.05 * 10 s
    s.trained(10.0, 1)
    assert s.decide(1, prior=1.0) == (True, "due")  # 1 s <= 0.05 * 20 s


def test_a_run_that_compiled_does_not_set_the_next_estimate():
    s = kind.Schedule(every_n_epochs=1, at_end=False, max_share=0.1)
    s.trained(100.0, 10)
    s.spent(9, 9.0, compiled=True)  # 9 s, most of it compiling
    s.trained(10.0, 1)
    assert s.decide(10, prior=1.0) == (True, "due")  # 9 + 1 <= 0.1 * 110: estimated by the prior
    assert s.decide(10, prior=None) == (False, "over budget")  # 9 + 9 > 11 without one
    s.spent(10, 1.5)
    s.trained(40.0, 4)
    assert s.decide(14, prior=0.1) == (True, "due")  # now the last run's 1.5 s: 12 <= 15
    s.estimate = 5.0
    assert s.decide(15, prior=0.1) == (False, "over budget")  # a measured run wins over the prior


def test_budget_is_kept_for_the_last_epoch():
    s = kind.Schedule(every_n_epochs=2, at_end=True, max_share=0.1)
    for e in range(4):
        s.trained(10.0, 1)
    s.estimate = 3.5
    # step 3: 3.5 s fits 0.1 * 40 s, but then the last step (5) would find 0.1 * 60 - 3.5 < 3.5
    assert s.decide(3, last_step=5) == (False, "kept for the last epoch")
    s.trained(10.0, 1)
    s.trained(10.0, 1)
    assert s.decide(5, final=True, last_step=5) == (True, "due")


# ------------------------------------------------------------------ options and layers


def test_options_from_true_false_dict_and_bad_values():
    assert kind.FeatureVizOptions.of(True) == kind.FeatureVizOptions()
    assert kind.FeatureVizOptions.of(False) is None
    assert kind.FeatureVizOptions.of({"steps": 8}).steps == 8
    with pytest.raises(ValueError, match=r"unknown options \['step'\]"):
        kind.FeatureVizOptions.of({"step": 8})
    with pytest.raises(TypeError, match="feature_viz"):
        kind.FeatureVizOptions.of("yes")
    with pytest.raises(ValueError, match="every_n_epochs"):
        kind.FeatureVizOptions(every_n_epochs=0)
    with pytest.raises(ValueError, match="max_share"):
        kind.FeatureVizOptions(max_share=2.0)
    with pytest.raises(TypeError, match="layers"):
        kind.FeatureVizOptions(layers=[1])


def test_default_layers_of_the_seed_cnn_are_its_conv_stages():
    from cnn_tb.demo import models

    infos = graph.walk(models.notebook_cnn())
    names = lambda opts: [i.name for i in kind.choose_layers(infos, opts)]  # noqa: E731
    assert names(kind.FeatureVizOptions()) == ["conv1", "conv2", "conv3", "conv4"]
    assert names(kind.FeatureVizOptions(max_layers=2)) == ["conv1", "conv4"]
    assert names(kind.FeatureVizOptions(layers=["act2", "conv1"])) == ["conv1", "act2"]
    with pytest.raises(ValueError, match="not a map layer"):
        kind.choose_layers(infos, kind.FeatureVizOptions(layers=["dense"]))


def test_strip_png_holds_each_tile_left_to_right():
    rng = np.random.default_rng(0)
    images = rng.random((3, 5, 4, 3)).astype(np.float32)
    strip = np.asarray(Image.open(io.BytesIO(kind.strip_png(images))))
    assert strip.shape == (5, 12, 3)
    for k in range(3):
        np.testing.assert_array_equal(strip[:, 4 * k : 4 * k + 4], np.rint(images[k] * 255).astype(np.uint8))
    grey = np.asarray(Image.open(io.BytesIO(kind.strip_png(images[..., :1]))))
    assert grey.shape == (5, 12)


# ------------------------------------------------------------------ what is written


def small_model():
    inp = keras.Input((12, 12, 3), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x), name="small")


def test_logger_writes_visualizations_on_schedule_and_skips_over_budget(tmp_path):
    model = small_model()
    probes = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    opts = {"every_n_epochs": 2, "steps": 8, "max_share": 0.5, "channels": 4}
    logger = cnn_tb.LayerLogger(str(tmp_path), probes, feature_viz=opts).attach(model)
    for step in (-1, 0, 1, 2, 3):
        time.sleep(0.05)  # "training": a few hundredths of a second per epoch
        assert logger.log(step, final=step == 3, last_step=3)
    logger.close()
    log = LogDir(str(tmp_path))
    run = tags.RUN_NAME
    fv = log.tensors(run, tags.FEATURE_VIZ_TAG, tags.PLUGIN_NAME)
    # step 1: the first run (no estimate yet); step 3: far over half the ~0.2 s of training
    assert sorted(fv) == [1]
    rec = feature_viz_record.parse_feature_viz_record(records.decode_json(fv[1]), 1)
    assert [l["name"] for l in rec["layers"]] == ["c1", "c2"]
    assert rec["steps"] == 8 and rec["seed"] == 0
    assert rec["cost"]["share"] > 0.5  # the first run's cost, reported as it was
    with open(os.path.join(str(tmp_path), run, *rec["file"].split("/")), "rb") as f:
        data = f.read()
    for entry in rec["layers"]:
        assert entry["channels"] == [0, 1, 2, 3] and entry["image_shape"] == [12, 12, 3]
        o, n = entry["span"]
        strip = np.asarray(Image.open(io.BytesIO(data[o : o + n]))).astype(np.float32) / 255.0
        again = cnn_tb.feature_visualization(model, entry["name"], channels=range(4), steps=8, seed=0)
        # the same seed gives the same images: the strip is them, tile by tile
        np.testing.assert_allclose(strip, again.transpose(1, 0, 2, 3).reshape(12, 48, 3), atol=1.5 / 255)
        sub = keras.Model(model.inputs, model.get_layer(entry["name"]).output)
        means = sub.predict(again, verbose=0).mean(axis=(1, 2))[np.arange(4), np.arange(4)]
        np.testing.assert_allclose(entry["objective"], means, rtol=1e-3, atol=1e-5)
    images = log.images(run, "feature_viz/c2")
    assert sorted(images) == [1] and images[1][0].shape[:2] == (4 * 12 + 4, 4 * (4 * 12 + 2) + 2)  # 4 tiles, enlarged 4x
    # the run record says what was done and what it cost, written again after the schedule changed
    run_records = log.tensors(run, tags.RUN_TAG, tags.PLUGIN_NAME)
    latest = records.decode_json(run_records[max(run_records)])
    cost = latest["settings"]["feature_viz"]["cost"]
    assert cost["runs"] == [1] and cost["skipped"] == [3]
    assert latest["settings"]["feature_viz"]["layers"] == ["c1", "c2"]
    assert cost["max_share"] == 0.5
    assert 0 < cost["train_seconds"] < 5 and cost["share"] == pytest.approx(cost["spent_seconds"] / cost["train_seconds"], rel=0.01)


def test_feature_viz_off(tmp_path):
    probes = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    logger = cnn_tb.LayerLogger(str(tmp_path), probes, feature_viz=False)
    assert "feature_viz" not in logger.kinds and "feature_viz" in ALL_KINDS
    logger.attach(small_model())
    assert "feature_viz" not in logger.ctx.run_settings
    with pytest.raises(ValueError, match="nothing to log"):
        cnn_tb.LayerLogger(str(tmp_path), probes, kinds=("feature_viz",), feature_viz=False)


def test_bad_layer_in_options_fails_at_attach(tmp_path):
    probes = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    logger = cnn_tb.LayerLogger(str(tmp_path), probes, feature_viz={"layers": ["gap"]})
    with pytest.raises(ValueError, match=r"Layer 'gap' is not a map layer.*Layers with one: \['c1', 'c2'\]"):
        logger.attach(small_model())


def test_prior_from_the_training_step_time():
    k = kind.FeatureViz(cnn_tb.layer_logger.Settings(feature_viz=kind.FeatureVizOptions(steps=64)))
    k.visualizers = {"a": None, "b": None}
    k.options = kind.FeatureVizOptions(steps=64)
    k.schedule = kind.Schedule()
    k.schedule.trained(10.0, 2)

    class S:
        steps_per_epoch = 100

    # 10 s over 200 batches: 0.05 s a training step; 64 steps x 2 layers x a quarter of one
    assert k.prior(S) == pytest.approx(64 * 2 * 0.25 * 0.05)
    S.steps_per_epoch = None
    assert k.prior(S) is None


def test_a_failing_visualization_warns_and_the_step_is_still_written(tmp_path, monkeypatch):
    model = small_model()
    probes = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    logger = cnn_tb.LayerLogger(str(tmp_path), probes, feature_viz={"every_n_epochs": 1, "steps": 2, "max_share": None})
    logger.attach(model)
    viz = next(k for k in logger._kinds if k.name == "feature_viz")

    def boom(*a, **k):
        raise MemoryError("out of memory")

    for v in viz.visualizers.values():
        monkeypatch.setattr(v, "run", boom)
    with pytest.warns(RuntimeWarning, match=r"feature visualization failed at step 0 \(MemoryError: out of memory\)"):
        assert logger.log(0) is True
    assert logger.log(1) is True  # off from now on, no second warning
    logger.close()
    log = LogDir(str(tmp_path))
    assert sorted(log.epochs()) == [0, 1]
    assert tags.FEATURE_VIZ_TAG not in log.tags(tags.PLUGIN_NAME, "tensors")[tags.RUN_NAME]
    run_records = log.tensors(tags.RUN_NAME, tags.RUN_TAG, tags.PLUGIN_NAME)
    assert records.decode_json(run_records[max(run_records)])["settings"]["feature_viz"]["failed"] == "out of memory"


def test_a_numpy_only_probe_preprocess_turns_feature_viz_off_with_a_warning(tmp_path):
    import numpy

    probes = cnn_tb.Probes(np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32),
                           preprocess=lambda x: numpy.asarray(x).astype("float32") * 2.0 - 1.0 + numpy.zeros(1).tolist()[0])
    logger = cnn_tb.LayerLogger(str(tmp_path), probes, feature_viz=True)
    with pytest.warns(RuntimeWarning, match=r"no feature visualizations for this run: `preprocess` must accept"):
        logger.attach(small_model())
    assert "feature_viz" not in logger.ctx.run_settings
    assert logger.log(0) is True  # everything else is logged
    logger.close()


def test_a_model_without_image_shaped_conv_outputs_gets_no_visualizations():
    inp = keras.Input((20, 3))
    x = keras.layers.Conv1D(4, 3, name="c")(inp)
    infos = graph.walk(keras.Model(inp, keras.layers.GlobalAveragePooling1D()(x)))
    assert kind.choose_layers(infos, kind.FeatureVizOptions()) == []
