"""Pool run record (``cnn_tb/pool_run``), at the first pool step of each
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
"""

from cnn_tb.contract.fields import (
    as_dict,
    as_int,
    as_str,
    build,
    dims,
    flag,
    ints,
    name_list,
    opt_float,
    opt_int,
    pack_path,
    pair,
    parse,
    span,
)
from cnn_tb.contract.tags import FORMAT_VERSION, FormatError


FIELD_FIELDS = (("size", pair), ("jump", pair), ("top", pair), ("exact", flag))
EXAMPLE_LAYER_FIELDS = (
    ("channels", ints),
    ("top_k", lambda x: max(0, as_int(x))),
    ("field", lambda x: parse(FIELD_FIELDS, as_dict(x))),
)
SPRITE_FIELDS = (
    ("file", pack_path),
    ("length", lambda x: max(0, as_int(x))),
    ("columns", lambda x: max(1, as_int(x, 1))),
    ("thumb", dims),
)
POOL_RUN_FIELDS = (
    ("version", lambda x: as_int(x, 2)),
    ("count", lambda x: max(0, as_int(x))),
    ("labels", lambda x: [opt_int(v) for v in x] if isinstance(x, list) else []),
    ("class_names", lambda x: [as_str(v) for v in x] if isinstance(x, list) else None),
    ("num_classes", lambda x: max(0, as_int(x))),
    ("image_shape", dims),
    ("sprite", lambda x: parse(SPRITE_FIELDS, as_dict(x))),
    ("layers", name_list),
    ("examples", lambda x: {as_str(k): parse(EXAMPLE_LAYER_FIELDS, as_dict(v)) for k, v in as_dict(x).items()}),
    ("embedding_layers", name_list),
    ("every_n_epochs", lambda x: max(1, as_int(x, 1))),
)
PAIR_FIELDS = (("true", opt_int), ("pred", opt_int), ("count", lambda x: max(0, as_int(x))), ("examples", ints))
POOL_FIELDS = (
    ("version", lambda x: as_int(x, 2)),
    ("step", None),  # the event's step wins
    ("accuracy", opt_float),
    ("class_separation", lambda x: {as_str(k): opt_float(v) for k, v in as_dict(x).items()}),
    ("confusion", lambda x: [ints(row) for row in x if isinstance(row, list)] if isinstance(x, list) else None),
    ("confused_pairs", lambda x: [parse(PAIR_FIELDS, as_dict(p)) for p in x] if isinstance(x, list) else []),
    ("file", pack_path),
    ("span", span),
)
MAX_CONFUSION_CLASSES = 100  # larger confusion matrices are left out of the pool record


def build_pool_run_record(**fields):
    """The pool run record (exactly ``POOL_RUN_FIELDS`` but ``version``)."""
    return build(POOL_RUN_FIELDS, dict(fields, version=FORMAT_VERSION), "pool run record")


def parse_pool_run_record(obj, step):
    """The pool run record logged at ``step``, type-checked (``"step"`` added).

    Raises:
        FormatError: not an object, or no usable sprite path.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pool run record of step {step} is not a JSON object")
    out = parse(POOL_RUN_FIELDS, obj)
    if out["sprite"]["file"] is None:
        raise FormatError(f"pool run record of step {step} has no usable sprite path")
    return dict(out, step=int(step))


def build_pool_record(**fields):
    """The pool record (exactly ``POOL_FIELDS`` but ``version``)."""
    return build(POOL_FIELDS, dict(fields, version=FORMAT_VERSION), "pool record")


def parse_pool_record(obj, step):
    """The pool record logged at ``step``, type-checked.

    Raises:
        FormatError: ``obj`` is not a JSON object.
    """
    if not isinstance(obj, dict):
        raise FormatError(f"pool record of step {step} is not a JSON object")
    return dict(parse([f for f in POOL_FIELDS if f[1] is not None], obj), step=int(step))
