"""Reading cnn_tb flow records through a TensorBoard data provider.

Everything here is plain Python over ``context.data_provider`` (so it works
with both the Python loader and the Rust data server) and returns JSON-able
values or bytes. Unknown runs, probes, steps and layers, and unreadable data,
raise ``tensorboard.errors.NotFoundError`` (404); the HTTP layer
(:mod:`cnn_tb.plugin.plugin`) only parses requests.

Cost model: one request never reads a whole run. Epoch records (small JSON
tensors) are decoded once per ``(run, step, wall_time)`` and cached; blob
references are listed per tag and kept for a few seconds (re-listed at once
when a step is missing); one request reads exactly the blob it needs, and the
decompressed pack is kept in a byte-bounded LRU cache. Stale listings are
refreshed in a background thread, so a warm request makes no provider call.
"""

import gzip
import json

import numpy as np
from tensorboard import errors

from cnn_tb.contract import feature_viz_record, packs, records, tags
from cnn_tb.plugin import structure
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pool_reader import PoolReader
from cnn_tb.plugin.source import CachedSource

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FlowReader(PoolReader, CachedSource):
    """What the routes serve: runs, run record, epochs, probe images, packs, and
    the held-out pool (:class:`~cnn_tb.plugin.pool_reader.PoolReader`).

    Args: see :class:`~cnn_tb.plugin.source.CachedSource`.
    """

    def runs_impl(self, ctx, eid):
        """Runs holding cnn_tb flow records, sorted by name.

        Returns:
            ``[{"run", "last_step", "last_wall_time", "has_model"}]``;
            ``last_step`` is ``None`` while no epoch is complete.
        """
        listing = self._tensor_listing(ctx, eid, fresh=True)
        out = []
        for run in sorted(listing):
            run_ts = listing[run].get(tags.RUN_TAG)
            epoch_ts = listing[run].get(tags.EPOCH_TAG)
            ok_run = run_ts is not None and self._check_tag_content(run, tags.RUN_TAG, run_ts.plugin_content)
            ok_epoch = epoch_ts is not None and self._check_tag_content(run, tags.EPOCH_TAG, epoch_ts.plugin_content)
            if ok_run or ok_epoch:
                out.append(
                    {
                        "run": run,
                        "has_model": ok_run,
                        "last_step": epoch_ts.max_step if ok_epoch else None,
                        "last_wall_time": epoch_ts.max_wall_time if ok_epoch else None,
                    }
                )
        return out

    def run_impl(self, ctx, eid, run, fresh=True):
        """The latest readable model/probe description of ``run``."""
        run_tags = self._require_run(ctx, eid, run, fresh=fresh)
        key = self._series_key(run_tags, tags.RUN_TAG)
        hit = self._derived.get(("run", eid, run), key)
        if hit is None:
            found = []
            if tags.RUN_TAG in run_tags:  # (not when its plugin metadata is newer than this reader)
                found = self._decoded_records(ctx, eid, run, tags.RUN_TAG, lambda obj, step: records.parse_run_record(obj))
            hit = (found[-1][0], dict(found[-1][1], blocks=self._blocks(run, found[-1][1]))) if found else False
            self._derived.put(("run", eid, run), key, hit)
        if not hit:
            raise errors.NotFoundError(f"run {run!r} has no readable model description ({tags.RUN_TAG})")
        step, rec = hit
        probes = self._blob_series(ctx, eid, run, tags.PROBES_TAG)
        images = len(probes[max(probes)].values) if probes else 0
        return dict(rec, run=run, run_step=step, probe_images=images)

    @staticmethod
    def _blocks(run, rec):
        """The block structure of a run record (a flat list if it cannot be computed)."""
        try:
            return structure.block_structure(rec["layers"], rec["model_name"], rec["output_layer"])
        except Exception as e:  # noqa: BLE001 - an odd record must still be shown
            warn_once(("blocks", run), "cnn_tb: no block structure for run %r (%s: %s)", run, type(e).__name__, e)
            return structure.flat_structure(len(rec["layers"]))

    def _epochs(self, ctx, eid, run):
        run_tags = self._require_run(ctx, eid, run, fresh=True)
        key = self._series_key(run_tags, tags.EPOCH_TAG)
        hit = self._derived.get(("epochs", eid, run), key)
        if hit is None:
            found = []
            if tags.EPOCH_TAG in run_tags:
                found = self._decoded_records(ctx, eid, run, tags.EPOCH_TAG, records.parse_epoch_record)
            obj = {"run": run, "steps": [s for s, _ in found], "epochs": [r for _, r in found]}
            raw = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
            hit = (obj, raw, gzip.compress(raw, compresslevel=5, mtime=0))
            self._derived.put(("epochs", eid, run), key, hit)
        return hit

    def epochs_impl(self, ctx, eid, run):
        """Every complete step of ``run`` with its summary, sorted by step."""
        return self._epochs(ctx, eid, run)[0]

    def epochs_gzip_impl(self, ctx, eid, run):
        """:meth:`epochs_impl` as gzip-compressed JSON bytes (built once per change)."""
        return self._epochs(ctx, eid, run)[2]

    def _layer_names(self, ctx, eid, run):
        return {l["name"] for l in self.run_impl(ctx, eid, run, fresh=False)["layers"]}

    def probe_impl(self, ctx, eid, run, probe):
        """PNG bytes of probe image ``probe``."""
        self._require_run(ctx, eid, run)
        by_step = self._blob_series(ctx, eid, run, tags.PROBES_TAG)
        if not by_step:
            raise errors.NotFoundError(f"run {run!r} has no probe images")
        datum = by_step[max(by_step)]
        if not 0 <= probe < len(datum.values):
            raise errors.NotFoundError(f"unknown probe {probe}: run {run!r} has {len(datum.values)} probes")
        key = ("png", eid, run, datum.step, datum.wall_time, probe)
        png = self._packs.get(key)
        if png is None:
            png = bytes(self._read_blob(ctx, datum.values[probe]))
            if not png.startswith(PNG_MAGIC):
                warn_once(("corrupt", run, tags.PROBES_TAG), "cnn_tb: probe image(s) of run %r are not PNG data", run)
                raise errors.NotFoundError(f"probe {probe} of run {run!r} is not a PNG image")
            self._packs.put(key, png, len(png))
        return png

    def _subset(self, ctx, eid, run, tag, step, index, what, layer=None, kinds=None, extra=None):
        """Raw pack bytes of blob ``index`` at ``step``, kept to ``layer`` and/or ``kinds``."""
        self._require_run(ctx, eid, run)
        layers = self._layer_names(ctx, eid, run) if layer is not None else None
        raw, entries, body = self._pack(ctx, eid, run, tag, step, index)
        names = None
        if layer is not None:
            if layer not in layers:
                raise errors.NotFoundError(f"unknown layer {layer!r} in run {run!r}")
            names = {e["name"] for e in entries if packs.split_array_name(e["name"])[0] == layer}
            if not names:
                raise errors.NotFoundError(f"layer {layer!r} has no {what} data")
        if kinds is not None:
            pick = {e["name"] for e in entries if packs.split_array_name(e["name"])[1] in kinds}
            names = pick if names is None else names & pick
        return packs.subset(raw, entries, body, names, None if names is None else extra)

    def activations_impl(self, ctx, eid, run, probe, step, layer=None, kinds=None):
        """Raw pack bytes of ``probe`` at ``step`` (optionally one layer and/or some kinds)."""
        return self._subset(
            ctx, eid, run, tags.ACTIVATIONS_TAG, step, probe, "activation", layer, kinds, {"step": step, "probe": probe}
        )

    def kernels_impl(self, ctx, eid, run, step, layer=None):
        """Raw kernel pack bytes at ``step`` (optionally one layer)."""
        return self._subset(ctx, eid, run, tags.KERNELS_TAG, step, 0, "kernel", layer, extra={"step": step})

    def _feature_viz_records(self, ctx, eid, run):
        """``{step: parsed feature visualization record}`` of ``run`` (cached per series version)."""
        run_tags = self._require_run(ctx, eid, run, fresh=True)
        if tags.FEATURE_VIZ_TAG not in run_tags:
            return {}
        key = self._series_key(run_tags, tags.FEATURE_VIZ_TAG)
        hit = self._derived.get(("feature_viz", eid, run), key)
        if hit is None:
            hit = dict(self._decoded_records(ctx, eid, run, tags.FEATURE_VIZ_TAG, feature_viz_record.parse_feature_viz_record))
            self._derived.put(("feature_viz", eid, run), key, hit)
        return hit

    def feature_viz_impl(self, ctx, eid, run):
        """The steps with feature visualizations and what each holds.

        Returns:
            ``{"run", "steps": [int], "layers": {layer: {"channels", "image_shape"}},
            "records": [{"step", "steps", "seed", "seconds", "cost", "layers":
            {layer: {"channels", "image_shape", "objective"}}}]}`` sorted by
            step (``layers`` at the top: each layer's latest channels).
        """
        found = self._feature_viz_records(ctx, eid, run)
        items, layers = [], {}
        for step in sorted(found):
            rec = found[step]
            per = {}
            for entry in rec["layers"]:
                per[entry["name"]] = {k: entry[k] for k in ("channels", "image_shape", "objective")}
                layers[entry["name"]] = {k: entry[k] for k in ("channels", "image_shape")}
            items.append({"step": int(step), "steps": rec["steps"], "seed": rec["seed"], "seconds": rec["seconds"],
                          "cost": rec["cost"], "layers": per})
        return {"run": run, "steps": [i["step"] for i in items], "layers": layers, "records": items}

    def feature_viz_image_impl(self, ctx, eid, run, step, layer):
        """PNG bytes of the strip of ``layer``'s visualizations at ``step`` (one tile per channel)."""
        rec = self._feature_viz_records(ctx, eid, run).get(step)
        if rec is None:
            raise errors.NotFoundError(f"run {run!r} has no feature visualizations at step {step}")
        entry = next((e for e in rec["layers"] if e["name"] == layer), None)
        if entry is None:
            raise errors.NotFoundError(f"layer {layer!r} has no feature visualizations at step {step} in run {run!r}")
        key = ("fviz", eid, run, step, rec["file"], tuple(entry["span"]))
        png = self._packs.get(key)
        if png is None:
            png = bytes(self._pack_files.read(run, rec["file"], entry["span"]))
            if not png.startswith(PNG_MAGIC):
                warn_once(("corrupt", run, tags.FEATURE_VIZ_TAG), "cnn_tb: feature visualization(s) of run %r are not PNG data", run)
                raise errors.NotFoundError(f"feature visualizations of {layer!r} at step {step} are not a PNG image")
            self._packs.put(key, png, len(png))
        return png

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
            found = self._decoded_records(
                ctx, eid, run, tags.EPOCH_TAG, lambda obj, step: _epoch_histograms(obj), what="histograms"
            )
            by_step = {step: (wall, _buckets_of_counts(h[layer])) for step, (wall, h) in found if layer in h}
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


def _epoch_histograms(obj):
    """``(wall_time, {layer: [lo, hi, count, ...]})`` of an epoch record, or None without histograms."""
    h = records.parse_epoch_histograms(obj)
    return (records.parse_epoch_record(obj, 0)["wall_time"], h) if h else None


def _buckets_of_counts(h):
    """``[[left, right, count], ...]`` of an epoch record's ``[lo, hi, count, ...]``."""
    lo, hi, counts = h[0], h[1], h[2:]
    if lo == hi:
        return [[records.opt_float(lo - 0.5), records.opt_float(hi + 0.5), float(sum(counts))]]
    edges = np.linspace(lo, hi, len(counts) + 1)
    return [[records.opt_float(a), records.opt_float(b), float(c)] for a, b, c in zip(edges[:-1], edges[1:], counts)]


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
