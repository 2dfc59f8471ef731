"""Layer statistics over all probes, recomputed with numpy; the histogram sample."""

import numpy as np
import pytest

from cnn_tb.contract.tags import STAT_NAMES
from cnn_tb.summaries import activation_stats


def test_layer_stats_equal_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5, 5, 4)).astype(np.float32)
    a[..., 2] = -np.abs(a[..., 2])  # channel 2 is never positive: dead
    a[0, 0, 0, 0] = 0.0
    s = activation_stats.layer_stats(a)
    assert set(s) == set(STAT_NAMES) | {"nonfinite"}
    assert s["mean"] == pytest.approx(a.astype(np.float64).mean())
    assert s["std"] == pytest.approx(a.astype(np.float64).std())
    assert (s["min"], s["max"]) == (float(a.min()), float(a.max()))
    assert s["zero_frac"] == pytest.approx(np.mean(a == 0))
    assert s["neg_frac"] == pytest.approx(np.mean(a < 0))
    assert s["dead_frac"] == pytest.approx(0.25)
    assert s["nonfinite"] == 0


def test_non_finite_values_are_counted_and_left_out():
    a = np.array([[1.0, np.nan], [np.inf, -2.0]], np.float32)  # vector layer [N, d]
    s = activation_stats.layer_stats(a)
    assert s["nonfinite"] == 2
    assert s["mean"] == pytest.approx(-0.5) and s["min"] == -2.0 and s["max"] == 1.0
    assert s["dead_frac"] == pytest.approx(0.5)  # unit 1: NaN, -2 -> never positive
    empty = activation_stats.layer_stats(np.full((2, 3), np.nan, np.float32))
    assert empty["nonfinite"] == 6 and all(np.isnan(empty[k]) for k in STAT_NAMES)


def test_histogram_sample_is_evenly_strided_and_finite():
    a = np.arange(100_000, dtype=np.float32)
    a[5] = np.nan
    sample = activation_stats.histogram_sample(a)
    stride = a.size // activation_stats.HISTOGRAM_VALUES + 1
    want = a[::stride]
    np.testing.assert_array_equal(sample, want[np.isfinite(want)])
    assert sample.size <= activation_stats.HISTOGRAM_VALUES
    small = np.array([1.0, np.inf, 3.0], np.float32)
    np.testing.assert_array_equal(activation_stats.histogram_sample(small), [1.0, 3.0])
