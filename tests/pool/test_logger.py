"""The pool through LayerLogger: every logged number recomputed with numpy from the
model's own activations on the pool; dataset examples of a hand-set conv stack;
which steps run the pool; the dashboard subset; bad input; failures."""

import glob
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

import cnn_tb
from cnn_tb.contract import packs, pool_records, records, tags
from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
from tests.support import pool_numpy
from tests.support.real_runs import deep_model, tiny_model
from tests.support.tb_data import LogDir

RUN = tags.RUN_NAME


def read_pool(log_dir):
    """``{step: (pool record, decoded pool pack)}`` and the pool run records of a log dir."""
    log = LogDir(log_dir)
    out = {}
    for step, raw in log.tensors(RUN, tags.POOL_TAG, tags.PLUGIN_NAME).items():
        rec = pool_records.parse_pool_record(records.decode_json(raw), step)
        with open(os.path.join(log_dir, RUN, *rec["file"].split("/")), "rb") as f:
            f.seek(rec["span"][0])
            out[step] = (rec, packs.decode_pack(f.read(rec["span"][1])))
    runs = {s: pool_records.parse_pool_run_record(records.decode_json(v), s)
            for s, v in log.tensors(RUN, tags.POOL_RUN_TAG, tags.PLUGIN_NAME).items()}
    return out, runs, log


@pytest.fixture(scope="module")
def pool_data():
    x, y = make_shapes(90, image_size=16, seed=3)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def logged(tmp_path_factory, pool_data):
    """The tiny CNN (random weights) logged at steps -1 and 0 with a 90-image pool."""
    keras.utils.set_random_seed(7)
    x, y = pool_data
    model = tiny_model(10, 16)
    probes = cnn_tb.Probes(x[:3], labels=y[:3], class_names=list(CLASS_NAMES))
    log_dir = str(tmp_path_factory.mktemp("pool_logger"))
    logger = cnn_tb.LayerLogger(log_dir, probes, pool=(x, y)).attach(model)
    assert logger.log(-1) and logger.log(0)
    logger.close()
    return {"model": model, "log_dir": log_dir, "x": x, "y": y, "logger": logger}


def _activations(model, names, x):
    outs = [model.get_layer(n).output for n in names]
    return dict(zip(names, [keras.ops.convert_to_numpy(t) for t in keras.Model(model.inputs, outs)([x])]))


def test_class_separation_equals_numpy_on_the_models_own_activations(logged):
    model, x, y = logged["model"], logged["x"], logged["y"]
    names = ["conv1", "conv2", "add", "pool", "conv3", "gap", "dense", "predictions"]
    acts = _activations(model, names, x)
    acts["input"] = x
    pool, _, log = read_pool(logged["log_dir"])
    rec, pack = pool[0]
    assert list(rec["class_separation"]) == ["input"] + names
    for name, a in acts.items():
        want, nearest = pool_numpy.class_separation(pool_numpy.features(a), y)
        logged_value = log.scalars(RUN, f"class_separation/{name}")[0]
        assert logged_value == np.float32(want), name  # the scalar, exactly
        assert rec["class_separation"][name] == records.opt_float(want), name
        np.testing.assert_array_equal(pack[f"{name}/nearest"][0], nearest, err_msg=name)  # the same nearest classes


