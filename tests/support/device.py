"""Running device-side functions (``Kind.device``, :mod:`cnn_tb.model.reduce`) eagerly
on numpy inputs, so tests can compare their results with numpy."""

import keras
import numpy as np

from cnn_tb.model.capture import Tensors


def tensors(acts, cams=None, cams_true=None, probs=None, labels=None):
    """A :class:`~cnn_tb.model.capture.Tensors` view of numpy arrays."""
    t = lambda d: {k: keras.ops.convert_to_tensor(np.asarray(v, np.float32)) for k, v in (d or {}).items()}  # noqa: E731
    n = len(next(iter(acts.values())))
    probs = np.full((n, 2), 0.5, np.float32) if probs is None else probs
    pred = np.argmax(probs, axis=1)
    return Tensors(t(acts), t(cams), t(cams_true), keras.ops.convert_to_tensor(probs),
                   keras.ops.convert_to_tensor(probs), keras.ops.convert_to_tensor(pred),
                   keras.ops.convert_to_tensor(np.zeros(n, np.int32) if labels is None else labels))


def numpy(nest):
    """A nest of backend tensors as numpy arrays."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, nest)
