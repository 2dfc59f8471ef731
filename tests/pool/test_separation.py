"""Class separation, nearest classes, margins, confusion and confused pairs, each
recomputed image by image with numpy."""

import numpy as np
import pytest

from cnn_tb.pool import separation
from tests.support import pool_numpy


def _blobs(rng, n, k, d, spread):
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, d)) * 3
    return centres[y] + rng.normal(size=(n, d)) * spread, y


@pytest.mark.parametrize("seed,spread", [(0, 0.5), (1, 2.0), (2, 6.0), (3, 20.0)])
def test_value_and_nearest_classes_equal_the_definition(seed, spread):
    rng = np.random.default_rng(seed)
    x, y = _blobs(rng, 90, 5, 7, spread)
    x[:, 3] = 1.5  # a constant feature: dropped
    got = separation.class_separation(x, y)
    want, nearest = pool_numpy.class_separation(x, y)
    assert got.value == want
    np.testing.assert_array_equal(got.nearest, nearest)
    assert got.features_used == 6


def test_a_singleton_class_is_never_predicted_for_its_member():
    rng = np.random.default_rng(4)
    x, y = _blobs(rng, 40, 3, 4, 0.3)
    y[7] = 9  # the only image of class 9
    got = separation.class_separation(x, y)
    want, nearest = pool_numpy.class_separation(x, y)
    assert got.nearest[7] != 9 and got.margin[7] == -1.0
    assert got.value == want
    np.testing.assert_array_equal(got.nearest, nearest)


def test_margins_are_signed_distances_to_own_and_nearest_other_class():
    rng = np.random.default_rng(5)
    x, y = _blobs(rng, 30, 3, 3, 1.0)
    got = separation.class_separation(x, y)
    z = (x - x.mean(0)) / x.std(0)
    for i in range(len(y)):
        own = z[(y == y[i]) & (np.arange(len(y)) != i)].mean(0)
        d_own = np.linalg.norm(z[i] - own)
        d_other = min(np.linalg.norm(z[i] - z[y == c].mean(0)) for c in set(y.tolist()) - {y[i]})
        assert got.margin[i] == pytest.approx((d_other - d_own) / (d_other + d_own), abs=1e-9)
        assert (got.margin[i] > 0) == (got.nearest[i] == y[i])


def test_dead_layers_are_undefined():
    got = separation.class_separation(np.zeros((10, 4)), np.arange(10) % 2)
    assert got.value is None and got.features_used == 0
    assert (got.nearest == -1).all() and (got.margin == 0).all()
    nan = np.full((10, 4), np.nan)
    assert separation.class_separation(nan, np.arange(10) % 2).value is None


def test_features_are_spatial_channel_means_or_the_vector():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(separation.features_of(a), pool_numpy.features(a))
    v = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(separation.features_of(v), v)


def test_confusion_matrix_and_confused_pairs():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 1, 1, 0, 2])
    conf = np.array([0.9, 0.6, 0.8, 0.7, 0.5, 0.55, 0.95, 0.4, 0.9])
    cm = separation.confusion_matrix(labels, pred, 4)
    np.testing.assert_array_equal(cm, pool_numpy.confusion(labels, pred, 4))
    pairs = separation.confused_pairs(labels, pred, conf, top=2, examples=1)
    assert pairs == [{"true": 0, "pred": 1, "count": 2, "examples": [2]},
                     {"true": 2, "pred": 1, "count": 2, "examples": [6]}]
