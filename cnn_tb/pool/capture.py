"""The pool's pass through the model: batches of one compiled pass each (inference
mode, :class:`~cnn_tb.model.capture.Capture`), reduced on the device.

What crosses to the host per batch, for ``B`` images:

* ``features``: per map layer the spatial mean of every channel ``[B, C]``,
  per vector layer the vector ``[B, D]`` (class separation, embeddings);
* ``maxima`` / ``argmax``: per map layer with dataset examples, the maximum of
  each of its first ``n`` channels over the positions, and where it is
  (``[B, n]``, flat index ``y * w + x``; non-finite values never win);
* ``pred`` / ``confidence``: the predicted class and its probability ``[B]``.

Batches all have the same size (the last one is padded with copies of the
first image, whose results are dropped), so the pass compiles once. The batch
size follows from the activation bytes of one image (at most ``BATCH_BYTES``
of captured activations per batch, at most ``MAX_BATCH`` images).
"""

import dataclasses
import math

import numpy as np
from keras import ops

from cnn_tb.contract.tags import MAP
from cnn_tb.model.capture import Capture

BATCH_BYTES = 192 << 20
MAX_BATCH = 256


@dataclasses.dataclass
class PoolResult:
    """What one pass of the pool produced (numpy, ``N`` = pool size)."""

    features: dict  # {layer: [N, D] float32}
    maxima: dict  # {layer: [N, n] float32} maximum of each example channel
    argmax: dict  # {layer: [N, n] int64} its position, y * w + x
    pred: np.ndarray  # [N] int64
    confidence: np.ndarray  # [N] float32


def _by_shape(infos):
    groups = {}
    for i in infos:
        groups.setdefault(tuple(i.output_shape), []).append(i.name)
    return [tuple(g) for g in groups.values()]


def batch_size(infos, n, max_batch=MAX_BATCH, batch_bytes=BATCH_BYTES):
    """Images per batch for a pool of ``n``: as large as the memory bound allows,
    then evened out so the last batch is nearly full."""
    per_image = sum(4 * int(np.prod(i.output_shape)) for i in infos) or 1
    cap = max(1, min(max_batch, batch_bytes // per_image, n))
    return math.ceil(n / math.ceil(n / cap))


class PoolCapture:
    """Runs the pool through ``model`` and reduces it on the device.

    Args:
        model: the Keras model.
        infos: the :class:`~cnn_tb.model.graph.LayerInfo` of the map and vector
            layers whose features are wanted.
        example_channels: ``{map layer: n}``: the first ``n`` channels get
            their maximum and its position.
        n: the pool size (for the batch size).
    """

    def __init__(self, model, infos, example_channels, n):
        self.infos = list(infos)
        self.maps = [i for i in self.infos if i.kind == MAP]
        self.vectors = [i.name for i in self.infos if i.kind != MAP]
        self.map_groups = _by_shape(self.maps)
        self.example_channels = {k: int(v) for k, v in example_channels.items() if v}
        self.example_groups = [
            g for g in (tuple(n for n in group if n in self.example_channels) for group in self.map_groups) if g
        ]
        self.batch = batch_size(self.infos, n)
        self.capture = Capture(model, [i.name for i in self.infos], (), device_fn=self._device)

    def _device(self, t):
        # reduce each layer first, then stack the small results: stacking whole
        # activations [L, B, h, w, C] first costs a copy of every map (measured:
        # the example maxima took twice the forward pass itself that way)
        feats = [ops.stack([ops.mean(t.acts[n], axis=(1, 2)) for n in g]) for g in self.map_groups]  # [L, B, C]
        vectors = [ops.reshape(t.acts[n], (t.acts[n].shape[0], -1)) for n in self.vectors]
        maxima, argmax = [], []
        for g in self.example_groups:
            k = max(self.example_channels[n] for n in g)
            mx, am = [], []
            for n in g:
                x = t.acts[n][..., :k]  # [B, h, w, k]: only the channels with examples
                x = ops.reshape(x, (x.shape[0], -1, k))
                x = ops.where(ops.isfinite(x), x, -np.inf)
                mx.append(ops.max(x, axis=1))
                am.append(ops.cast(ops.argmax(x, axis=1), "int32"))
            maxima.append(ops.stack(mx))  # [L, B, k]
            argmax.append(ops.stack(am))
        conf = ops.max(t.probs, axis=-1)
        return {"features": feats, "vectors": vectors, "maxima": maxima, "argmax": argmax, "pred": t.pred, "confidence": conf}

    def run(self, x, labels):
        """One pass of the pool images ``x`` (model inputs, numpy) with ``labels``."""
        n = len(x)
        b = self.batch
        parts = []
        for start in range(0, n, b):
            xb, yb = x[start : start + b], labels[start : start + b]
            if len(xb) < b:  # pad with the first image: one shape, one compilation
                pad = b - len(xb)
                xb = np.concatenate([xb, np.repeat(x[:1], pad, axis=0)])
                yb = np.concatenate([yb, np.repeat(labels[:1], pad, axis=0)])
            parts.append(self.capture.run(xb, yb).device)

        features, maxima, argmax = {}, {}, {}
        for gi, group in enumerate(self.map_groups):
            block = np.concatenate([p["features"][gi] for p in parts], axis=1)[:, :n]
            for li, name in enumerate(group):
                features[name] = block[li]
        for vi, name in enumerate(self.vectors):
            features[name] = np.concatenate([p["vectors"][vi] for p in parts])[:n]
        for gi, group in enumerate(self.example_groups):
            mx = np.concatenate([p["maxima"][gi] for p in parts], axis=1)[:, :n]
            am = np.concatenate([p["argmax"][gi] for p in parts], axis=1)[:, :n]
            for li, name in enumerate(group):
                k = self.example_channels[name]
                maxima[name] = mx[li, :, :k]
                argmax[name] = am[li, :, :k].astype(np.int64)
        pred = np.concatenate([p["pred"] for p in parts])[:n].astype(np.int64)
        conf = np.concatenate([p["confidence"] for p in parts])[:n].astype(np.float32)
        return PoolResult(features, maxima, argmax, pred, conf)
