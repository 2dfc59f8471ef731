"""The kinds of summary cnn_tb logs, one module each (see :mod:`.base`).

``KINDS`` lists them in the order their values are written; ``flow`` comes
last so its epoch record, which marks a step complete, is the last value of
the step. Adding a kind is one new module plus one line here.
"""

from cnn_tb.summaries.activation_stats import ActivationStats
from cnn_tb.summaries.feature_maps import FeatureMaps
from cnn_tb.summaries.feature_viz import FeatureViz
from cnn_tb.summaries.flow import Flow
from cnn_tb.summaries.heatmaps import Heatmaps
from cnn_tb.summaries.kernel_grids import KernelGrids
from cnn_tb.summaries.predictions import Predictions

KINDS = {k.name: k for k in (FeatureMaps, KernelGrids, ActivationStats, Heatmaps, Predictions, FeatureViz, Flow)}
ALL_KINDS = tuple(KINDS)
