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
from cnn_tb.model import backend
from cnn_tb.model.capture import Capture

BATCH_BYTES = 192 << 20
# TensorFlow only: its CPU argmax over a middle axis is slow; JAX fuses either
# form, PyTorch's argmax is fast (see _first_max_position).
_FAST_ARGMAX = backend.name() == "tensorflow"
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


def _maxima(xs, masked):
    """The maximum over axis 1 of each of ``xs`` [B, P, k] and its first position,
    stacked ([L, B, k] float32, int32); ``masked``: non-finite values never win."""
    mx, am = [], []
    for x in xs:
        if masked:
            x = ops.where(ops.isfinite(x), x, -np.inf)
        m = ops.max(x, axis=1)
        mx.append(m)
        am.append(_first_max_position(x, m) if not masked and _FAST_ARGMAX else ops.cast(ops.argmax(x, axis=1), "int32"))
    return ops.stack(mx), ops.stack(am)


def _first_max_position(x, m):
    """``argmax(x, axis=1)`` of finite ``x`` [B, P, k] whose maximum ``m`` [B, k] is
    known: ``P - max((x == m) * (P - p))``, ``p`` the position. TensorFlow's
    argmax over a middle axis is slow on CPU (the seed CNN's pass of 512 pool
    images, 12 layers with examples: 345 ms with argmax, 248 ms with this)."""
    p = x.shape[1]
    if p >= 1 << 24:  # positions must be exact in float32
        return ops.cast(ops.argmax(x, axis=1), "int32")
    rev = ops.convert_to_tensor(np.arange(p, 0, -1, dtype=np.float32)[None, :, None])
    hit = ops.cast(ops.equal(x, ops.expand_dims(m, 1)), "float32")
    return p - ops.cast(ops.max(hit * rev, axis=1), "int32")


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
        # run on a snapshot of the weights, on the thread that finishes the step
        self.capture = Capture(model, [i.name for i in self.infos], (), device_fn=self._device, snapshots=True)

    def _device(self, t):
        # reduce each layer first, then stack the small results: stacking whole
        # activations [L, B, h, w, C] first costs a copy of every map (measured:
        # the example maxima took twice the forward pass itself that way)
        means = {n: ops.mean(t.acts[n], axis=(1, 2)) for g in self.map_groups for n in g}  # [B, C]
        feats = [ops.stack([means[n] for n in g]) for g in self.map_groups]  # [L, B, C]
        vectors = [ops.reshape(t.acts[n], (t.acts[n].shape[0], -1)) for n in self.vectors]
        maxima, argmax = [], []
        for g in self.example_groups:
            k = max(self.example_channels[n] for n in g)
            xs = []
            for n in g:
                x = t.acts[n] if k == t.acts[n].shape[-1] else t.acts[n][..., :k]  # [B, h, w, k]
                xs.append(ops.reshape(x, (x.shape[0], -1, k)))
            # Every channel mean finite: every value is (a NaN or an Inf makes its
            # channel's mean non-finite). Then the plain max / argmax; else non-finite
            # values are replaced by -inf first (a `where` over every value, which
            # costs TensorFlow on CPU three times the max and argmax themselves).
            clean = ops.all(ops.stack([ops.all(ops.isfinite(means[n])) for n in g]))
            mx, am = ops.cond(clean, lambda xs=xs: _maxima(xs, False), lambda xs=xs: _maxima(xs, True))
            maxima.append(mx)  # [L, B, k]
            argmax.append(am)
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
