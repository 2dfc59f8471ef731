"""The JSON records of the ``cnn_tb/run`` and ``cnn_tb/epoch`` tags.

Each record is defined ONCE, as a table of fields below. The writer builds a
record with ``build_*`` (which takes exactly those fields) and the plugin
reads it back with ``parse_*`` (which type-checks every field of the same
table, so a hand-edited, truncated or hostile record can never reach the
browser as anything but the documented types).

Run record (``cnn_tb/run``), written at the first step of each session (and again
when its ``settings`` change: the feature visualizations' schedule and cost)::

    {"version": 1, "model_name": str, "input_shape": [H, W, C],
     "layers": [{"name": str, "class": str, "output_shape": [..],
                 "params": int, "inbound": [layer names],
                 "kind": "input" | "map" | "vector" | "other",
                 "logged": bool, "activation": str | null,
                 "is_conv": bool, "kernel_shape": [..] | null,
                 "parent": str | null}],          # network order
     "output_layer": str, "output_kind": "softmax" | "sigmoid" | "logits",
     "gradcam_layers": [str],
     "probes": {"count": N, "labels": [int] | null,
                "class_names": [str] | null, "image_shape": [H, W, C]},
     "settings": {...}, "cnn_tb_version": str}

Epoch record (``cnn_tb/epoch``), every logged step, written last::

    {"version": 1, "step": int, "epochs_completed": int,
     "wall_time": float, "logs": {metric: float},
     "layers": {layer: {"mean", "std", "min", "max", "zero_frac",
                        "neg_frac", "dead_frac": float | null,
                        "nonfinite": int}},
     "kernel_change": {layer: float | null},
     "predictions": [{"pred": int, "true": int | null, "confidence": float,
                      "probs": [float] | null,   # null when > 100 classes
                      "top": [[class, prob], ...]}],
     "nonfinite": bool,            # any NaN/Inf activation or kernel
     "nonfinite_weights": [layer],  # conv layers with NaN/Inf kernels
     "histograms": {layer: [lo, hi, count, ...]}}  # 30 equal-width buckets over [lo, hi]
                                                   # (absent in records written before)

Pack index record (``cnn_tb/packs``), every logged step, before the epoch
record::

    {"version": 2, "file": "packs/<session>/<step>.packs",   # relative to the run
     "activations": [[offset, length], ...],                   # one per probe
     "kernels": [offset, length] | null}

Non-finite floats are written as ``null``.

The feature visualization and pool records: ``contract/feature_viz_record.py``
and ``contract/pool_records.py``; the field cleaners: ``contract/fields.py``.
"""

import json
import math

import numpy as np

from cnn_tb.contract.fields import (
    as_dict,
    as_int,
    as_str,
    build,
    clean_json,
    dims,
    flag,
    name_list,
    opt_exact_float,
    opt_float,
    opt_int,
    opt_str,
    pack_path,
    parse,
    span,
)
from cnn_tb.contract.tags import (
    FORMAT_VERSION,
    LAYER_KINDS,
    OTHER,
    OUTPUT_KINDS,
    STAT_NAMES,
    FormatError,
    check_version,
)

_MAX_CLASSES_WITH_PROBS = 100


# ----------------------------------------------------------------- run record

LAYER_FIELDS = (
    ("name", as_str),
    ("class", lambda x: as_str(x, "Layer")),
    ("output_shape", dims),
    ("params", as_int),
    ("inbound", name_list),
    ("kind", lambda x: x if x in LAYER_KINDS else OTHER),
    ("logged", flag),
    ("activation", opt_str),
    ("is_conv", flag),
    ("kernel_shape", dims),
    ("parent", opt_str),
)

PROBE_FIELDS = (
    ("count", lambda x: max(0, as_int(x))),
    ("labels", lambda x: [opt_int(v) for v in x] if isinstance(x, list) else None),
    ("class_names", lambda x: [as_str(v) for v in x] if isinstance(x, list) else None),
    ("image_shape", dims),
)

