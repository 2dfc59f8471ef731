"""The plugin's flow records: run record and probe images (once per session),
activation packs, the kernel pack and the epoch record (every step, last).

The format is :mod:`cnn_tb.contract`; what fits the byte budget is decided by
:mod:`cnn_tb.summaries.flow_budget`.
"""

import time

import numpy as np

from cnn_tb import render
from cnn_tb.contract import packs, records, tags
from cnn_tb.model import graph
from cnn_tb.summaries import flow_budget
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import plugin_value


def activation_packs(layer_acts, plan, gradcam=None, gradcam_true=None, level=1):
    """The compressed packs of all probes, one per probe.

    Args:
        layer_acts: ``{layer: array [N, h, w, c] or [N, d]}``.
        plan: from :func:`~cnn_tb.summaries.flow_budget.plan_budget`.
        gradcam: ``{layer: [N, h, w]}`` maps in [0, 1] (predicted class).
        gradcam_true: ``({layer: [N, h, w]}, mask)``: true-class maps, stored
            for probe ``i`` only where ``mask[i]`` (misclassified probes).

    Returns:
        list of N bytes objects.
    """
    gradcam = gradcam or {}
    true_maps, true_mask = gradcam_true if gradcam_true else ({}, None)
    per_probe = None
    for name, act in layer_acts.items():
        n = act.shape[0]
        if per_probe is None:
            per_probe = [[] for _ in range(n)]
        p = plan[name]
        if act.ndim == 4:
            _map_arrays(per_probe, name, act, p, ((gradcam, None, "gradcam"), (true_maps, true_mask, "gradcam_true")))
        else:
            flat = act.reshape(n, -1)
            q, lo, hi, bad = packs.quantize_rows(flat[:, : p["units"]])
            for i in range(n):
                meta = {"full_shape": [int(flat.shape[1])], "nonfinite": int(bad[i])}
                per_probe[i].append((packs.array_name(name, "vector"), q[i], float(lo[i]), float(hi[i]), meta))
    return [packs.encode_pack(arrays, level=level) for arrays in (per_probe or [])]


def _map_arrays(per_probe, name, act, p, cams):
    """Append the arrays of one map layer [N, h, w, c] to every probe's list."""
    n, h, w, c = act.shape
    sp = p["summary_pool"]
    for kind, reduce in (("mean", np.mean), ("max", np.max)):
        q, lo, hi, bad = packs.quantize_rows(flow_budget.avg_pool(reduce(act, axis=-1), sp, first_axis=1))
        for i in range(n):
            meta = {"nonfinite": int(bad[i]), "pool": sp}
            per_probe[i].append((packs.array_name(name, kind), q[i], float(lo[i]), float(hi[i]), meta))
    if p["channels"]:  # 0 when the budget leaves room for the summary maps only
        kept = flow_budget.avg_pool(act[..., : p["channels"]], p["pool"], first_axis=1)
        q, lo, hi, bad = packs.quantize_rows(kept, per_channel=True)
        meta = {"channels": list(range(p["channels"])), "full_shape": [h, w, c], "pool": p["pool"]}
        for i in range(n):
            entry = (packs.array_name(name, "maps"), q[i], lo[i].tolist(), hi[i].tolist(), dict(meta, nonfinite=int(bad[i])))
            per_probe[i].append(entry)
    for maps, mask, key in cams:
        if name in maps:
            cam = flow_budget.avg_pool(np.asarray(maps[name], np.float32), sp, first_axis=1)
            q = np.clip(np.rint(np.nan_to_num(cam) * 255.0), 0, 255).astype(np.uint8)
            for i in range(n):
                if mask is None or mask[i]:
                    per_probe[i].append((packs.array_name(name, key), q[i], 0.0, 1.0, {"pool": sp}))


def activation_pack(layer_acts, plan, gradcam=None, gradcam_true=None, level=1):
    """The compressed pack of ONE probe (``{layer: [h, w, c] or [d]}``)."""
    batch = {k: np.asarray(v)[np.newaxis] for k, v in layer_acts.items()}
    cams = {k: np.asarray(v)[np.newaxis] for k, v in (gradcam or {}).items()}
    cams_true = {k: np.asarray(v)[np.newaxis] for k, v in (gradcam_true or {}).items()}
    return activation_packs(batch, plan, cams, (cams_true, [bool(cams_true)]), level=level)[0]


