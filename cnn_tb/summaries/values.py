"""Builders of ``Summary.Value`` protos for the built-in dashboards and the plugin.

Values are built in Python from TensorBoard's own protos and summary helpers
(no TensorFlow op runs); :mod:`cnn_tb.event_writer` writes them.
"""

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.util import tensor_util

from cnn_tb.contract import tags

STEP_NOTE = (
    "Step = the Keras epoch index, as keras.callbacks.TensorBoard uses it "
    "(0 = after the first epoch); step -1 = the untrained model."
)


def tensor_value(tag, array, metadata):
    """A ``Summary.Value`` holding ``array`` as a tensor."""
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(array))


def plugin_value(tag, payloads, description=STEP_NOTE):
    """A cnn_tb plugin value: ``payloads`` (bytes, or a list of bytes) as a string tensor."""
    return tensor_value(tag, np.array(payloads, dtype=object), tags.create_summary_metadata(tag, description))


def image_value(tag, encoded, shape, description):
    """An Images-dashboard value from encoded pictures (PNG/JPEG bytes) of one ``shape`` [H, W, ...]."""
    meta = image_metadata.create_summary_metadata(display_name=tag, description=description + ". " + STEP_NOTE)
    data = np.array([str(shape[1]).encode(), str(shape[0]).encode()] + list(encoded), dtype=object)
    return tensor_value(tag, data, meta)


def scalar_value(tag, value, description=None):
    from tensorboard.plugins.scalar import summary_v2

    return summary_v2.scalar_pb(tag, np.float32(value), description=description).value[0]


def histogram_counts_value(tag, lo, hi, counts, description=None):
    """A Histograms-dashboard value from equal-width bucket ``counts`` over [lo, hi].

    Same layout as ``tf.summary.histogram`` (a [k, 3] tensor of left edge,
    right edge, count). ``lo == hi`` gives one bucket [lo - 0.5, hi + 0.5]
    holding every value.
    """
    from tensorboard.plugins.histogram import metadata as hist_metadata

    counts = np.asarray(counts, np.float64)
    if lo == hi:
        edges = np.array([lo - 0.5, hi + 0.5])
        counts = np.array([counts.sum()])
    else:
        edges = np.linspace(lo, hi, len(counts) + 1)
    tensor = np.stack([edges[:-1], edges[1:], counts], axis=1)
    meta = hist_metadata.create_summary_metadata(display_name=tag, description=description or "")
    return tensor_value(tag, tensor, meta)


def text_value(tag, text, description=None):
    from tensorboard.plugins.text import summary_v2

    return summary_v2.text_pb(tag, text, description=description).value[0]
