"""The field cleaners every record of the file format is built from.

A record is a table of ``(field, cleaner)`` pairs; ``build`` makes a record
with exactly the table's fields and ``parse`` runs every cleaner over a JSON
object read back, so a hand-edited, truncated or hostile record can never
reach the browser as anything but the documented types. Each cleaner turns
whatever JSON value a field holds into its documented type.
"""

import math

MAX_NAME = 4096

def opt_float(x, _float=float, _finite=math.isfinite):
    """A finite float rounded to 7 significant digits (float32 precision), or None."""
    if type(x) is _float:  # the common case first: records hold thousands of them
        return _float(f"{x:.7g}") if _finite(x) else None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return float(f"{x:.7g}") if math.isfinite(x) else None


def opt_exact_float(x):
    """A finite float as it is (times, where 7 digits are not enough), or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def flag(x):
    """A JSON boolean (numbers count as their truth value; strings and the rest are False)."""
    return bool(x) if isinstance(x, (bool, int, float)) else False


def as_int(x, default=0):
    if isinstance(x, (bool, int)):
        return int(x)
    if isinstance(x, float) and math.isfinite(x):
        return int(x)
    return default


def opt_int(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return int(x)


def as_str(x, default=""):
    if x is None:
        return default
    return (x if isinstance(x, str) else str(x))[:MAX_NAME]


def opt_str(x):
    return None if x is None else as_str(x)


def dims(x):
    return [opt_int(d) for d in x][:16] if isinstance(x, (list, tuple)) else None


def name_list(x):
    return [as_str(i) for i in x if isinstance(i, str)] if isinstance(x, list) else []


def as_dict(x):
    return x if isinstance(x, dict) else {}


def clean_json(x, depth=0):
    """A JSON-safe copy of ``x`` (finite floats, string keys, bounded depth)."""
    if depth > 8:
        return None
    if isinstance(x, dict):
        return {as_str(k): clean_json(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v, depth + 1) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return as_str(x)


def build(fields, values, what):
    """A record with exactly the keys of ``fields`` from ``values``."""
    unknown = set(values) - {k for k, _ in fields}
    missing = [k for k, _ in fields if k not in values]
    if unknown or missing:
        raise TypeError(f"{what}: unknown fields {sorted(unknown)}, missing fields {missing}")
    return {k: values[k] for k, _ in fields}


def parse(fields, obj):
    return {k: clean(obj.get(k)) for k, clean in fields}


def span(x):
    """``[offset, length]`` of non-negative ints, or None."""
    if isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in x):
        return list(x)
    return None


def pack_path(x):
    """A relative path inside the run directory (``/``-separated, no ``..``), or None."""
    if not isinstance(x, str) or not x or len(x) > MAX_NAME or any(c in x for c in "\\:\x00") or x.startswith("/"):
        return None
    parts = x.split("/")
    return x if all(p not in ("", ".", "..") for p in parts) else None


def int_list(x):
    return [v for v in (opt_int(i) for i in x) if v is not None] if isinstance(x, list) else []


def pair(x):
    return [opt_float(v) for v in x] if isinstance(x, list) and len(x) == 2 else None


def ints(x, minimum=0):
    return [max(minimum, as_int(v)) for v in x if isinstance(v, (int, float)) and not isinstance(v, bool)] if isinstance(x, list) else []
