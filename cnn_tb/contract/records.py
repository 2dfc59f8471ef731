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

Feature visualization record (``cnn_tb/feature_viz``), at the steps where
the visualizations were computed, before the epoch record::

    {"version": 2, "file": "packs/<session>/<step>.fviz",    # relative to the run
     "steps": int, "seed": int, "seconds": float,             # optimisation steps, seed, time taken
     "layers": [{"name": str, "channels": [int],             # the tiles' channels, left to right
                 "image_shape": [H, W, C],                   # of one tile (C = 1 or 3)
                 "span": [offset, length],                   # the PNG strip in the file
                 "objective": [float]}],                     # each channel's mean activation on its image
     "cost": {"share": float,          # feature-viz time / measured training time so far
              "spent_seconds": float, "train_seconds": float, "max_share": float | null}}  # null: no limit

Pool run record (``cnn_tb/pool_run``), at the first pool step of each
session (only with ``pool=``)::

    {"version": 2, "count": N, "labels": [int], "class_names": [str] | null,
     "num_classes": K, "image_shape": [H, W, C],
     "sprite": {"file": "pool/<session>/sprite.png", "length": int,
                "columns": int, "thumb": [h, w]},   # image i at row i // columns
     "layers": [layer],            # with class separation, input first
     "examples": {layer: {"channels": [int], "top_k": int,
                          "field": {"size": [h, w], "jump": [h, w],
                                    "top": [h, w], "exact": bool}}},
     "embedding_layers": [layer], "every_n_epochs": int}

Pool record (``cnn_tb/pool``), every pool step, before the epoch record::

    {"version": 2, "step": int, "accuracy": float,
     "class_separation": {layer: float | null},
     "confusion": [[int]] | null,   # [K][K], row = true class; null when K > 100
     "confused_pairs": [{"true": int, "pred": int, "count": int,
                         "examples": [pool image index]}],
     "file": "pool/<session>/<step>.pool" | null,   # the pool pack
     "span": [offset, length] | null}

Non-finite floats are written as ``null``.
"""

import json
import math

import numpy as np

from cnn_tb.contract.tags import (
    FORMAT_VERSION,
    LAYER_KINDS,
    OTHER,
    OUTPUT_KINDS,
    STAT_NAMES,
    FormatError,
    check_version,
)

_MAX_NAME = 4096
_MAX_CLASSES_WITH_PROBS = 100


# ------------------------------------------------------------- field cleaners
# Each turns whatever JSON value a record holds into the documented type.


def opt_float(x):
    """A finite float rounded to 7 significant digits (float32 precision), or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return float(f"{x:.7g}") if math.isfinite(x) else None


def _opt_exact_float(x):
    """A finite float as it is (times, where 7 digits are not enough), or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _flag(x):
    """A JSON boolean (numbers count as their truth value; strings and the rest are False)."""
    return bool(x) if isinstance(x, (bool, int, float)) else False


def _int(x, default=0):
    if isinstance(x, (bool, int)):
        return int(x)
    if isinstance(x, float) and math.isfinite(x):
        return int(x)
    return default


def _opt_int(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return int(x)


def _str(x, default=""):
    if x is None:
        return default
    return (x if isinstance(x, str) else str(x))[:_MAX_NAME]


def _opt_str(x):
    return None if x is None else _str(x)


def _shape(x):
    return [_opt_int(d) for d in x][:16] if isinstance(x, (list, tuple)) else None


def _names(x):
    return [_str(i) for i in x if isinstance(i, str)] if isinstance(x, list) else []


def _dict(x):
    return x if isinstance(x, dict) else {}


def _clean_json(x, depth=0):
    """A JSON-safe copy of ``x`` (finite floats, string keys, bounded depth)."""
    if depth > 8:
        return None
    if isinstance(x, dict):
        return {_str(k): _clean_json(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean_json(v, depth + 1) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return _str(x)


def _build(fields, values, what):
    """A record with exactly the keys of ``fields`` from ``values``."""
    unknown = set(values) - {k for k, _ in fields}
    missing = [k for k, _ in fields if k not in values]
    if unknown or missing:
        raise TypeError(f"{what}: unknown fields {sorted(unknown)}, missing fields {missing}")
    return {k: values[k] for k, _ in fields}


def _parse(fields, obj):
    return {k: clean(obj.get(k)) for k, clean in fields}


# ----------------------------------------------------------------- run record

LAYER_FIELDS = (
    ("name", _str),
    ("class", lambda x: _str(x, "Layer")),
    ("output_shape", _shape),
    ("params", _int),
    ("inbound", _names),
    ("kind", lambda x: x if x in LAYER_KINDS else OTHER),
    ("logged", _flag),
    ("activation", _opt_str),
    ("is_conv", _flag),
    ("kernel_shape", _shape),
    ("parent", _opt_str),
)

PROBE_FIELDS = (
    ("count", lambda x: max(0, _int(x))),
    ("labels", lambda x: [_opt_int(v) for v in x] if isinstance(x, list) else None),
    ("class_names", lambda x: [_str(v) for v in x] if isinstance(x, list) else None),
    ("image_shape", _shape),
)

RUN_FIELDS = (
    ("version", lambda x: _int(x, 1)),
    ("model_name", lambda x: _str(x, "model")),
    ("input_shape", _shape),
    ("layers", None),  # parsed by parse_run_record (needs the whole list)
    ("output_layer", _str),
    ("output_kind", lambda x: x if x in OUTPUT_KINDS else "logits"),
    ("gradcam_layers", _names),
    ("probes", lambda x: _parse(PROBE_FIELDS, _dict(x))),
    ("settings", lambda x: _clean_json(x) if isinstance(x, dict) else {}),
    ("cnn_tb_version", _str),
)


def layer_entry(**fields):
    """One entry of the run record's ``layers`` list (exactly ``LAYER_FIELDS``)."""
    return _build(LAYER_FIELDS, fields, "layer entry")


