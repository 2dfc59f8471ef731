"""Layer statistics and histograms reduced on the device, recomputed with numpy."""

import keras
import numpy as np
import pytest

from cnn_tb.contract.tags import STAT_NAMES
from cnn_tb.model import reduce
from cnn_tb.summaries.activation_stats import from_vector
from tests.support.device import numpy, tensors


def _stats(a):
    return from_vector(numpy(reduce.layer_stats(tensors({"x": a}), ["x"]))[0])


def test_layer_stats_equal_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5, 5, 4)).astype(np.float32)
    a[..., 2] = -np.abs(a[..., 2])  # channel 2 is never positive: dead
    a[0, 0, 0, 0] = 0.0
    s = _stats(a)
    assert set(s) == set(STAT_NAMES) | {"nonfinite"}
    assert s["mean"] == pytest.approx(a.astype(np.float64).mean(), abs=1e-6)
    assert s["std"] == pytest.approx(a.astype(np.float64).std(), rel=1e-5)
    assert (s["min"], s["max"]) == (float(a.min()), float(a.max()))
    assert s["zero_frac"] == pytest.approx(np.mean(a == 0))
    assert s["neg_frac"] == pytest.approx(np.mean(a < 0))
    assert s["dead_frac"] == pytest.approx(0.25)
    assert s["nonfinite"] == 0


def test_non_finite_values_are_counted_and_left_out():
    a = np.array([[1.0, np.nan], [np.inf, -2.0]], np.float32)  # vector layer [N, d]
    s = _stats(a)
    assert s["nonfinite"] == 2
    assert s["mean"] == pytest.approx(-0.5) and s["min"] == -2.0 and s["max"] == 1.0
    assert s["dead_frac"] == pytest.approx(0.5)  # unit 1: NaN, -2 -> never positive
    empty = _stats(np.full((2, 3), np.nan, np.float32))
    assert empty["nonfinite"] == 6 and all(np.isnan(empty[k]) for k in STAT_NAMES)


def test_histogram_of_the_grid_sample_equals_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 30, 30, 40)).astype(np.float32)  # 144,000 values: strided
    a.ravel()[7] = np.nan
    sample = numpy(reduce.grid_sample(keras.ops.convert_to_tensor(a), reduce.HISTOGRAM_VALUES))
    # every probe and channel at an evenly spaced grid of positions: 4 x 10 x 10 x 40 = 16,000
    np.testing.assert_array_equal(sample, a[:, ::3, ::3, :].ravel())
    (lo,), (hi,), (counts,), (n,) = numpy(reduce.histograms(tensors({"x": a}), ["x"]))
    finite = sample[np.isfinite(sample)]
    want, edges = np.histogram(finite, bins=reduce.HISTOGRAM_BINS, range=(finite.min(), finite.max()))
    assert (lo, hi, n) == (finite.min(), finite.max(), finite.size)
    assert counts.sum() == finite.size
    # float32 on the device may put a value lying on a bucket edge into its neighbour
    assert np.abs(counts - want).sum() <= 2
    small = numpy(reduce.grid_sample(keras.ops.convert_to_tensor(np.arange(10.0)), 10))
    np.testing.assert_array_equal(small, np.arange(10.0))
    vector = numpy(reduce.grid_sample(keras.ops.convert_to_tensor(np.arange(100.0).reshape(2, 50)), 30))
    np.testing.assert_array_equal(vector, np.arange(100.0)[::4])


def test_big_layers_use_a_grid_sample_for_spread_and_every_value_for_the_rest():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(8, 64, 64, 32)).astype(np.float32)  # 1,048,576 values > SAMPLE_VALUES
    a[..., 5] = -1.0  # a dead channel
    a[3, 17, 29, 7] = 50.0  # the maximum, off the sampling grid
    s = _stats(a)
    assert s["mean"] == pytest.approx(a.astype(np.float64).mean(), abs=1e-5)  # every value
    assert s["max"] == 50.0  # every value
    assert s["dead_frac"] == pytest.approx(1 / 32)
    step = next(k for k in range(1, 65) if 8 * (-(-64 // k)) ** 2 * 32 <= reduce.SAMPLE_VALUES)
    grid = a[:, ::step, ::step, :]
    assert grid.size <= reduce.SAMPLE_VALUES and step > 1
    assert s["std"] == pytest.approx(grid.astype(np.float64).std(), rel=2e-4)  # float32 sums on the device
    assert s["min"] == float(grid.min())
    assert s["neg_frac"] == pytest.approx(np.mean(grid < 0), abs=1e-6)


def test_layers_of_one_shape_are_reduced_together_in_the_callers_order():
    rng = np.random.default_rng(3)
    acts = {
        "a": rng.normal(size=(2, 4, 4, 3)).astype(np.float32),
        "v": rng.normal(size=(2, 10)).astype(np.float32),
        "b": rng.normal(size=(2, 4, 4, 3)).astype(np.float32) + 5.0,
        "c": rng.normal(size=(2, 6, 6, 3)).astype(np.float32) - 5.0,
    }
    names = ["c", "a", "v", "b"]
    rows = numpy(reduce.layer_stats(tensors(acts), names))
    for row, name in zip(rows, names):
        assert row[0] == pytest.approx(acts[name].astype(np.float64).mean(), abs=1e-5), name
        assert row[3] == acts[name].max(), name
    lo, hi, counts, n = numpy(reduce.histograms(tensors(acts), names))
    for k, name in enumerate(names):
        assert (lo[k], hi[k], n[k]) == (acts[name].min(), acts[name].max(), acts[name].size)
        want, _ = np.histogram(acts[name], bins=reduce.HISTOGRAM_BINS, range=(acts[name].min(), acts[name].max()))
        assert np.abs(counts[k] - want).sum() <= 2, name


def test_histogram_of_a_layer_without_a_finite_value_is_empty_and_the_others_are_counted():
    """A diverged layer (every value NaN/Inf) beside a healthy one of the same shape:
    no bucket counts for it, the other is counted exactly as numpy does."""
    rng = np.random.default_rng(5)
    good = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    bad = np.full((2, 5, 5, 3), np.nan, np.float32)
    bad[0, 0, 0, 0] = np.inf
    lo, hi, counts, n = numpy(reduce.histograms(tensors({"bad": bad, "good": good}), ["bad", "good"]))
    assert n.tolist() == [0, good.size] and counts[0].sum() == 0
    want, _ = np.histogram(good, bins=reduce.HISTOGRAM_BINS, range=(good.min(), good.max()))
    assert (lo[1], hi[1]) == (good.min(), good.max()) and np.abs(counts[1] - want).sum() <= 2
