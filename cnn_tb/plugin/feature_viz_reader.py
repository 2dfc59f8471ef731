"""Reading the feature visualizations of a run (a part of
:class:`~cnn_tb.plugin.reader.FlowReader`).

The feature visualization records (small JSON tensors) come through the data
provider; each layer's PNG strip from the run's pack file
(:mod:`~cnn_tb.plugin.pack_files`), one file range per request, cached.
"""

from tensorboard import errors

from cnn_tb.contract import feature_viz_record, tags
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pack_files import PNG_MAGIC


class FeatureVizReader:
    """The feature visualization routes' ``*_impl`` methods (mixed into
    :class:`~cnn_tb.plugin.reader.FlowReader`, over :class:`~cnn_tb.plugin.source.CachedSource`)."""

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