RUN_FIELDS = (
    ("version", lambda x: as_int(x, 1)),
    ("model_name", lambda x: as_str(x, "model")),
    ("input_shape", dims),
    ("layers", None),  # parsed by parse_run_record (needs the whole list)
    ("output_layer", as_str),
    ("output_kind", lambda x: x if x in OUTPUT_KINDS else "logits"),
    ("gradcam_layers", name_list),
    ("probes", lambda x: parse(PROBE_FIELDS, as_dict(x))),
    ("settings", lambda x: clean_json(x) if isinstance(x, dict) else {}),
    ("cnn_tb_version", as_str),
)


def layer_entry(**fields):
    """One entry of the run record's ``layers`` list (exactly ``LAYER_FIELDS``)."""
    return build(LAYER_FIELDS, fields, "layer entry")


def probes_entry(**fields):
    """The run record's ``probes`` object (exactly ``PROBE_FIELDS``)."""
    return build(PROBE_FIELDS, fields, "probes entry")


def build_run_record(**fields):
    """The run record (exactly ``RUN_FIELDS`` but ``version``, which is added)."""
    return build(RUN_FIELDS, dict(fields, version=FORMAT_VERSION), "run record")


def parse_run_record(obj):
    """The run record with every field type-checked (duplicate layers dropped).

    Raises:
        FormatError: ``obj`` is not a usable run record.
    """
    if not isinstance(obj, dict):
        raise FormatError("run record is not a JSON object")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise FormatError("run record has no layer list")
    layers, seen = [], set()
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise FormatError("run record has a layer without a name")
        entry = parse(LAYER_FIELDS, raw)
        if entry["name"] not in seen:
            seen.add(entry["name"])
            layers.append(entry)
    out = parse([f for f in RUN_FIELDS if f[0] != "layers"], obj)
    out["layers"] = layers
    if out["output_layer"] not in seen:
        out["output_layer"] = layers[-1]["name"]
    out["gradcam_layers"] = [n for n in out["gradcam_layers"] if n in seen]
    return {k: out[k] for k, _ in RUN_FIELDS}


# --------------------------------------------------------------- epoch record


def _stats(raw):
    raw = as_dict(raw)
    out = {s: opt_float(raw.get(s)) for s in STAT_NAMES}
    out["nonfinite"] = max(0, as_int(raw.get("nonfinite")))
    return out


def _top(t):
    cls = t[0] if isinstance(t[0], (int, str)) and not isinstance(t[0], bool) else as_str(t[0])
    return [cls, opt_float(t[1])]


PREDICTION_FIELDS = (
    ("pred", opt_int),
    ("true", opt_int),
    ("confidence", opt_float),
    ("probs", lambda x: [opt_float(p) for p in x] if isinstance(x, list) else None),
    ("top", lambda x: [_top(t) for t in x if isinstance(t, (list, tuple)) and len(t) >= 2] if isinstance(x, list) else []),
)

EPOCH_FIELDS = (
    ("version", lambda x: as_int(x, 1)),
    ("step", None),  # the step the record was logged at (the event's step wins)
    ("epochs_completed", None),
    ("wall_time", opt_exact_float),
    ("logs", lambda x: {as_str(k): opt_float(v) for k, v in as_dict(x).items()}),
    ("layers", lambda x: {as_str(k): _stats(v) for k, v in as_dict(x).items()}),
    ("kernel_change", lambda x: {as_str(k): opt_float(v) for k, v in as_dict(x).items()}),
    ("predictions", lambda x: [parse(PREDICTION_FIELDS, as_dict(p)) for p in x] if isinstance(x, list) else []),
    ("nonfinite", flag),
    ("nonfinite_weights", name_list),
    ("histograms", lambda x: {as_str(k): h for k, h in ((k, _histogram(v)) for k, v in as_dict(x).items()) if h}),
)
# What the plugin serves of an epoch record (``/epochs``).
EPOCH_SERVED = ("step", "epochs_completed", "wall_time", "logs", "layers", "kernel_change", "predictions", "nonfinite")


def _histogram(x):
    """``[lo, hi, count, ...]`` with finite ``lo <= hi`` and non-negative counts, or None."""
    if not isinstance(x, list) or not 3 <= len(x) <= 1002:
        return None
    counts = x[2:]
    if all(type(c) is int and 0 <= c < 10_000_000 for c in counts):
        # what the writer writes: whole counts, each its own float under opt_float
        # (a long run's histograms are read thousands at a time: skip its per-value work)
        lo, hi = opt_float(x[0]), opt_float(x[1])
        return None if lo is None or hi is None or lo > hi else [lo, hi] + [float(c) for c in counts]
    values = [opt_float(v) for v in x]
    if any(v is None for v in values) or values[0] > values[1] or any(c < 0 for c in values[2:]):
        return None
    return values


