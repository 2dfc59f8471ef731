"""Reductions of layer activations, written once with ``keras.ops``, that run on the
device inside the compiled capture: only their small results cross to the host.

Layers of the same shape are reduced together, stacked ([L, N, ...]), so the
compiled function holds a few ops per distinct shape, not per layer, and stays
small (quick to compile, cheap to run) for models of hundreds of layers.

* :func:`layer_stats`: the statistics of the epoch record and the Scalars dashboard;
* :func:`histograms`: the Histograms-dashboard buckets;
* :func:`quantize_rows`, :func:`quantize_unit`, :func:`avg_pool`: what a pack
  stores (:mod:`cnn_tb.contract.packs`).
"""

import math

import numpy as np
from keras import ops

from cnn_tb.model import backend

STATS = ("mean", "std", "min", "max", "zero_frac", "neg_frac", "dead_frac", "nonfinite")
SAMPLE_VALUES = 1 << 18  # a layer with more values gets std/min/zero/neg from a grid sample
HISTOGRAM_VALUES = 16384  # values per layer behind each activation histogram
HISTOGRAM_BINS = 30


def _f32(x):
    return ops.cast(x, "float32")


def _size(x):
    return int(np.prod(x.shape))


def grid_sample(x, max_values):
    """At most ``max_values`` values of ``x``, flattened, spread evenly over it.

    Map activations [N, h, w, C] keep every probe and every channel at an evenly
    spaced grid of positions (``x[:, ::s, ::s, :]``, the smallest such ``s``), so
    no channel is left out; other shapes are flattened and strided.
    """
    return grid_sample_stacked(ops.expand_dims(x, 0), max_values)[0]