def test_predictions_confusion_and_pairs_equal_numpy(logged):
    model, x, y = logged["model"], logged["x"], logged["y"]
    probs = keras.ops.convert_to_numpy(model(x, training=False))
    pred = probs.argmax(axis=1)
    pool, runs, log = read_pool(logged["log_dir"])
    rec, pack = pool[0]
    np.testing.assert_array_equal(pack["/pred"][0], pred)
    np.testing.assert_allclose(packs.value(pack, "/confidence"), probs.max(axis=1), atol=0.5 / 255 + 1e-6)
    assert rec["confusion"] == pool_numpy.confusion(y, pred, 10).tolist()
    assert rec["accuracy"] == records.opt_float(np.mean(pred == y))
    assert log.scalars(RUN, "predictions/pool_accuracy")[0] == np.float32(np.mean(pred == y))
    wrong = pred != y
    for pair in rec["confused_pairs"]:
        idx = np.flatnonzero((y == pair["true"]) & (pred == pair["pred"]))
        assert pair["count"] == len(idx) and set(pair["examples"]) <= set(idx.tolist())
    assert sum(p["count"] for p in rec["confused_pairs"]) <= wrong.sum()
    (image,) = log.images(RUN, "predictions/confusion_matrix")[0]
    assert image.ndim == 3 and image.shape[0] > 200


def test_pool_run_record_sprite_and_files(logged):
    x, y = logged["x"], logged["y"]
    pool, runs, _ = read_pool(logged["log_dir"])
    assert sorted(pool) == [-1, 0] and list(runs) == [-1]  # the pool run record once per session
    run = runs[-1]
    assert run["count"] == 90 and run["labels"] == y.tolist() and run["class_names"] == list(CLASS_NAMES)
    assert run["layers"][0] == "input" and run["embedding_layers"] == ["dense"]
    assert run["examples"]["conv1"]["channels"] == list(range(8)) and run["examples"]["conv1"]["top_k"] == 6
    assert run["examples"]["conv3"]["field"] == {"size": [10.0, 10.0], "jump": [2.0, 2.0], "top": [0.0, 0.0], "exact": True}
    run_dir = os.path.join(logged["log_dir"], RUN)
    sprite = os.path.join(run_dir, *run["sprite"]["file"].split("/"))
    assert os.path.getsize(sprite) == run["sprite"]["length"]
    from PIL import Image

    img = np.asarray(Image.open(sprite).convert("RGB"))
    assert img.shape == (10 * 16, 10 * 16, 3) and run["sprite"]["columns"] == 10 and run["sprite"]["thumb"] == [16, 16]
    np.testing.assert_array_equal(img[16:32, 48:64], np.rint(x[13] * 255).astype(np.uint8))  # image 13: row 1, column 3
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "pool", "*", "*.pool"))) == ["-1.pool", "0.pool"]
    assert os.path.exists(os.path.join(run_dir, "projector_config.pbtxt"))


def test_the_epoch_record_stays_last_of_the_step(logged):
    (path,) = glob.glob(os.path.join(logged["log_dir"], RUN, "events.out.tfevents.*"))
    by_step = {}  # step -> its values' tags in file order (one value an event)
    for raw in tf.data.TFRecordDataset(path):
        event = event_pb2.Event.FromString(raw.numpy())
        by_step.setdefault(event.step, []).extend(v.tag for v in event.summary.value)
    steps = {s: names for s, names in by_step.items() if names}
    assert len(steps) >= 2
    for names in steps.values():
        assert names[-1] == tags.EPOCH_TAG and names.count(tags.EPOCH_TAG) == 1
        assert names.index(tags.POOL_TAG) < len(names) - 1


def _dot_model():
    """input 16x16x1 -> c1 (valid 3x3: channel 0 the 3x3 mean, channel 1 the centre pixel)
    -> p (max pool 2) -> c2 (valid 3x3 sum of c1's channel 1)."""
    inp = keras.Input((16, 16, 1), name="input")
    c1 = keras.layers.Conv2D(2, 3, name="c1")(inp)
    p = keras.layers.MaxPooling2D(2, name="p")(c1)
    c2 = keras.layers.Conv2D(1, 3, name="c2")(p)
    out = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D(name="g")(c2))
    model = keras.Model(inp, out)
    k1 = np.zeros((3, 3, 1, 2), np.float32)
    k1[..., 0, 0] = 1 / 9
    k1[1, 1, 0, 1] = 1.0
    k2 = np.zeros((3, 3, 2, 1), np.float32)
    k2[:, :, 1, 0] = 1.0
    model.get_layer("c1").set_weights([k1, np.zeros(2, np.float32)])
    model.get_layer("c2").set_weights([k2, np.zeros(1, np.float32)])
    return model


