"""Building the plugin's flow records (see :mod:`cnn_tb.metadata` for the format).

The byte budget: every probe's activation pack holds at most
``budget_bytes`` of uncompressed array data (default 64 KiB; zlib shrinks it
further). :func:`plan_budget` decides once per run, from the layer shapes
alone, how many channels each map layer keeps and by how much it is
average-pooled, so every epoch stores the same channels at the same size and
epochs stay comparable:

1. every map layer keeps at most ``max_channels`` channels, every vector
   layer at most ``max_units`` units (the first ones); the channel-mean /
   channel-max / Grad-CAM maps are pooled to at most ``SUMMARY_SIZE`` pixels
   a side;
2. while the total is over budget, the biggest array that can still shrink
   gives way by one step: a layer's channel maps halve their channel count
   (down to ``MIN_CHANNELS``), then pool by 2 (down to 4 pixels a side), then
   halve channels down to none (only the summary maps stay); summary maps
   pool by 2 (down to 4 pixels a side); vectors halve (down to 16 units).

So the budget holds for any input size, and for any number of layers while
``layers x (summary maps at 4x4 + 16 units)`` fits (about 1,000 map layers at
the default budget); beyond that :func:`plan_budget` raises.
"""

import math

import numpy as np

from cnn_tb import metadata
from cnn_tb.model_graph import MAP, VECTOR

DEFAULT_BUDGET_BYTES = 64 * 1024
MIN_CHANNELS = 16
SUMMARY_SIZE = 64
_MIN_SIDE = 4
_MIN_UNITS = 16


