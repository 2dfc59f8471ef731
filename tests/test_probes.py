"""Probe selection (class-balanced, from arrays or a tf.data.Dataset) and the
package's light import."""

import subprocess
import sys

import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags


def test_select_is_class_balanced_and_deterministic():
    x = np.random.default_rng(0).random((100, 8, 8, 3), dtype=np.float32)
    y = np.repeat(np.arange(5), 20)
    a = cnn_tb.Probes.select(x, y, n=10, seed=3)
    b = cnn_tb.Probes.select(x, y, n=10, seed=3)
    assert np.bincount(a.labels).tolist() == [2, 2, 2, 2, 2]
    np.testing.assert_array_equal(a.images, b.images)


def test_select_from_a_tf_data_dataset():
    import tensorflow as tf

    x = np.random.default_rng(0).random((60, 8, 8, 3), dtype=np.float32)
    y = np.arange(60) % 3
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    p = cnn_tb.Probes.select(ds, n=6, class_names=["a", "b", "c"])
    assert len(p) == 6 and np.bincount(p.labels).tolist() == [2, 2, 2]
    for img, label in zip(p.images, p.labels):
        match = np.flatnonzero((x == img).all(axis=(1, 2, 3)))
        assert len(match) == 1 and y[match[0]] == label


def test_select_rejects_bad_n():
    with pytest.raises(ValueError, match=r"`n` must be a positive int. Received: n=0"):
        cnn_tb.Probes.select(np.zeros((4, 8, 8, 3), np.float32), n=0)


def test_package_import_is_light():
    code = "import sys, cnn_tb, cnn_tb.contract.tags, cnn_tb.contract.records, cnn_tb.contract.packs, cnn_tb.plugin.loader; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert tags.PLUGIN_NAME == "cnn_tb"