def parse_epoch_histograms(obj):
    """``{layer: [lo, hi, count, ...]}`` of an epoch record (``{}`` when it has none)."""
    if not isinstance(obj, dict):
        raise FormatError("epoch record is not a JSON object")
    return dict(EPOCH_FIELDS)["histograms"](obj.get("histograms"))


def predictions(probs, pred, labels, top_k=5):
    """The epoch record's ``predictions`` list from probabilities ``[N, K]``."""
    out = []
    k = probs.shape[1]
    for i in range(len(probs)):
        p = probs[i]
        order = np.argsort(-p)[: min(top_k, k)]
        out.append(
            build(
                PREDICTION_FIELDS,
                {
                    "pred": int(pred[i]),
                    "true": None if labels is None else int(labels[i]),
                    "confidence": float(p[pred[i]]) if pred[i] < k else float("nan"),
                    "probs": [round(float(v), 6) for v in p] if k <= _MAX_CLASSES_WITH_PROBS else None,
                    "top": [[int(c), round(float(p[c]), 6)] for c in order],
                },
                "prediction",
            )
        )
    return out


def build_epoch_record(**fields):
    """The epoch record (exactly ``EPOCH_FIELDS`` but ``version``, which is added)."""
    return build(EPOCH_FIELDS, dict(fields, version=FORMAT_VERSION), "epoch record")


def parse_epoch_record(obj, step):
    """The served part of an epoch record logged at ``step``, type-checked.

    Raises:
        FormatError: ``obj`` is not a JSON object.
    """
    if not isinstance(obj, dict):
        raise FormatError("epoch record is not a JSON object")
    fields = [f for f in EPOCH_FIELDS if f[0] in EPOCH_SERVED and f[1] is not None]
    out = parse(fields, obj)
    out["step"] = int(step)
    out["epochs_completed"] = as_int(obj.get("epochs_completed"), int(step) + 1)
    out["nonfinite"] = out["nonfinite"] or any(s["nonfinite"] for s in out["layers"].values())
    return {k: out[k] for k in EPOCH_SERVED}


# ------------------------------------------------------------- pack index


PACK_INDEX_FIELDS = (
    ("version", lambda x: as_int(x, 2)),
    ("file", pack_path),
    ("activations", lambda x: [span(v) for v in x] if isinstance(x, list) else []),
    ("kernels", span),
)


def build_pack_index(**fields):
    """The pack index record (exactly ``PACK_INDEX_FIELDS`` but ``version``)."""
    return build(PACK_INDEX_FIELDS, dict(fields, version=FORMAT_VERSION), "pack index")


def parse_pack_index(obj, step):
    """The pack index record of ``step``, type-checked; the file must be a plain
    relative path inside the run.

    Raises:
        FormatError: not an object, or no usable file path.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pack index of step {step} is not a JSON object")
    out = parse(PACK_INDEX_FIELDS, obj)
    if out["file"] is None:
        raise FormatError(f"pack index of step {step} has no usable file path: {str(obj.get('file'))[:80]!r}")
    return out


# ----------------------------------------------------------------------- JSON


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj


def encode_json(obj):
    """JSON document bytes of a record (NaN and infinities become null)."""
    return json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False).encode()


def decode_json(data, what="record"):
    """Parse a run / epoch JSON document, checking its version.

    Raises:
        NewerVersionError: written by a newer cnn_tb.
        FormatError: not a JSON object with a version.
    """
    if isinstance(data, np.ndarray):
        data = data.item()
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise FormatError(f"{what} is not valid JSON") from e
    if not isinstance(obj, dict) or "version" not in obj:
        raise FormatError(f"{what} has no version")
    try:
        version = int(obj["version"])
    except (TypeError, ValueError, OverflowError) as e:
        raise FormatError(f"{what} has a bad version {obj['version']!r}") from e
    check_version(version, what)
    return obj
