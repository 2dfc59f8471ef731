"""The plugin's flow records: run record and probe images (once per session),
activation packs, the kernel pack and the epoch record (every step, last).

The format is :mod:`cnn_tb.contract`; what fits the byte budget is decided by
:mod:`cnn_tb.summaries.flow_budget`.
"""

import time

import numpy as np
from keras import ops

from cnn_tb import event_writer, render
from cnn_tb.contract import packs, records, tags
from cnn_tb.model import graph, reduce
from cnn_tb.summaries import flow_budget
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import plugin_value


def _by(keys):
    """Indices grouped by key, in first-seen order: ``[(key, [i, ...]), ...]``."""
    out = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return list(out.items())


class PackLayout:
    """Where each array of a probe's pack comes from in the batched device outputs.

    Built once per run from the budget plan and the layer shapes. Every array is
    quantized by rows: a summary map or a vector is one row (one lo/hi per probe),
    a layer's channel maps one row per channel (one lo/hi per probe and channel).
    On the device (:meth:`device`) layers of the same shape and storage plan are
    reduced together and rows of the same length are quantized together, so the
    compiled function holds a few ops per distinct shape, not per layer; the host
    (:meth:`packs`) cuts the rows apart again into pack entries. Grad-CAM maps
    (in [0, 1]) are quantized as they are, likewise grouped.
    """

    def __init__(self, plan, shapes, gradcam_layers):
        self.plan, self.shapes = plan, {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        names = list(plan)
        maps = [n for n in names if "units" not in plan[n]]
        self.shape_groups = [tuple(maps[i] for i in idx) for _, idx in _by([self.shapes[n] for n in maps])]
        self.jobs = []  # (kind, shape group, member names, row length, rows per array)
        for group in self.shape_groups:
            h, w, _ = self.shapes[group[0]]
            for sp, idx in _by([plan[n]["summary_pool"] for n in group]):
                members = tuple(group[i] for i in idx)
                for kind in ("mean", "max"):
                    self.jobs.append((kind, group, members, -(-h // sp) * -(-w // sp), 1))
            for (k, pool), idx in _by([(plan[n]["channels"], plan[n]["pool"]) for n in group]):
                if k:
                    members = tuple(group[i] for i in idx)
                    self.jobs.append(("maps", group, members, -(-h // pool) * -(-w // pool), k))
        vectors = [n for n in names if "units" in plan[n]]
        for (_, units), idx in _by([(self.shapes[n], plan[n]["units"]) for n in vectors]):
            members = tuple(vectors[i] for i in idx)
            self.jobs.append(("vector", members, members, units, 1))
        self.lengths = sorted({job[3] for job in self.jobs})
        self.where = {}  # (layer, kind) -> (row-length index, first row, rows)
        taken = dict.fromkeys(self.lengths, 0)
        for kind, _, members, length, rows in self.jobs:
            for n in members:
                self.where[(n, kind)] = (self.lengths.index(length), taken[length], rows)
                taken[length] += rows
        cams = [n for n in maps if n in gradcam_layers]
        self.cam_jobs = [tuple(cams[i] for i in idx) for _, idx in _by([(self.shapes[n], plan[n]["summary_pool"]) for n in cams])]
        self.cam_at, at = {}, 0
        for job in self.cam_jobs:
            h, w, _ = self.shapes[job[0]]
            sp = plan[job[0]]["summary_pool"]
            for n in job:
                self.cam_at[n] = (at, (-(-h // sp), -(-w // sp)))
                at += self.cam_at[n][1][0] * self.cam_at[n][1][1]

    @staticmethod
    def _take(x, group, members):
        return x if members == group else ops.take(x, [group.index(n) for n in members], axis=0)

    def _block(self, t, kind, group, members):
        """The rows [N, arrays x rows, length] of one job."""
        p = self.plan[members[0]]
        if kind == "vector":
            x = t.stacked(members)
            x = ops.reshape(x, (x.shape[0], x.shape[1], -1))[:, :, : p["units"]]  # [L, N, units]
            return ops.transpose(x, (1, 0, 2))
        if kind == "maps":
            x = self._take(t.stacked(group), group, members)[..., : p["channels"]]
            x = reduce.avg_pool(x, p["pool"], first_axis=2)  # [L, N, h, w, k]
            L, n, h, w, k = x.shape
            x = ops.transpose(ops.reshape(x, (L, n, h * w, k)), (1, 0, 3, 2))  # [N, L, k, h*w]
            return ops.reshape(x, (n, L * k, h * w))
        x = t.channel_means(group) if kind == "mean" else t.channel_maxes(group)
        x = reduce.avg_pool(self._take(x, group, members), p["summary_pool"], first_axis=2)  # [L, N, h, w]
        return ops.transpose(ops.reshape(x, (x.shape[0], x.shape[1], -1)), (1, 0, 2))

    def device(self, t):
        """The batched device tensors of one pass (a :class:`~cnn_tb.model.capture.Tensors`)."""
        blocks = {length: [] for length in self.lengths}
        for kind, group, members, length, _ in self.jobs:
            blocks[length].append(self._block(t, kind, group, members))
        out = {"rows": [reduce.quantize_rows(ops.concatenate(blocks[length], axis=1)) for length in self.lengths]}
        for key, cams in (("cams", t.cams), ("cams_true", t.cams_true)):
            if self.cam_jobs and cams:
                pooled = []
                for job in self.cam_jobs:
                    x = reduce.avg_pool(ops.stack([cams[n] for n in job]), self.plan[job[0]]["summary_pool"], first_axis=2)
                    pooled.append(ops.reshape(ops.transpose(x, (1, 0, 2, 3)), (x.shape[1], -1)))
                out[key] = reduce.quantize_unit(ops.concatenate(pooled, axis=1))
        return out

    def packs(self, arrays, true_mask=None, level=1):
        """The compressed pack of every probe from :meth:`device`'s output (numpy).

        Args:
            arrays: what :meth:`device` returned, as numpy.
            true_mask: ``[N]`` bool: probes whose true-class Grad-CAM is stored
                (the misclassified ones); ``None`` stores none.
        """
        if not self.jobs:
            return []
        rows = [(q, lo.tolist(), hi.tolist(), bad) for q, lo, hi, bad in arrays["rows"]]
        n = rows[0][0].shape[0]
        entries = [[] for _ in range(n)]
        for name, p in self.plan.items():
            shape = self.shapes[name]
            kinds = ("vector",) if "units" in p else ("mean", "max") + (("maps",) if p["channels"] else ())
            for kind in kinds:
                g, row, count = self.where[(name, kind)]
                q, lo, hi, bad = rows[g]
                for i in range(n):
                    if kind == "maps":
                        h, w = -(-shape[0] // p["pool"]), -(-shape[1] // p["pool"])
                        data = np.ascontiguousarray(q[i, row : row + count].reshape(count, h, w).transpose(1, 2, 0))
                        meta = {"channels": list(range(count)), "full_shape": list(shape), "pool": p["pool"],
                                "nonfinite": int(bad[i, row : row + count].sum())}
                        entries[i].append((packs.array_name(name, kind), data, lo[i][row : row + count],
                                           hi[i][row : row + count], meta))
                        continue
                    if kind == "vector":
                        data = q[i, row]
                        meta = {"full_shape": [int(np.prod(shape))], "nonfinite": int(bad[i, row])}
                    else:
                        data = q[i, row].reshape(-(-shape[0] // p["summary_pool"]), -(-shape[1] // p["summary_pool"]))
                        meta = {"nonfinite": int(bad[i, row]), "pool": p["summary_pool"]}
                    entries[i].append((packs.array_name(name, kind), data, lo[i][row], hi[i][row], meta))
            for key, kind in (("cams", "gradcam"), ("cams_true", "gradcam_true")):
                if key not in arrays or name not in self.cam_at:
                    continue
                at, (h, w) = self.cam_at[name]
                for i in range(n):
                    if key == "cams" or (true_mask is not None and true_mask[i]):
                        data = arrays[key][i, at : at + h * w].reshape(h, w)
                        entries[i].append((packs.array_name(name, kind), data, 0.0, 1.0, {"pool": p["summary_pool"]}))
        return [packs.encode_pack(e, level=level) for e in entries]


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
    needs_histograms = True
    wants_gradcam = True

    def attach(self, ctx):
        super().attach(ctx)
        self.plan = flow_budget.plan_budget(
            ctx.selected, self.settings.budget_bytes, self.settings.max_channels, gradcam_layers=ctx.gradcam_layers
        )
        self._run_written = False
        self.layout = PackLayout(self.plan, {i.name: i.output_shape for i in ctx.selected}, ctx.gradcam_layers)

    def device(self, t):
        return self.layout.device(t)

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
        mask = None if labels is None else labels != result.pred
        blobs = self.layout.packs(step.device[self.name], mask)
        classes = {i.name: i.class_name for i in self.ctx.kernel_infos}
        blobs.append(kernels_pack(step.kernels, classes))
        path = f"{tags.PACK_DIR}/{self.ctx.session}/{step.step}.packs"
        spans = event_writer.write_pack_file(self.ctx.run_dir, path, blobs)
        index = records.build_pack_index(file=path, activations=spans[:-1], kernels=spans[-1])
        out.append(plugin_value(tags.PACKS_TAG, records.encode_json(index)))
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
            histograms={name: [lo, hi] + [int(c) for c in counts] for name, (lo, hi, counts, n) in step.histograms.items() if n > 0},
        )


def _float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None
