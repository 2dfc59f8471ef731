"""Reading a layer's activation histograms (a part of :class:`~cnn_tb.plugin.reader.FlowReader`).

From the epoch records, which hold every logged layer's histogram at every
step; for runs written before they did, from the Histograms-dashboard tags
(the steps TensorBoard kept).
"""

import json

import numpy as np
from tensorboard import errors

from cnn_tb.contract import records, tags
from cnn_tb.plugin.cache import collector_paused
from cnn_tb.plugin.log import warn_once


class HistogramReader:
    """The ``/histograms`` route's ``histograms_impl`` (mixed into
    :class:`~cnn_tb.plugin.reader.FlowReader`, over :class:`~cnn_tb.plugin.source.CachedSource`)."""

    def histograms_impl(self, ctx, eid, run, layer):
        """The activation histograms of ``layer`` at every step, as JSON bytes.

        From the epoch records (every step, every logged layer); for runs written
        before the records held histograms, from the Histograms-dashboard tags
        (the steps TensorBoard kept).

        Returns:
            UTF-8 JSON ``{"run", "layer", "tag", "steps", "histograms": [{"step",
            "wall_time", "buckets": [[left, right, count], ...]}]}`` sorted by step.
        """
        run_tags = self._require_run(ctx, eid, run, fresh=True)
        if layer not in self._layer_names(ctx, eid, run):
            raise errors.NotFoundError(f"unknown layer {layer!r} in run {run!r}")
        key = ("epochs", eid, run, layer, self._series_key(run_tags, tags.EPOCH_TAG))
        hit = self._histograms.get(key)
        if hit is None:
            found = self._decoded_records(ctx, eid, run, tags.EPOCH_TAG, lambda obj, step: EpochHistograms.of(obj),
                                          what="histograms", cache=self._histogram_records, size=EpochHistograms.size)
            by_step = {}
            with collector_paused():  # some 30 lists per epoch: see collector_paused
                for step, rec in found:
                    h = rec.get(layer)
                    if h is not None:
                        by_step[step] = (rec.wall_time, _buckets_of_counts(h))
                hit = _histograms_json(run, layer, tags.EPOCH_TAG, by_step) if by_step else b""
            self._histograms.put(key, hit, len(hit) + 64)
        return hit or self._dashboard_histograms(ctx, eid, run, layer)

    def _dashboard_histograms(self, ctx, eid, run, layer):
        tag = f"{tags.TAGS['activation_hist']}/{layer}"
        series = self._histogram_listing(ctx, eid, run, tag)
        if series is None:
            raise errors.NotFoundError(
                f"layer {layer!r} of run {run!r} has no activation histograms "
                "(they are written for logged layers unless histograms=False)"
            )
        key = (eid, run, layer, series.max_step, series.max_wall_time)
        hit = self._histograms.get(key)
        if hit is None:
            by_step = {}
            for datum in self._histogram_data(ctx, eid, run, tag):
                buckets = _buckets(datum.numpy)
                if buckets is None:
                    warn_once(("corrupt", run, tag), "cnn_tb: skipping unreadable histogram(s) %s of run %r", tag, run)
                    continue
                by_step[datum.step] = (_finite(datum.wall_time), buckets)
            hit = _histograms_json(run, layer, tag, by_step)
            self._histograms.put(key, hit, len(hit))
        return hit


class EpochHistograms:
    """The histograms of one epoch record, packed: every layer's ``[lo, hi, count,
    ...]`` in one float64 array (a long run's records are kept thousands at a
    time: as Python lists they would cost several times as much, and counting
    their size would cost as much as parsing them)."""

    __slots__ = ("wall_time", "names", "offsets", "values")

    def __init__(self, wall_time, names, offsets, values):
        self.wall_time, self.names, self.offsets, self.values = wall_time, names, offsets, values

    @classmethod
    def of(cls, obj):
        """Of a decoded epoch record; None when it has no (valid) histograms."""
        h = records.parse_epoch_histograms(obj)
        if not h:
            return None
        names = tuple(h)
        offsets = np.cumsum([0] + [len(v) for v in h.values()])
        values = np.fromiter((x for v in h.values() for x in v), dtype=np.float64, count=int(offsets[-1]))
        return cls(records.opt_exact_float(obj.get("wall_time")), names, offsets, values)

    def get(self, layer):
        """``[lo, hi, count, ...]`` of ``layer`` (a float64 array), or None."""
        try:
            i = self.names.index(layer)
        except ValueError:
            return None
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def size(self):
        """Bytes held (what the cache counts)."""
        return 200 + self.values.nbytes + self.offsets.nbytes + sum(60 + len(n) for n in self.names)


def _buckets_of_counts(h):
    """``[[left, right, count], ...]`` of an epoch record's ``[lo, hi, count, ...]`` (an array)."""
    lo, hi, *counts = h.tolist()
    if lo == hi:
        return [[records.opt_float(lo - 0.5), records.opt_float(hi + 0.5), float(sum(counts))]]
    # the edges are finite (lo and hi are): opt_float's rounding without its checks
    edges = [float(f"{e:.7g}") for e in np.linspace(lo, hi, len(counts) + 1).tolist()]
    return [[a, b, float(c)] for a, b, c in zip(edges[:-1], edges[1:], counts)]


def _histograms_json(run, layer, tag, by_step):
    steps = sorted(by_step)
    items = [{"step": int(s), "wall_time": by_step[s][0], "buckets": by_step[s][1]} for s in steps]
    obj = {"run": run, "layer": layer, "tag": tag, "steps": steps, "histograms": items}
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _buckets(array):
    """``[[left, right, count], ...]`` of a histogram tensor ``[k, 3]`` (finite rows), or None."""
    try:
        a = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if a.ndim != 2 or a.shape[1] != 3 or not 0 < a.shape[0] <= 10_000:
        return None
    rows = a[np.isfinite(a).all(axis=1) & (a[:, 2] >= 0)]
    if not len(rows):
        return None
    return [[records.opt_float(l), records.opt_float(r), records.opt_float(c)] for l, r, c in rows]


def _finite(x):
    x = float(x)
    return x if np.isfinite(x) else None