def _pooled(n, p):
    return -(-n // p)


class BudgetError(ValueError):
    """The layers cannot fit the byte budget even at their smallest."""


def plan_budget(selected, budget_bytes=DEFAULT_BUDGET_BYTES, max_channels=32, max_units=1024, gradcam_layers=()):
    """Per-layer storage plan ``{name: {"channels", "pool", "summary_pool"} | {"units"}}``.

    Raises:
        BudgetError: even the smallest storage of every layer exceeds ``budget_bytes``.
    """
    plan, shapes, n_summary = {}, {}, {}
    for info in selected:
        if info.kind == MAP:
            h, w, c = info.output_shape
            sp = 1
            while max(_pooled(h, sp), _pooled(w, sp)) > SUMMARY_SIZE:
                sp *= 2
            shapes[info.name] = (h, w, c)
            n_summary[info.name] = 2 + (2 if info.name in gradcam_layers else 0)
            plan[info.name] = {"channels": min(c, max_channels), "pool": 1, "summary_pool": sp}
        elif info.kind == VECTOR:
            plan[info.name] = {"units": min(info.output_shape[0], max_units)}

    def sizes(name):
        """(bytes of the channel maps, bytes of the summary maps, bytes of a vector)."""
        p = plan[name]
        if "units" in p:
            return 0, 0, p["units"]
        h, w, _ = shapes[name]
        maps = _pooled(h, p["pool"]) * _pooled(w, p["pool"]) * p["channels"]
        summary = n_summary[name] * _pooled(h, p["summary_pool"]) * _pooled(w, p["summary_pool"])
        return maps, summary, 0

    def shrink(name, part):
        """Shrink one part of a layer by one step; False when it cannot."""
        p = plan[name]
        if part == "vector":
            if p["units"] <= _MIN_UNITS:
                return False
            p["units"] = max(_MIN_UNITS, p["units"] // 2)
            return True
        h, w, _ = shapes[name]
        if part == "summary":
            if min(_pooled(h, p["summary_pool"]), _pooled(w, p["summary_pool"])) <= _MIN_SIDE:
                return False
            p["summary_pool"] *= 2
            return True
        if p["channels"] > MIN_CHANNELS:
            p["channels"] = max(MIN_CHANNELS, p["channels"] // 2)
        elif p["channels"] and min(_pooled(h, p["pool"]), _pooled(w, p["pool"])) > _MIN_SIDE:
            p["pool"] *= 2
        elif p["channels"]:
            p["channels"] //= 2
        else:
            return False
        return True

    total = sum(sum(sizes(n)) for n in plan)
    stuck = set()
    while total > budget_bytes:
        parts = [
            (size, name, part)
            for name in plan
            for size, part in zip(sizes(name), ("maps", "summary", "vector"))
            if size and (name, part) not in stuck
        ]
        if not parts:
            raise BudgetError(
                f"{len(plan)} logged layers need at least {total} bytes per probe, more than "
                f"budget_bytes={budget_bytes}. Log fewer layers (`layers=`) or raise `budget_bytes`."
            )
        _, name, part = max(parts)
        before = sum(sizes(name))
        if not shrink(name, part):
            stuck.add((name, part))
        total += sum(sizes(name)) - before
    return plan


def avg_pool(x, p, first_axis=0):
    """Average-pool axes ``first_axis`` and ``first_axis + 1`` of ``x`` by ``p`` (edges padded)."""
    if p == 1:
        return x
    f = first_axis
    h, w = x.shape[f : f + 2]
    ph, pw = _pooled(h, p) * p, _pooled(w, p) * p
    if (ph, pw) != (h, w):
        pad = [(0, 0)] * f + [(0, ph - h), (0, pw - w)] + [(0, 0)] * (x.ndim - f - 2)
        x = np.pad(x, pad, mode="edge")
    shape = x.shape[:f] + (ph // p, p, pw // p, p) + x.shape[f + 2 :]
    return x.reshape(shape).mean(axis=(f + 1, f + 3))


def activation_packs(layer_acts, plan, gradcam=None, gradcam_true=None, level=1):
    """The compressed packs of all probes, one per probe.

    Args:
        layer_acts: ``{layer: array [N, h, w, c] or [N, d]}``.
        plan: from :func:`plan_budget`.
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
            h, w, c = act.shape[1:]
            sp = p["summary_pool"]
            for kind, reduce in (("mean", np.mean), ("max", np.max)):
                q, lo, hi, bad = metadata.quantize_rows(avg_pool(reduce(act, axis=-1), sp, first_axis=1))
                for i in range(n):
                    per_probe[i].append((f"{name}/{kind}", q[i], float(lo[i]), float(hi[i]), {"nonfinite": int(bad[i]), "pool": sp}))
            if p["channels"]:  # 0 when the budget leaves room for the summary maps only
                q, lo, hi, bad = metadata.quantize_rows(avg_pool(act[..., : p["channels"]], p["pool"], first_axis=1), per_channel=True)
                meta = {"channels": list(range(p["channels"])), "full_shape": [h, w, c], "pool": p["pool"]}
                for i in range(n):
                    per_probe[i].append(
                        (f"{name}/maps", q[i], lo[i].tolist(), hi[i].tolist(), dict(meta, nonfinite=int(bad[i])))
                    )
            for key, cams, mask in (("gradcam", gradcam, None), ("gradcam_true", true_maps, true_mask)):
                if name in cams:
                    cam = avg_pool(np.asarray(cams[name], np.float32), sp, first_axis=1)
                    q = np.clip(np.rint(np.nan_to_num(cam) * 255.0), 0, 255).astype(np.uint8)
                    for i in range(n):
                        if mask is None or mask[i]:
                            per_probe[i].append((f"{name}/{key}", q[i], 0.0, 1.0, {"pool": sp}))
        else:
            flat = act.reshape(act.shape[0], -1)
            q, lo, hi, bad = metadata.quantize_rows(flat[:, : p["units"]])
            for i in range(n):
                per_probe[i].append(
                    (f"{name}/vector", q[i], float(lo[i]), float(hi[i]), {"full_shape": [int(flat.shape[1])], "nonfinite": int(bad[i])})
                )
    return [metadata.encode_pack(arrays, level=level) for arrays in (per_probe or [])]


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
        kept = k[:, :, :max_in, :max_out]
        finite = np.isfinite(kept)
        a = float(np.max(np.abs(kept[finite]))) if finite.any() else 0.0
        scale = 127.5 / a if a > 0 else 0.0
        q = np.clip(np.rint(np.where(finite, kept, 0.0) * scale + 127.5), 0, 255).astype(np.uint8)
        arrays.append(
            (
                f"{name}/kernel",
                q,
                -a,
                a,
                {
                    "full_shape": list(k.shape),
                    "layer_class": layer_classes.get(name),
                    "nonfinite": int(kept.size - finite.sum()),
                },
            )
        )
    return metadata.encode_pack(arrays, level=level)


def predictions(probs, pred, labels, top_k=5):
    """The ``predictions`` list of the epoch record."""
    out = []
    k = probs.shape[1]
    for i in range(len(probs)):
        p = probs[i]
        order = np.argsort(-p)[: min(top_k, k)]
        out.append(
            {
                "pred": int(pred[i]),
                "true": None if labels is None else int(labels[i]),
                "confidence": float(p[pred[i]]) if pred[i] < k else float("nan"),
                "probs": [round(float(v), 6) for v in p] if k <= 100 else None,
                "top": [[int(c), round(float(p[c]), 6)] for c in order],
            }
        )
    return out


def finite_or_none(x):
    return None if x is None or not math.isfinite(x) else float(x)