def grid_sample_stacked(x, max_values):
    """:func:`grid_sample` of each of stacked activations ``x`` [L, N, ...]: [L, S]."""
    per = x.shape[1:]
    size = int(np.prod(per))
    if size <= max_values:
        return ops.reshape(x, (x.shape[0], -1))
    if len(per) == 4:
        n, h, w, c = per
        s = 1
        while s < max(h, w) and n * math.ceil(h / s) * math.ceil(w / s) * c > max_values:
            s += 1
        x = x[:, :, ::s, ::s, :]
        size = int(np.prod(x.shape[1:]))
    flat = ops.reshape(x, (x.shape[0], -1))
    if size > max_values:
        flat = flat[:, :: size // max_values + 1]
    return flat


def _group_stats(x, means, maxes):
    """``STATS`` but ``nonfinite`` of stacked activations ``x`` [L, N, ..., C] (their
    channel ``means`` and ``maxes`` [L, N, ...]): ``([L, 7], clean [L])``."""
    x = _f32(x)
    L = x.shape[0]
    per = tuple(range(1, len(means.shape)))
    total = ops.sum(_f32(means), axis=per)
    top = ops.max(_f32(maxes), axis=per)
    # a NaN or Inf anywhere makes the sum of the channel means or their maximum non-finite
    clean = ops.logical_and(ops.isfinite(total), ops.isfinite(top))
    chmax = ops.max(ops.reshape(x, (L, -1, x.shape[-1])), axis=1)  # [L, C]
    dead = ops.mean(_f32(ops.logical_not(chmax > 0)), axis=1)  # a NaN max counts as never positive
    s = grid_sample_stacked(x, SAMPLE_VALUES)  # [L, S]
    mean = total / int(np.prod(means.shape[1:]))
    # Every value finite (the usual case): no masks. A `where` over every value
    # costs TensorFlow on CPU more than the reductions themselves.
    values = ops.cond(
        ops.all(clean),
        lambda: _finite_stats(s, mean, top, dead),
        lambda: _masked_stats(s, clean, mean, top, dead),
    )
    return values, clean


def _finite_stats(s, mean, top, dead):
    mean_s = ops.mean(s, axis=1)
    std = ops.sqrt(ops.mean(ops.square(s - mean_s[:, None]), axis=1))
    zero = ops.mean(_f32(ops.equal(s, 0.0)), axis=1)
    neg = ops.mean(_f32(ops.less(s, 0.0)), axis=1)
    return ops.stack([mean, std, ops.min(s, axis=1), top, zero, neg, dead], axis=1)


def _masked_stats(s, clean, mean, top, dead):
    finite = ops.isfinite(s)
    count = ops.sum(_f32(finite), axis=1)
    mean_s = ops.sum(ops.where(finite, s, 0.0), axis=1) / count
    std = ops.sqrt(ops.sum(ops.where(finite, ops.square(s - mean_s[:, None]), 0.0), axis=1) / count)
    lo = ops.min(ops.where(finite, s, np.inf), axis=1)
    hi_s = ops.max(ops.where(finite, s, -np.inf), axis=1)
    zero = ops.sum(_f32(ops.logical_and(finite, ops.equal(s, 0.0))), axis=1) / count
    neg = ops.sum(_f32(ops.logical_and(finite, ops.less(s, 0.0))), axis=1) / count
    mean = ops.where(clean, mean, mean_s)
    hi = ops.where(clean, top, hi_s)
    values = ops.stack([mean, std, lo, hi, zero, neg, dead], axis=1)
    return ops.where(ops.equal(count, 0.0)[:, None], ops.full_like(values, np.nan), values)


def layer_stats(t, names):
    """``STATS`` of the activations ``t.acts[name]`` of ``names`` as a float32 [L, 8].

    ``t`` is a :class:`~cnn_tb.model.capture.Tensors`. ``nonfinite`` (NaN/Inf
    count), ``dead_frac`` (channels never positive) and, when every value is
    finite, ``mean`` and ``max`` use every value. ``std``, ``min``,
    ``zero_frac``, ``neg_frac`` use every value of a layer with at most
    ``SAMPLE_VALUES`` values, else :func:`grid_sample` of that many (and so do
    ``mean`` and ``max`` of a layer holding NaN/Inf); all of them over finite
    values only. With no finite value the first seven are NaN. The NaN/Inf
    counts are computed (one more pass over every layer) only when some layer
    has one.
    """
    if not names:
        return ops.zeros((0, len(STATS)))
    groups = t.groups(names)
    rows, clean = [], []
    for g in groups:
        r, c = _group_stats(t.stacked(g), t.channel_means(g), t.channel_maxes(g))
        rows.append(r)
        clean.append(c)
    rows, clean = ops.concatenate(rows), ops.concatenate(clean)
    bad = ops.cond(
        ops.all(clean),
        lambda: ops.zeros((len(names),), "float32"),
        lambda: ops.concatenate(  # x - x is NaN exactly where x is NaN or Inf
            [_f32(ops.count_nonzero(ops.reshape(t.stacked(g) - t.stacked(g), (len(g), -1)), axis=1)) for g in groups]
        ),
    )
    order = [n for g in groups for n in g]
    perm = np.array([order.index(n) for n in names], np.int32)
    return ops.take(ops.concatenate([rows, ops.expand_dims(bad, -1)], axis=1), perm, axis=0)


def histograms(t, names):
    """Equal-width histograms of the finite values of :func:`grid_sample` (at most
    ``HISTOGRAM_VALUES``) of each activation ``t.acts[name]``.

    Returns:
        ``(lo [L], hi [L], counts [L, HISTOGRAM_BINS], n [L])`` in the order of
        ``names``: buckets over [lo, hi], the last one closed, as ``np.histogram``.
    """
    if not names:
        return (ops.zeros((0,)), ops.zeros((0,)), ops.zeros((0, HISTOGRAM_BINS)), ops.zeros((0,)))
    groups = t.groups(names)
    parts = []
    for g in groups:
        v = _f32(grid_sample_stacked(t.stacked(g), HISTOGRAM_VALUES))  # [L, S]
        finite = ops.isfinite(v)
        # Every value finite (the usual case): no masks, as in the statistics.
        parts.append(ops.cond(ops.all(finite), lambda v=v: _histogram_rows(v, None),
                              lambda v=v, f=finite: _histogram_rows(v, f)))
    order = [n for g in groups for n in g]
    perm = np.array([order.index(n) for n in names], np.int32)
    return tuple(ops.take(ops.concatenate([p[k] for p in parts]), perm, axis=0) for k in range(4))


def _histogram_rows(v, finite):
    """``(lo, hi, counts, n)`` of the rows of ``v`` [L, S]; ``finite`` is its finite
    mask, or None when every value is finite."""
    layers, width = v.shape
    if finite is None:
        n = ops.full((layers,), float(width))
        lo, hi = ops.min(v, axis=1), ops.max(v, axis=1)
    else:
        n = ops.sum(_f32(finite), axis=1)
        lo = ops.min(ops.where(finite, v, np.inf), axis=1)
        hi = ops.max(ops.where(finite, v, -np.inf), axis=1)
        v = ops.where(finite, v, lo[:, None])
    span = ops.where(hi > lo, hi - lo, 1.0)
    # clipped as integers: a NaN (a row with no finite value, or a span beyond
    # float32) casts to some integer, which lands in a valid bucket (with weight 0
    # when not finite) instead of an index bincount refuses
    idx = ops.clip(ops.cast(ops.floor((v - lo[:, None]) / span[:, None] * HISTOGRAM_BINS), "int32"), 0, HISTOGRAM_BINS - 1)
    bins = ops.reshape(idx + np.arange(layers, dtype=np.int32)[:, None] * HISTOGRAM_BINS, (-1,))
    weights = None if finite is None else ops.reshape(_f32(finite), (-1,))
    counts = backend.bin_counts(bins, layers * HISTOGRAM_BINS, weights)
    return lo, hi, ops.reshape(counts, (layers, HISTOGRAM_BINS)), n


def avg_pool(x, p, first_axis=1):
    """Average-pool axes ``first_axis`` and ``first_axis + 1`` by ``p``; the last
    window of an axis that ``p`` does not divide is padded by repeating the last
    row / column."""
    if p == 1:
        return x
    f = first_axis
    h, w = x.shape[f], x.shape[f + 1]
    ph, pw = math.ceil(h / p) * p, math.ceil(w / p) * p
    if ph > h:
        x = ops.concatenate([x, ops.repeat(ops.take(x, [h - 1], axis=f), ph - h, axis=f)], axis=f)
    if pw > w:
        x = ops.concatenate([x, ops.repeat(ops.take(x, [w - 1], axis=f + 1), pw - w, axis=f + 1)], axis=f + 1)
    shape = tuple(x.shape[:f]) + (ph // p, p, pw // p, p) + tuple(x.shape[f + 2 :])
    return ops.mean(ops.reshape(x, shape), axis=(f + 1, f + 3))


def quantize_rows(x):
    """Quantize each row (last axis) of ``x`` [..., S] to uint8.

    Returns:
        ``(q [..., S] uint8, lo [...], hi [...], nonfinite [...])``, the rule of
        :func:`cnn_tb.contract.packs.quantize_rows`: lo/hi are the min/max of a
        row's finite values, ``q = round((x - lo) / (hi - lo) * 255)``, non-finite
        values are stored as 0.
    """
    x = _f32(x)
    # Every value finite (the usual case): no masks (a `where` over every value
    # costs TensorFlow on CPU more than the rest of the quantisation).
    finite = ops.isfinite(x)
    return ops.cond(ops.all(finite), lambda: _quantize(x, None), lambda: _quantize(x, finite))


def _quantize(x, finite):
    if finite is None:
        lo = ops.min(x, axis=-1, keepdims=True)
        hi = ops.max(x, axis=-1, keepdims=True)
    else:
        lo = ops.min(ops.where(finite, x, np.inf), axis=-1, keepdims=True)
        hi = ops.max(ops.where(finite, x, -np.inf), axis=-1, keepdims=True)
        lo = ops.where(ops.isfinite(lo), lo, 0.0)
        hi = ops.where(ops.isfinite(hi), hi, lo)
    span = hi - lo
    scale = ops.where(span > 0, 255.0 / ops.where(span > 0, span, 1.0), 0.0)
    scaled = (x - lo) * scale if finite is None else ops.where(finite, (x - lo) * scale, 0.0)
    q = ops.cast(ops.clip(ops.floor(scaled + 0.5), 0, 255), "uint8")
    if finite is None:
        bad = ops.zeros(x.shape[:-1], "float32")
    else:
        bad = ops.sum(_f32(ops.logical_not(finite)), axis=-1)
    return q, ops.squeeze(lo, -1), ops.squeeze(hi, -1), bad


def quantize_unit(x):
    """Maps in [0, 1] (Grad-CAM) as uint8 ``round(x * 255)`` (non-finite -> 0)."""
    x = _f32(x)
    x = ops.where(ops.isfinite(x), x, 0.0)
    return ops.cast(ops.clip(ops.round(x * 255.0), 0, 255), "uint8")
