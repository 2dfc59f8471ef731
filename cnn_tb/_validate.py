"""Argument checks with one message style: what was expected and what was received.

Every message names the argument and echoes the value, as Keras does:
``"`every_n_epochs` must be an int >= 1. Received: every_n_epochs=0"``.
"""

import numbers

import numpy as np


def _fail(name, expected, value, exc=ValueError):
    raise exc(f"`{name}` must be {expected}. Received: {name}={value!r}")


def integer(name, value, minimum=None, maximum=None, allow_none=False):
    """``value`` as an int within ``[minimum, maximum]`` (``None`` passes when allowed)."""
    if value is None and allow_none:
        return None
    bounds = ""
    if minimum is not None:
        bounds += f" >= {minimum}"
    if maximum is not None:
        bounds += f"{' and' if minimum is not None else ''} <= {maximum}"
    expected = f"an int{bounds}" + (" or None" if allow_none else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        _fail(name, expected, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(name, expected, value)
    return int(value)


def positive_int(name, value, allow_none=False):
    """``value`` as an int >= 1."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        _fail(name, "a positive int" + (" or None" if allow_none else ""), value)
    return int(value)


def boolean(name, value):
    """``value`` as a bool (Python or numpy bool only)."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, "True or False", value)
    return bool(value)


def number(name, value, minimum=None, maximum=None):
    """``value`` as a finite float within ``[minimum, maximum]``."""
    expected = "a number" + (f" in [{minimum}, {maximum}]" if minimum is not None and maximum is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        _fail(name, expected, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(name, expected, value)
    return float(value)


def one_of(name, value, choices):
    """``value`` when it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        _fail(name, f"one of {tuple(choices)}", value)
    return value


def colormap(name, value):
    """``value`` when it names a matplotlib colormap."""
    from cnn_tb.render import colors

    if not isinstance(value, str):
        _fail(name, "a matplotlib colormap name", value)
    try:
        colors.colormap_lut(value)
    except ValueError:
        raise ValueError(f"`{name}` is not a known matplotlib colormap. Received: {name}={value!r}") from None
    return value