def probes_entry(**fields):
    """The run record's ``probes`` object (exactly ``PROBE_FIELDS``)."""
    return _build(PROBE_FIELDS, fields, "probes entry")


def build_run_record(**fields):
    """The run record (exactly ``RUN_FIELDS`` but ``version``, which is added)."""
    return _build(RUN_FIELDS, dict(fields, version=FORMAT_VERSION), "run record")


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
        entry = _parse(LAYER_FIELDS, raw)
        if entry["name"] not in seen:
            seen.add(entry["name"])
            layers.append(entry)
    out = _parse([f for f in RUN_FIELDS if f[0] != "layers"], obj)
    out["layers"] = layers
    if out["output_layer"] not in seen:
        out["output_layer"] = layers[-1]["name"]
    out["gradcam_layers"] = [n for n in out["gradcam_layers"] if n in seen]
    return {k: out[k] for k, _ in RUN_FIELDS}


# --------------------------------------------------------------- epoch record


def _stats(raw):
    raw = _dict(raw)
    out = {s: opt_float(raw.get(s)) for s in STAT_NAMES}
    out["nonfinite"] = max(0, _int(raw.get("nonfinite")))
    return out


def _top(t):
    cls = t[0] if isinstance(t[0], (int, str)) and not isinstance(t[0], bool) else _str(t[0])
    return [cls, opt_float(t[1])]


PREDICTION_FIELDS = (
    ("pred", _opt_int),
    ("true", _opt_int),
    ("confidence", opt_float),
    ("probs", lambda x: [opt_float(p) for p in x] if isinstance(x, list) else None),
    ("top", lambda x: [_top(t) for t in x if isinstance(t, (list, tuple)) and len(t) >= 2] if isinstance(x, list) else []),
)

EPOCH_FIELDS = (
    ("version", lambda x: _int(x, 1)),
    ("step", None),  # the step the record was logged at (the event's step wins)
    ("epochs_completed", None),
    ("wall_time", _opt_exact_float),
    ("logs", lambda x: {_str(k): opt_float(v) for k, v in _dict(x).items()}),
    ("layers", lambda x: {_str(k): _stats(v) for k, v in _dict(x).items()}),
    ("kernel_change", lambda x: {_str(k): opt_float(v) for k, v in _dict(x).items()}),
    ("predictions", lambda x: [_parse(PREDICTION_FIELDS, _dict(p)) for p in x] if isinstance(x, list) else []),
    ("nonfinite", _flag),
    ("nonfinite_weights", _names),
    ("histograms", lambda x: {_str(k): h for k, h in ((k, _histogram(v)) for k, v in _dict(x).items()) if h}),
)
# What the plugin serves of an epoch record (``/epochs``).
EPOCH_SERVED = ("step", "epochs_completed", "wall_time", "logs", "layers", "kernel_change", "predictions", "nonfinite")


