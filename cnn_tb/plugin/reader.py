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

from tensorboard import errors

from cnn_tb.contract import packs, records, tags
from cnn_tb.plugin import epochs as epochs_lib
from cnn_tb.plugin import structure
from cnn_tb.plugin.cache import release_free_memory
from cnn_tb.plugin.feature_viz_reader import FeatureVizReader
from cnn_tb.plugin.histogram_reader import HistogramReader
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pack_files import PNG_MAGIC
from cnn_tb.plugin.pool_reader import PoolReader
from cnn_tb.plugin.source import CachedSource


# how the epoch records are kept (CachedSource._encoded_records): tag, parse, encode, cache name
_EPOCH_JSON = (tags.EPOCH_TAG, records.parse_epoch_record, epochs_lib.encode, "epoch")


class FlowReader(PoolReader, FeatureVizReader, HistogramReader, CachedSource):
    """What the routes serve: runs, run record, epochs, probe images, packs; the
    held-out pool (:class:`~cnn_tb.plugin.pool_reader.PoolReader`), feature
    visualizations (:class:`~cnn_tb.plugin.feature_viz_reader.FeatureVizReader`)
    and histograms (:class:`~cnn_tb.plugin.histogram_reader.HistogramReader`).

    Args: see :class:`~cnn_tb.plugin.source.CachedSource`.
    """

    epochs_full_entries = epochs_lib.FULL_ENTRIES  # see cnn_tb.plugin.epochs

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

    def _epochs(self, ctx, eid, run, fresh=True):
        """``{"steps", "gzip", "wall_times"}`` of ``/epochs``, built once per version
        of the run's epoch tag. Only these are kept: the records themselves stay
        in the byte-bounded cache of :meth:`_encoded_records` (memory does not grow
        with the epochs as parsed Python objects would). ``fresh=False``: of the
        version in the last listing of the runs (see ``_tensor_listing``)."""
        run_tags = self._require_run(ctx, eid, run, fresh=fresh)
        key = self._series_key(run_tags, tags.EPOCH_TAG)
        hit = self._derived.get(("epochs", eid, run), key)
        if hit is None:
            found = self._encoded_records(ctx, eid, run, *_EPOCH_JSON) if tags.EPOCH_TAG in run_tags else []
            pieces, full = epochs_lib.served_json([enc for _, _, enc in found], self.epochs_full_entries)
            steps = [s for s, _, _ in found]
            raw = epochs_lib.json_object({"run": run, "steps": steps}, "epochs", pieces,
                                         {"full_epochs": full, "sampled": full < len(found)})
            hit = {"steps": steps, "gzip": gzip.compress(raw, compresslevel=5, mtime=0),
                   "wall_times": {s: w for s, w, _ in found}}
            self._derived.put(("epochs", eid, run), key, hit)
            del found, pieces, raw
            release_free_memory()
        return hit

    def epoch_steps(self, ctx, eid, run, fresh=True):
        """The steps of ``run`` with a complete epoch record, sorted."""
        return self._epochs(ctx, eid, run, fresh)["steps"]

    def epochs_impl(self, ctx, eid, run):
        """Every complete step of ``run`` with its summary, sorted by step; the
        per-layer fields in full for a sample of them when the run is large
        (:mod:`cnn_tb.plugin.epochs`)."""
        return json.loads(gzip.decompress(self.epochs_gzip_impl(ctx, eid, run)))

    def epoch_json_impl(self, ctx, eid, run, step):
        """The served epoch record of ``step`` in full (as in :meth:`epochs_impl` of a
        small run), as JSON bytes. It does not wait for ``/epochs``: when that is not
        built for the last listing of the run, the one record is read and decoded
        alone (the page draws a long run's last epoch from it while ``/epochs``
        decodes them all)."""
        run_tags = self._require_run(ctx, eid, run)
        key = self._series_key(run_tags, tags.EPOCH_TAG)  # (max_step, max_wall_time) or None
        built = self._derived.get(("epochs", eid, run), key)
        wall_time = built["wall_times"].get(step) if built else None
        last = key is not None and key[0] == step
        enc = self._encoded_record(ctx, eid, run, *_EPOCH_JSON, step, wall_time, last=last)
        if enc is None:
            raise errors.NotFoundError(f"run {run!r} has no complete epoch record at step {step}")
        return enc[0]

    def epoch_impl(self, ctx, eid, run, step):
        """:meth:`epoch_json_impl` decoded."""
        return json.loads(self.epoch_json_impl(ctx, eid, run, step))

    def epochs_gzip_impl(self, ctx, eid, run):
        """:meth:`epochs_impl` as gzip-compressed JSON bytes (built once per change)."""
        return self._epochs(ctx, eid, run)["gzip"]

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
