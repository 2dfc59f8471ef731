"""The held-out pool on the notebook CNN trained on the built-in shapes dataset:
what every layer learned, recomputed from the trained model itself."""

import os

import keras
import numpy as np
import pytest
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from cnn_tb.contract import records, tags
from cnn_tb.contract.pool_records import parse_pool_record
from tests.support import pool_numpy
from tests.support.tb_data import LogDir

RUN = tags.RUN_NAME
LAST = 3


@pytest.fixture(scope="module")
def pool_records(pool_demo_run):
    log = LogDir(pool_demo_run["log_dir"])
    recs = {s: parse_pool_record(records.decode_json(v), s)
            for s, v in log.tensors(RUN, tags.POOL_TAG, tags.PLUGIN_NAME).items()}
    return log, recs


def test_every_epoch_is_a_pool_epoch(pool_records, pool_demo_run):
    _, recs = pool_records
    assert sorted(recs) == pool_demo_run["steps"]


def test_the_last_layers_separate_classes_better_than_the_input(pool_records):
    log, recs = pool_records
    sep = {layer: log.scalars(RUN, f"class_separation/{layer}")[LAST] for layer in ("input", "act4", "dense", "predictions")}
    for layer in ("act4", "dense", "predictions"):
        assert sep[layer] > sep["input"] + 0.2, sep
    trained, untrained = recs[LAST]["class_separation"], recs[-1]["class_separation"]
    assert trained["dense"] > untrained["dense"]  # training made the head separate the classes
    assert trained["input"] == untrained["input"]  # the input does not train


def test_class_separation_of_the_trained_model_equals_numpy(pool_demo_run, pool_records):
    """The model's weights after the last epoch are those of the last pool step."""
    log, recs = pool_records
    model, pool = pool_demo_run["model"], pool_demo_run["pool"]
    names = [n for n in recs[LAST]["class_separation"] if n != "input"]
    outs = keras.Model(model.inputs, [model.get_layer(n).output for n in names])([pool.images], training=False)
    acts = dict(zip(names, [keras.ops.convert_to_numpy(t) for t in outs]), input=pool.images)
    for name, a in acts.items():
        want, _ = pool_numpy.class_separation(pool_numpy.features(a), pool.labels)
        assert log.scalars(RUN, f"class_separation/{name}")[LAST] == np.float32(want), name


def test_confusion_counts_equal_numpy(pool_demo_run, pool_records):
    _, recs = pool_records
    model, pool = pool_demo_run["model"], pool_demo_run["pool"]
    pred = keras.ops.convert_to_numpy(model(pool.images, training=False)).argmax(axis=1)
    assert recs[LAST]["confusion"] == pool_numpy.confusion(pool.labels, pred, 10).tolist()
    assert recs[LAST]["accuracy"] == records.opt_float(np.mean(pred == pool.labels))


def test_projector_embedding_of_the_layer_feeding_the_output(pool_demo_run):
    config = projector_config_pb2.ProjectorConfig()
    run_dir = os.path.join(pool_demo_run["log_dir"], RUN)
    with open(os.path.join(run_dir, "projector_config.pbtxt")) as f:
        text_format.Parse(f.read(), config)
    latest, untrained = config.embeddings
    assert latest.tensor_name == "dropout @ epoch 4" and untrained.tensor_name == "dropout @ untrained"
    assert list(latest.tensor_shape) == [300, 128]
    model, pool = pool_demo_run["model"], pool_demo_run["pool"]
    want = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer("dropout").output)(pool.images))
    got = np.loadtxt(os.path.join(run_dir, latest.tensor_path), delimiter="\t")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # %.6g text
