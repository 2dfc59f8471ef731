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


def test_statistics_are_of_the_float32_values_accumulated_in_float64():
    rng = np.random.default_rng(1)
    a = (1e4 + rng.random((4, 64, 64, 16))).astype(np.float32)  # float32 sums of these lose digits
    s = activation_stats.layer_stats(a)
    wide = a.astype(np.float64)
    assert s["mean"] == float(wide.mean()) and s["std"] == float(wide.std())
    x = np.array([[0.1, -0.3]])  # float64 input: measured after the cast to float32
    s = activation_stats.layer_stats(x)
    assert (s["min"], s["max"]) == (float(np.float32(-0.3)), float(np.float32(0.1)))


@pytest.mark.parametrize("values,dead", [([1.0, -1.0, -2.0], 0.0), ([1.0, -1.0, -2.0, -3.0], 0.0), ([-1.0, 0.0], 1.0)])
def test_one_value_per_probe_is_one_channel(values, dead):
    s = activation_stats.layer_stats(np.array(values, np.float32))  # [N]: a layer with one output
    assert s["dead_frac"] == dead


def test_histogram_sample_keeps_exactly_histogram_values_whole():
    a = np.arange(activation_stats.HISTOGRAM_VALUES, dtype=np.float32)
    np.testing.assert_array_equal(activation_stats.histogram_sample(a), a)
    b = np.arange(activation_stats.HISTOGRAM_VALUES + 1, dtype=np.float32)
    np.testing.assert_array_equal(activation_stats.histogram_sample(b), b[::2])


@pytest.mark.parametrize("histograms", [True, False])
def test_values_are_the_finite_statistics_the_nonfinite_count_and_a_histogram_per_layer(histograms):
    import types

    from tensorboard.util import tensor_util

    from cnn_tb.contract.tags import TAGS
    from cnn_tb.summaries.base import Settings, Step

    rng = np.random.default_rng(2)
    acts = {
        "conv": rng.normal(size=(2, 4, 4, 3)).astype(np.float32),
        "dense": np.array([[np.nan, 1.0], [np.inf, -2.0]], np.float32),
        "dead": np.full((2, 3), np.nan, np.float32),  # nothing finite: no statistic, no histogram
    }
    step = Step(0, {}, types.SimpleNamespace(activations=acts), {}, {})
    values = activation_stats.ActivationStats(Settings(histograms=histograms)).values(step)
    scalars = {v.tag: float(tensor_util.make_ndarray(v.tensor)) for v in values
               if v.metadata.plugin_data.plugin_name == "scalars"}
    expected = {f"{TAGS['activation_stats']}/{name}/{stat}": np.float32(step.stats[name][stat])
                for name in ("conv", "dense") for stat in STAT_NAMES}
    expected[f"{TAGS['activation_stats']}/dense/nonfinite"] = 2.0
    expected[f"{TAGS['activation_stats']}/dead/nonfinite"] = 6.0
    assert scalars == pytest.approx(expected)
    hists = {v.tag: tensor_util.make_ndarray(v.tensor) for v in values
             if v.metadata.plugin_data.plugin_name == "histograms"}
    assert sorted(hists) == ([f"{TAGS['activation_hist']}/conv", f"{TAGS['activation_hist']}/dense"] if histograms else [])
    if histograms:
        counts = {tag: h[:, 2].sum() for tag, h in hists.items()}  # [left, right, count] buckets
        assert counts == {f"{TAGS['activation_hist']}/conv": 2 * 4 * 4 * 3, f"{TAGS['activation_hist']}/dense": 2}
    assert len(values) == len(scalars) + len(hists)
