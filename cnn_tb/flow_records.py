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


def avg_pool(x, p):
    """Average-pool the first two axes of ``x`` by ``p`` (edges padded)."""
    if p == 1:
        return x
    h, w = x.shape[:2]
    ph, pw = _pooled(h, p) * p, _pooled(w, p) * p
    if (ph, pw) != (h, w):
        pad = [(0, ph - h), (0, pw - w)] + [(0, 0)] * (x.ndim - 2)
        x = np.pad(x, pad, mode="edge")
    shape = (ph // p, p, pw // p, p) + x.shape[2:]
    return x.reshape(shape).mean(axis=(1, 3))


def activation_pack(layer_acts, plan, gradcam=None, gradcam_true=None, level=1):
    """The compressed pack of ONE probe.

    Args:
        layer_acts: ``{layer: array}`` for this probe (``[h, w, c]`` or ``[d]``).
        plan: from :func:`plan_budget`.
        gradcam / gradcam_true: ``{layer: [h, w]}`` maps in [0, 1] for this probe.

    Returns:
        bytes.
    """
    gradcam = gradcam or {}
    gradcam_true = gradcam_true or {}
    arrays = []
    for name, act in layer_acts.items():
        p = plan[name]
        if act.ndim == 3:
            h, w, c = act.shape
            summary_pool = p["summary_pool"]
            for kind, reduce in (("mean", np.mean), ("max", np.max)):
                m = avg_pool(reduce(act, axis=-1), summary_pool)
                q, lo, hi, bad = metadata.quantize(m)
                arrays.append((f"{name}/{kind}", q, lo, hi, {"nonfinite": bad, "pool": summary_pool}))
            if p["channels"]:  # 0 when the budget leaves room for the summary maps only
                maps = avg_pool(act[:, :, : p["channels"]], p["pool"])
                q, lo, hi, bad = metadata.quantize(maps, axis=-1)
                arrays.append(
                    (
                        f"{name}/maps",
                        q,
                        lo,
                        hi,
                        {
                            "channels": list(range(p["channels"])),
                            "full_shape": [h, w, c],
                            "pool": p["pool"],
                            "nonfinite": bad,
                        },
                    )
                )
            for key, cams in (("gradcam", gradcam), ("gradcam_true", gradcam_true)):
                if name in cams:
                    cam = avg_pool(np.asarray(cams[name], np.float32), summary_pool)
                    q = np.clip(np.rint(np.nan_to_num(cam) * 255.0), 0, 255).astype(np.uint8)
                    arrays.append((f"{name}/{key}", q, 0.0, 1.0, {"pool": summary_pool}))
        else:
            vec = act.reshape(-1)
            q, lo, hi, bad = metadata.quantize(vec[: p["units"]])
            arrays.append((f"{name}/vector", q, lo, hi, {"full_shape": [int(vec.size)], "nonfinite": bad}))
    return metadata.encode_pack(arrays, level=level)


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