def test_dataset_examples_of_a_hand_set_conv_stack(tmp_path):
    """Each pool image holds one dot of its own brightness: the top images of a
    channel are the brightest dots, and each crop is the receptive field of
    where the channel peaks, around the dot."""
    rng = np.random.default_rng(0)
    n = 20
    spots = rng.integers(2, 14, size=(n, 2))
    bright = rng.permutation(np.linspace(0.3, 1.0, n)).astype(np.float32)
    x = np.zeros((n, 16, 16, 1), np.float32)
    x[np.arange(n), spots[:, 0], spots[:, 1], 0] = bright
    y = np.arange(n) % 2
    logger = cnn_tb.LayerLogger(str(tmp_path), cnn_tb.Probes(x[:2], labels=y[:2]), pool=(x, y), pool_examples=4).attach(_dot_model())
    assert logger.log(0)
    logger.close()
    pool, runs, _ = read_pool(str(tmp_path))
    _, pack = pool[0]
    brightest = np.argsort(-bright, kind="stable")[:4]
    c1 = pack["c1/examples"][0]  # [channels, k, 6]
    assert c1.shape == (2, 4, 6) and pack["c1/examples"][1]["meta"]["channels"] == [0, 1]
    # channel 1 copies the centre pixel: maximum = the dot, at (dot - 1); field 3x3 around the dot
    np.testing.assert_array_equal(c1[1, :, 0], brightest)
    np.testing.assert_allclose(c1[1, :, 1], bright[brightest], rtol=1e-6)
    for row, i in zip(c1[1], brightest):
        sy, sx = spots[i]
        assert tuple(row[2:]) == (sy - 1, sx - 1, sy + 2, sx + 2)
    # channel 0 (3x3 mean): the same ranking, the dot inside its 3x3 crop
    np.testing.assert_array_equal(c1[0, :, 0], brightest)
    # c2 sums 3x3 windows of pooled c1 channel 1: field 8x8 at (2y, 2x), first window holding the dot
    c2 = pack["c2/examples"][0][0]
    np.testing.assert_array_equal(c2[:, 0], brightest)
    for row, i in zip(c2, brightest):
        qy, qx = (spots[i] - 1) // 2  # the dot's position after the pooling
        y0, x0 = 2 * max(0, qy - 2), 2 * max(0, qx - 2)
        assert tuple(row[2:]) == (y0, x0, y0 + 8, x0 + 8)
        assert y0 <= spots[i][0] < y0 + 8 and x0 <= spots[i][1] < x0 + 8
    assert runs[0]["examples"]["c2"]["field"]["size"] == [8.0, 8.0]


def test_pool_steps_follow_pool_every_n_epochs_and_can_be_forced(tmp_path, pool_data):
    x, y = pool_data
    logger = cnn_tb.LayerLogger(str(tmp_path), x[:2], kinds=("stats",), pool=(x[:20], y[:20]), pool_every_n_epochs=2)
    logger.attach(tiny_model(10, 16))
    for step in range(-1, 4):
        logger.log(step)
    logger.log(4, pool=True)
    logger.log(5, pool=False)
    logger.close()
    pool, _, log = read_pool(str(tmp_path))
    assert sorted(pool) == [-1, 1, 3, 4]
    assert sorted(log.scalars(RUN, "class_separation/conv1")) == [-1, 1, 3, 4]
    assert "pool" not in logger.last_timings  # step 5 skipped the pool


def test_callbacks_run_the_pool_at_the_last_epoch(tmp_path, pool_data):
    x, y = pool_data
    model = tiny_model(10, 16)
    cb = cnn_tb.LayerFlow(str(tmp_path), cnn_tb.Probes(x[:2], labels=y[:2]), pool=(x[:30], y[:30]), pool_every_n_epochs=2)
    model.fit(x[:64], y[:64], epochs=3, batch_size=32, verbose=0, callbacks=[cb])
    pool, _, _ = read_pool(str(tmp_path))
    assert sorted(pool) == [-1, 1, 2]  # untrained, epoch 2, and the last epoch


