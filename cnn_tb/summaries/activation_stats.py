"""Per-layer activation statistics over the probes (Scalars) and histograms (Histograms).

The numbers are reduced on the device (:func:`cnn_tb.model.reduce.stats` and
:func:`cnn_tb.model.reduce.histogram`); the statistics also go into the epoch
record for the CNN Flow tab, for every logged layer.
"""

import math

from cnn_tb.contract.tags import STAT_NAMES, TAGS
from cnn_tb.model import reduce  # noqa: F401 - STATS names the vector from_vector reads
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import histogram_counts_value, scalar_value


def from_vector(v):
    """The statistics dict of a layer from :func:`cnn_tb.model.reduce.stats`' vector:
    ``STAT_NAMES`` as floats (NaN when nothing was finite) and ``nonfinite`` as an int."""
    out = {name: float(x) for name, x in zip(reduce.STATS, v)}
    out["nonfinite"] = int(round(out["nonfinite"]))
    if out["nonfinite"] and not math.isfinite(out["mean"]):
        out.update({k: float("nan") for k in STAT_NAMES})
    return out


class ActivationStats(Kind):
    name = "stats"
    needs_stats = True

    @property
    def needs_histograms(self):
        return self.settings.histograms

    def values(self, step):
        tag = TAGS["activation_stats"]
        out = []
        for name in self.ctx.dashboard_names:
            s = step.stats[name]
            out.extend(scalar_value(f"{tag}/{name}/{stat}", s[stat]) for stat in STAT_NAMES if s[stat] == s[stat])
            if s["nonfinite"]:
                out.append(scalar_value(f"{tag}/{name}/nonfinite", s["nonfinite"]))
        histograms = step.histograms
        for name in self.ctx.dashboard_names if self.settings.histograms else ():
            lo, hi, counts, n = histograms[name]
            if n > 0:
                out.append(histogram_counts_value(f"{TAGS['activation_hist']}/{name}", lo, hi, counts))
        return out
