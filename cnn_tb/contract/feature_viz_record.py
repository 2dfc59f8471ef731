"""Feature visualization record (``cnn_tb/feature_viz``), at the steps where
the visualizations were computed, before the epoch record::

    {"version": 2, "file": "packs/<session>/<step>.fviz",    # relative to the run
     "steps": int, "seed": int, "seconds": float,             # optimisation steps, seed, time taken
     "layers": [{"name": str, "channels": [int],             # the tiles' channels, left to right
                 "image_shape": [H, W, C],                   # of one tile (C = 1 or 3)
                 "span": [offset, length],                   # the PNG strip in the file
                 "objective": [float]}],                     # each channel's mean activation on its image
     "cost": {"share": float,          # feature-viz time / measured training time so far
              "spent_seconds": float, "train_seconds": float, "max_share": float | null}}  # null: no limit
"""

from cnn_tb.contract.fields import (
    as_dict,
    as_int,
    as_str,
    build,
    dims,
    int_list,
    opt_float,
    pack_path,
    parse,
    span,
)
from cnn_tb.contract.tags import FORMAT_VERSION, FormatError


FEATURE_VIZ_LAYER_FIELDS = (
    ("name", as_str),
    ("channels", int_list),
    ("image_shape", dims),
    ("span", span),
    ("objective", lambda x: [opt_float(v) for v in x] if isinstance(x, list) else []),
)

FEATURE_VIZ_COST_FIELDS = (
    ("share", opt_float),
    ("spent_seconds", opt_float),
    ("train_seconds", opt_float),
    ("max_share", opt_float),
)

FEATURE_VIZ_FIELDS = (
    ("version", lambda x: as_int(x, 2)),
    ("file", pack_path),
    ("steps", as_int),
    ("seed", as_int),
    ("seconds", opt_float),
    ("layers", None),  # parsed by parse_feature_viz_record (entries checked one by one)
    ("cost", lambda x: parse(FEATURE_VIZ_COST_FIELDS, as_dict(x))),
)


def feature_viz_layer(**fields):
    """One entry of the feature visualization record's ``layers`` list."""
    return build(FEATURE_VIZ_LAYER_FIELDS, fields, "feature visualization layer")


def feature_viz_cost(**fields):
    """The feature visualization record's ``cost`` object."""
    return build(FEATURE_VIZ_COST_FIELDS, fields, "feature visualization cost")


def build_feature_viz_record(**fields):
    """The feature visualization record (exactly ``FEATURE_VIZ_FIELDS`` but ``version``)."""
    return build(FEATURE_VIZ_FIELDS, dict(fields, version=FORMAT_VERSION), "feature visualization record")


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
    out = parse([f for f in FEATURE_VIZ_FIELDS if f[1] is not None], obj)
    if out["file"] is None:
        raise FormatError(f"feature visualization record of step {step} has no usable file path")
    layers, seen = [], set()
    for raw in obj.get("layers") if isinstance(obj.get("layers"), list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        entry = parse(FEATURE_VIZ_LAYER_FIELDS, raw)
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