def test_deep_models_keep_the_dashboard_usable_the_plugin_gets_every_layer(tmp_path):
    x, y = make_shapes(40, image_size=16, seed=1)
    model = deep_model(10, 16, blocks=12)  # 28 logged layers: a dashboard subset
    logger = cnn_tb.LayerLogger(str(tmp_path), x[:2].astype(np.float32), pool=(x.astype(np.float32), y)).attach(model)
    assert logger.log(0)
    logger.close()
    pool, _, log = read_pool(str(tmp_path))
    rec, _ = pool[0]
    scalars = {t.split("/", 1)[1] for t in log.tags("scalars", "scalars")[RUN] if t.startswith("class_separation/")}
    assert scalars == {"input"} | set(logger.ctx.dashboard_names)
    assert len(logger.ctx.dashboard_names) < len(logger.ctx.selected)
    assert set(rec["class_separation"]) == {"input"} | {i.name for i in logger.ctx.selected}


@pytest.mark.parametrize(
    "pool,options,error",
    [
        (lambda x, y: x, {}, (TypeError, r"`pool` must be cnn_tb.Probes\(images, labels=...\).*Received: pool=array of shape")),
        (lambda x, y: cnn_tb.Probes(x), {}, (ValueError, r"`pool` must hold labels.*Probes without labels")),
        (lambda x, y: (x[:1], y[:1]), {}, (ValueError, r"at least 2 images of at least 2 classes")),
        (lambda x, y: (x[:5], np.zeros(5)), {}, (ValueError, r"at least 2 images of at least 2 classes.*classes \[0\]")),
        (lambda x, y: (x, y), {"pool_every_n_epochs": 0}, (ValueError, r"`pool_every_n_epochs` must be a positive int. Received: pool_every_n_epochs=0")),
        (lambda x, y: (x, y), {"pool_examples": 2.5}, (ValueError, r"`pool_examples` must be a positive int")),
        (lambda x, y: (x, y), {"embedding_layers": [3]}, (TypeError, r"`embedding_layers` must be None or a non-empty list of layer names")),
        (lambda x, y: (x, y), {"kinds": ("kernels",)}, (ValueError, r"`pool` needs a kind that runs the model")),
        (lambda x, y: tf.data.Dataset.from_tensor_slices(x), {}, (ValueError, r"`pool` must hold labels: the dataset gives images only")),
    ],
)
def test_bad_pools_fail_in_the_constructor(tmp_path, pool_data, pool, options, error):
    x, y = pool_data
    with pytest.raises(error[0], match=error[1]):
        cnn_tb.LayerLogger(str(tmp_path), x[:2], pool=pool(x, y), **options)


def test_pools_that_do_not_fit_the_model_fail_at_attach(tmp_path, pool_data):
    x, y = pool_data
    model = tiny_model(10, 16)
    with pytest.raises(ValueError, match=r"input shape is \(16, 16, 3\).*the probes are \(8, 8, 3\)"):
        cnn_tb.LayerLogger(str(tmp_path), x[:2], pool=(x[:, :8, :8], y)).attach(model)
    with pytest.raises(ValueError, match=r"labels go up to 11, but the model's output has only 10 classes"):
        cnn_tb.LayerLogger(str(tmp_path), x[:2], pool=(x[:3], np.array([0, 1, 11]))).attach(model)
    with pytest.raises(ValueError, match=r"`embedding_layers` names a layer the model does not have: 'nope'"):
        cnn_tb.LayerLogger(str(tmp_path), x[:2], pool=(x, y), embedding_layers=["nope"]).attach(model)
    # set_model checks the same before any training
    cb = cnn_tb.LayerFlow(str(tmp_path), x[:2], pool=(x[:, :8, :8], y))
    with pytest.raises(ValueError, match="input shape"):
        model.fit(x[:4], y[:4], epochs=1, verbose=0, callbacks=[cb])


