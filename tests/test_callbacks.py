"""When the callbacks log, and that they share one event file per run."""

import glob

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from tests.support.tb_data import LogDir

L = keras.layers
X = np.random.default_rng(0).random((16, 16, 16, 3), dtype=np.float32)
Y = np.arange(16) % 4


def tiny():
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
    model = keras.Model(inp, L.Dense(4, activation="softmax")(L.Flatten()(x)))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize(
    "kwargs, steps",
    [
        ({"every_n_epochs": 2}, [-1, 1, 3, 4]),  # every 2nd epoch, and always the last
        ({"every_n_epochs": 1, "log_untrained": False}, [0, 1, 2, 3, 4]),
    ],
)
def test_which_epochs_are_logged(tmp_path, kwargs, steps):
    tiny().fit(X, Y, epochs=5, verbose=0, callbacks=[cnn_tb.LayerFlow(str(tmp_path), X[:2], **kwargs)])
    assert sorted(LogDir(str(tmp_path)).epochs()) == steps


def test_partial_callbacks_write_their_own_kinds_into_one_file(tmp_path):
    probes = cnn_tb.Probes(X[:2], labels=Y[:2])
    tiny().fit(
        X, Y, epochs=1, verbose=0,
        callbacks=[cnn_tb.FeatureMaps(str(tmp_path), probes), cnn_tb.ActivationStats(str(tmp_path), probes),
                   cnn_tb.Heatmaps(str(tmp_path), probes), cnn_tb.KernelGrids(str(tmp_path))],
    )
    assert len(glob.glob(str(tmp_path / tags.RUN_NAME / "events*"))) == 1
    log = LogDir(str(tmp_path))
    images = set(log.tags("images", "blobs")[tags.RUN_NAME])
    assert {"feature_maps/c1", "kernels/c1", "heatmaps/gradcam/c1", "heatmaps/max_activation/c1"} <= images
    scalars = set(log.tags("scalars", "scalars")[tags.RUN_NAME])
    assert "activation_stats/c1/mean" in scalars and "kernel_change/c1" in scalars
    assert not log.tags(tags.PLUGIN_NAME, "tensors").get(tags.RUN_NAME)  # no flow records


def test_log_layers_in_a_custom_loop_reuses_one_logger(tmp_path):
    model = tiny()
    probes = cnn_tb.Probes(X[:2])
    for step in range(3):
        model.train_on_batch(X, Y)
        assert cnn_tb.log_layers(model, probes, str(tmp_path), step=step)
    assert len(glob.glob(str(tmp_path / tags.RUN_NAME / "events*"))) == 1
    assert sorted(LogDir(str(tmp_path)).epochs()) == [0, 1, 2]
