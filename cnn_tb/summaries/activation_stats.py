"""Per-layer activation statistics over the probes (Scalars) and histograms (Histograms)."""

import numpy as np

from cnn_tb.contract.tags import STAT_NAMES, TAGS
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import histogram_value, scalar_value

HISTOGRAM_VALUES = 16384  # values per layer behind each activation histogram


def layer_stats(acts):
    """Statistics of one layer's activations over all probes.

    Args:
        acts: float array ``[N, ..., C]`` (the last axis is the channel / unit).

    Returns:
        dict with ``STAT_NAMES`` (``mean``, ``std``, ``min``, ``max`` over the
        finite values; ``zero_frac``: fraction of exact zeros; ``neg_frac``:
        fraction below zero; ``dead_frac``: fraction of channels that are never
        positive on any probe at any position) and ``nonfinite`` (count of
        NaN/Inf values, which the other numbers leave out). Values are Python
        floats, ``nan`` when there is nothing finite to measure.
    """
    a = np.asarray(acts, dtype=np.float32)
    finite = np.isfinite(a)
    nonfinite = int(a.size - np.count_nonzero(finite))
    if nonfinite:
        vals = a[finite]
        safe = np.where(finite, a, 0.0)
    else:
        vals = a.ravel()
        safe = a
    out = {"nonfinite": nonfinite}
    if vals.size == 0:
        out.update({k: float("nan") for k in STAT_NAMES})
        return out
    total = float(vals.size)
    mean = float(vals.mean(dtype=np.float64))
    out["mean"] = mean
    out["std"] = float(vals.std(dtype=np.float64))
    out["min"] = float(vals.min())
    out["max"] = float(vals.max())
    out["zero_frac"] = float(np.count_nonzero(vals == 0.0)) / total
    out["neg_frac"] = float(np.count_nonzero(vals < 0.0)) / total
    channels = safe.reshape(-1, safe.shape[-1]) if safe.ndim > 1 else safe.reshape(-1, 1)
    out["dead_frac"] = float(np.mean(channels.max(axis=0) <= 0.0))
    return out


def histogram_sample(acts):
    """The finite values of up to ``HISTOGRAM_VALUES`` evenly strided activations."""
    flat = acts.ravel()
    if flat.size > HISTOGRAM_VALUES:
        flat = flat[:: flat.size // HISTOGRAM_VALUES + 1]
    return flat[np.isfinite(flat)]


class ActivationStats(Kind):
    name = "stats"
    needs_stats = True

    def values(self, step):
        tag = TAGS["activation_stats"]
        out = []
        for name, s in step.stats.items():
            out.extend(scalar_value(f"{tag}/{name}/{stat}", s[stat]) for stat in STAT_NAMES if s[stat] == s[stat])
            if s["nonfinite"]:
                out.append(scalar_value(f"{tag}/{name}/nonfinite", s["nonfinite"]))
        if self.settings.histograms:
            for name, a in step.capture.activations.items():
                sample = histogram_sample(a)
                if sample.size:
                    out.append(histogram_value(f"{TAGS['activation_hist']}/{name}", sample))
        return out