def test_a_tf_data_pool_is_read_once(tmp_path, pool_data):
    x, y = pool_data
    ds = tf.data.Dataset.from_tensor_slices((x[:25], y[:25])).batch(8)
    logger = cnn_tb.LayerLogger(str(tmp_path), cnn_tb.Probes(x[:2], class_names=list(CLASS_NAMES)), pool=ds)
    assert len(logger.pool_logger.pool) == 25 and logger.pool_logger.pool.class_names == list(CLASS_NAMES)
    np.testing.assert_array_equal(logger.pool_logger.pool.labels, y[:25])


@pytest.mark.parametrize(
    "part, background",
    # the snapshot (caller's thread), the pass on it and its analysis (finish, on the
    # caller's thread or the background one)
    [("snapshot", False), ("forward", False), ("forward", True), ("analyse", False), ("analyse", True)],
)
def test_a_failing_pool_warns_and_the_step_is_still_written(tmp_path, pool_data, monkeypatch, part, background):
    x, y = pool_data
    logger = cnn_tb.LayerLogger(
        str(tmp_path), x[:2], kinds=("stats",), pool=(x[:20], y[:20]), background=background
    ).attach(tiny_model(10, 16))

    def boom(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(logger.pool_logger, part, boom)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            assert logger.log(step) is True
        assert logger.wait() is True
    messages = [str(w.message) for w in caught if "held-out pool" in str(w.message)]
    assert len(messages) == 3 and "out of memory" in messages[0]
    assert "switched off" in messages[2] and logger.pool_logger is None
    assert logger.log(3) is True
    logger.close()
    log = LogDir(str(tmp_path))
    assert sorted(log.scalars(RUN, "activation_stats/conv1/mean")) == [0, 1, 2, 3]


def test_the_pool_pass_runs_on_the_weights_of_its_step(tmp_path, pool_data):
    """The hook takes a snapshot of the weights (cheap: TensorFlow's reads are
    copy-on-write) and the pool's pass runs in ``finish``, on a background thread
    while training goes on: its numbers are those of the model at the step, however
    the weights change before the pass runs; compiled there, as it is outside."""
    from cnn_tb.model import backend as backend_lib

    keras.utils.set_random_seed(11)
    x, y = pool_data
    model = tiny_model(10, 16)
    logger = cnn_tb.LayerLogger(str(tmp_path), x[:2], kinds=("stats",), pool=(x, y), background=False).attach(model)
    steps = logger._steps
    at_step = keras.ops.convert_to_numpy(model(x, training=False))
    for step in (0, 1):  # the first pass compiles (in the background with TensorFlow); then compiled
        prepared = steps.prepare(step, {})
        before = [w.copy() for w in model.get_weights()]
        model.set_weights([w * -1.5 for w in before])  # "training" before finish runs
        changed = keras.ops.convert_to_numpy(model(x, training=False))
        assert (changed.argmax(1) != at_step.argmax(1)).any()
        timings = steps.finish(prepared)
        assert timings["pool_pass"] > 0
        model.set_weights(before)
        steps.pool_logger.capture.capture.wait_compiled(timeout=300)
    fn = next(iter(steps.pool_logger.capture.capture._fns.values()))
    assert fn.compiled and (fn.snapshots or backend_lib.name() != "tensorflow")
    logger.close()
    pool, _, _ = read_pool(str(tmp_path))
    for step in (0, 1):
        rec, pack = pool[step]
        np.testing.assert_array_equal(pack["/pred"][0], at_step.argmax(axis=1))
        np.testing.assert_allclose(packs.value(pack, "/confidence"), at_step.max(axis=1), atol=0.5 / 255 + 1e-6)