def _histogram(x):
    """``[lo, hi, count, ...]`` with finite ``lo <= hi`` and non-negative counts, or None."""
    if not isinstance(x, list) or not 3 <= len(x) <= 1002:
        return None
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
            _build(
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
    return _build(EPOCH_FIELDS, dict(fields, version=FORMAT_VERSION), "epoch record")


def parse_epoch_record(obj, step):
    """The served part of an epoch record logged at ``step``, type-checked.

    Raises:
        FormatError: ``obj`` is not a JSON object.
    """
    if not isinstance(obj, dict):
        raise FormatError("epoch record is not a JSON object")
    fields = [f for f in EPOCH_FIELDS if f[0] in EPOCH_SERVED and f[1] is not None]
    out = _parse(fields, obj)
    out["step"] = int(step)
    out["epochs_completed"] = _int(obj.get("epochs_completed"), int(step) + 1)
    out["nonfinite"] = out["nonfinite"] or any(s["nonfinite"] for s in out["layers"].values())
    return {k: out[k] for k in EPOCH_SERVED}


# ------------------------------------------------------------- pack index


def _span(x):
    """``[offset, length]`` of non-negative ints, or None."""
    if isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in x):
        return list(x)
    return None


def _pack_path(x):
    """A relative path inside the run directory (``/``-separated, no ``..``), or None."""
    if not isinstance(x, str) or not x or len(x) > _MAX_NAME or any(c in x for c in "\\:\x00") or x.startswith("/"):
        return None
    parts = x.split("/")
    return x if all(p not in ("", ".", "..") for p in parts) else None


PACK_INDEX_FIELDS = (
    ("version", lambda x: _int(x, 2)),
    ("file", _pack_path),
    ("activations", lambda x: [_span(v) for v in x] if isinstance(x, list) else []),
    ("kernels", _span),
)


def build_pack_index(**fields):
    """The pack index record (exactly ``PACK_INDEX_FIELDS`` but ``version``)."""
    return _build(PACK_INDEX_FIELDS, dict(fields, version=FORMAT_VERSION), "pack index")


def parse_pack_index(obj, step):
    """The pack index record of ``step``, type-checked; the file must be a plain
    relative path inside the run.

    Raises:
        FormatError: not an object, or no usable file path.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pack index of step {step} is not a JSON object")
    out = _parse(PACK_INDEX_FIELDS, obj)
    if out["file"] is None:
        raise FormatError(f"pack index of step {step} has no usable file path: {str(obj.get('file'))[:80]!r}")
    return out


# ---------------------------------------------------- feature visualization


def _int_list(x):
    return [v for v in (_opt_int(i) for i in x) if v is not None] if isinstance(x, list) else []


FEATURE_VIZ_LAYER_FIELDS = (
    ("name", _str),
    ("channels", _int_list),
    ("image_shape", _shape),
    ("span", _span),
    ("objective", lambda x: [opt_float(v) for v in x] if isinstance(x, list) else []),
)

FEATURE_VIZ_COST_FIELDS = (
    ("share", opt_float),
    ("spent_seconds", opt_float),
    ("train_seconds", opt_float),
    ("max_share", opt_float),
)

FEATURE_VIZ_FIELDS = (
    ("version", lambda x: _int(x, 2)),
    ("file", _pack_path),
    ("steps", _int),
    ("seed", _int),
    ("seconds", opt_float),
    ("layers", None),  # parsed by parse_feature_viz_record (entries checked one by one)
    ("cost", lambda x: _parse(FEATURE_VIZ_COST_FIELDS, _dict(x))),
)


def feature_viz_layer(**fields):
    """One entry of the feature visualization record's ``layers`` list."""
    return _build(FEATURE_VIZ_LAYER_FIELDS, fields, "feature visualization layer")


def feature_viz_cost(**fields):
    """The feature visualization record's ``cost`` object."""
    return _build(FEATURE_VIZ_COST_FIELDS, fields, "feature visualization cost")


def build_feature_viz_record(**fields):
    """The feature visualization record (exactly ``FEATURE_VIZ_FIELDS`` but ``version``)."""
    return _build(FEATURE_VIZ_FIELDS, dict(fields, version=FORMAT_VERSION), "feature visualization record")