def kernels_pack(canonical_kernels, layer_classes, max_out=32, max_in=16, level=1):
    """The compressed pack of the conv kernels of one step.

    Args:
        canonical_kernels: ``{layer: [kh, kw, c_in, c_out] float32}``.
        layer_classes: ``{layer: Keras class name}``.
        max_out / max_in: caps on output filters / input channels kept.
    """
    arrays = []
    for name, k in canonical_kernels.items():
        q, a, bad = packs.quantize_symmetric(k[:, :, :max_in, :max_out])
        meta = {"full_shape": list(k.shape), "layer_class": layer_classes.get(name), "nonfinite": bad}
        arrays.append((packs.array_name(name, "kernel"), q, -a, a, meta))
    return packs.encode_pack(arrays, level=level)


class Flow(Kind):
    """Everything the CNN Flow tab reads."""

    name = "flow"
    needs_kernels = True
    needs_stats = True
    wants_gradcam = True

    def attach(self, ctx):
        super().attach(ctx)
        self.plan = flow_budget.plan_budget(
            ctx.selected, self.settings.budget_bytes, self.settings.max_channels, gradcam_layers=ctx.gradcam_layers
        )
        self._run_written = False

    def run_record(self):
        from cnn_tb import __version__

        ctx, p = self.ctx, self.ctx.probes
        return records.build_run_record(
            model_name=ctx.model.name,
            input_shape=list(p.model_inputs().shape[1:]),
            layers=[i.describe() for i in ctx.infos],
            output_layer=graph.output_layer(ctx.model).name,
            output_kind=ctx.output_kind,
            gradcam_layers=list(ctx.gradcam_layers),
            probes=records.probes_entry(
                count=len(p),
                labels=None if p.labels is None else [int(v) for v in p.labels],
                class_names=p.class_names,
                image_shape=list(p.image_shape),
            ),
            settings={
                "budget_bytes": self.settings.budget_bytes,
                "max_channels": self.settings.max_channels,
                "cmap": self.settings.cmap,
                "kinds": sorted(ctx.kinds),
                "plan": self.plan,
            },
            cnn_tb_version=__version__,
        )

    def values(self, step):
        out = []
        if not self._run_written:
            out.append(plugin_value(tags.RUN_TAG, records.encode_json(self.run_record()), "cnn_tb model graph and probes"))
            pngs = [render.encode_png(img) for img in self.ctx.probes.uint8_images]
            out.append(plugin_value(tags.PROBES_TAG, pngs, "cnn_tb probe images"))
            self._run_written = True
        result, labels = step.capture, self.ctx.probes.labels
        true_cams = None
        if result.gradcam_true and labels is not None:
            true_cams = (result.gradcam_true, labels != result.pred)
        blobs = activation_packs(result.activations, self.plan, result.gradcam, true_cams)
        out.append(plugin_value(tags.ACTIVATIONS_TAG, blobs))
        classes = {i.name: i.class_name for i in self.ctx.kernel_infos}
        out.append(plugin_value(tags.KERNELS_TAG, [kernels_pack(step.kernels, classes)]))
        out.append(plugin_value(tags.EPOCH_TAG, records.encode_json(self.epoch_record(step))))  # LAST
        return out

    def epoch_record(self, step):
        stats, change = step.stats, step.kernel_change
        bad_weights = [name for name, k in step.kernels.items() if not np.all(np.isfinite(k))]
        nonfinite = (
            bool(bad_weights)
            or any(s["nonfinite"] for s in stats.values())
            or any(c is not None and not np.isfinite(c) for c in change.values())
        )
        result = step.capture
        return records.build_epoch_record(
            step=step.step,
            epochs_completed=step.step + 1,
            wall_time=time.time(),
            logs={k: f for k, f in ((k, _float(v)) for k, v in step.logs.items()) if f is not None},
            layers=dict(stats),
            kernel_change={k: _float(v) for k, v in change.items()},
            predictions=records.predictions(result.probs, result.pred, self.ctx.probes.labels),
            nonfinite=bool(nonfinite),
            nonfinite_weights=bad_weights,
        )


def _float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None