def parse_feature_viz_record(obj, step):
    """The feature visualization record of ``step``, type-checked.

    Layers without a name, a usable span or an image shape ``[H, W, 1 or 3]``
    are dropped; an objective list of another length than the channel list
    becomes nulls.

    Raises:
        FormatError: not an object, or no usable file path.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"feature visualization record of step {step} is not a JSON object")
    out = _parse([f for f in FEATURE_VIZ_FIELDS if f[1] is not None], obj)
    if out["file"] is None:
        raise FormatError(f"feature visualization record of step {step} has no usable file path")
    layers, seen = [], set()
    for raw in obj.get("layers") if isinstance(obj.get("layers"), list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        entry = _parse(FEATURE_VIZ_LAYER_FIELDS, raw)
        shape = entry["image_shape"]
        ok_shape = shape is not None and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape) and shape[2] in (1, 3)
        if entry["span"] is None or not ok_shape or not entry["channels"] or entry["name"] in seen:
            continue
        if len(entry["objective"]) != len(entry["channels"]):
            entry["objective"] = [None] * len(entry["channels"])
        seen.add(entry["name"])
        layers.append(entry)
    out["layers"] = layers
    return {k: out[k] for k, _ in FEATURE_VIZ_FIELDS}


# ------------------------------------------------------------- pool records


def _pair(x):
    return [opt_float(v) for v in x] if isinstance(x, list) and len(x) == 2 else None


def _ints(x, minimum=0):
    return [max(minimum, _int(v)) for v in x if isinstance(v, (int, float)) and not isinstance(v, bool)] if isinstance(x, list) else []


FIELD_FIELDS = (("size", _pair), ("jump", _pair), ("top", _pair), ("exact", _flag))
EXAMPLE_LAYER_FIELDS = (
    ("channels", _ints),
    ("top_k", lambda x: max(0, _int(x))),
    ("field", lambda x: _parse(FIELD_FIELDS, _dict(x))),
)
SPRITE_FIELDS = (
    ("file", _pack_path),
    ("length", lambda x: max(0, _int(x))),
    ("columns", lambda x: max(1, _int(x, 1))),
    ("thumb", _shape),
)
POOL_RUN_FIELDS = (
    ("version", lambda x: _int(x, 2)),
    ("count", lambda x: max(0, _int(x))),
    ("labels", lambda x: [_opt_int(v) for v in x] if isinstance(x, list) else []),
    ("class_names", lambda x: [_str(v) for v in x] if isinstance(x, list) else None),
    ("num_classes", lambda x: max(0, _int(x))),
    ("image_shape", _shape),
    ("sprite", lambda x: _parse(SPRITE_FIELDS, _dict(x))),
    ("layers", _names),
    ("examples", lambda x: {_str(k): _parse(EXAMPLE_LAYER_FIELDS, _dict(v)) for k, v in _dict(x).items()}),
    ("embedding_layers", _names),
    ("every_n_epochs", lambda x: max(1, _int(x, 1))),
)
PAIR_FIELDS = (("true", _opt_int), ("pred", _opt_int), ("count", lambda x: max(0, _int(x))), ("examples", _ints))
POOL_FIELDS = (
    ("version", lambda x: _int(x, 2)),
    ("step", None),  # the event's step wins
    ("accuracy", opt_float),
    ("class_separation", lambda x: {_str(k): opt_float(v) for k, v in _dict(x).items()}),
    ("confusion", lambda x: [_ints(row) for row in x if isinstance(row, list)] if isinstance(x, list) else None),
    ("confused_pairs", lambda x: [_parse(PAIR_FIELDS, _dict(p)) for p in x] if isinstance(x, list) else []),
    ("file", _pack_path),
    ("span", _span),
)
MAX_CONFUSION_CLASSES = 100  # larger confusion matrices are left out of the pool record


def build_pool_run_record(**fields):
    """The pool run record (exactly ``POOL_RUN_FIELDS`` but ``version``)."""
    return _build(POOL_RUN_FIELDS, dict(fields, version=FORMAT_VERSION), "pool run record")


def parse_pool_run_record(obj, step):
    """The pool run record logged at ``step``, type-checked (``"step"`` added).

    Raises:
        FormatError: not an object, or no usable sprite path.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pool run record of step {step} is not a JSON object")
    out = _parse(POOL_RUN_FIELDS, obj)
    if out["sprite"]["file"] is None:
        raise FormatError(f"pool run record of step {step} has no usable sprite path")
    return dict(out, step=int(step))


def build_pool_record(**fields):
    """The pool record (exactly ``POOL_FIELDS`` but ``version``)."""
    return _build(POOL_FIELDS, dict(fields, version=FORMAT_VERSION), "pool record")


def parse_pool_record(obj, step):
    """The pool record logged at ``step``, type-checked.

    Raises:
        FormatError: ``obj`` is not a JSON object.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pool record of step {step} is not a JSON object")
    return dict(_parse([f for f in POOL_FIELDS if f[1] is not None], obj), step=int(step))


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
