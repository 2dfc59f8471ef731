"""Colour: colormap look-up tables, normalisation to [0, 1], palettes."""

import functools

import numpy as np

from cnn_tb.render._arrays import finite_or_zero, float_array, real_array

NORMALIZE_MODES = ("per_map", "per_channel", "global")
WHITE = 255


@functools.lru_cache(maxsize=None)
def _build_lut(name):
    import matplotlib  # Lazy: only needed the first time a colormap is used.

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}") from None
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    lut = np.rint(rgba[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colormap_lut(name="viridis"):
    """The 256-entry RGB look-up table of a matplotlib colormap (cached, read-only).

    Args:
        name: A matplotlib colormap name such as "viridis", "jet" or "RdBu_r".

    Returns:
        uint8 array [256, 3]; entry ``i`` is the colour of the value ``i / 255``.

    Raises:
        ValueError: If ``name`` is not a string or not a known colormap.
    """
    if not isinstance(name, str):
        raise ValueError(f"colormap name must be a str. Received: {name!r}")
    return _build_lut(name)


def palette(cmap):
    """A 256-entry PNG palette: the colormap at 255 levels, then white (index 255)."""
    lut = colormap_lut(cmap)
    pal = np.empty((256, 3), np.uint8)
    pal[:255] = lut[np.rint(np.arange(255) * (255.0 / 254.0)).astype(np.intp)]
    pal[255] = WHITE
    return pal


def _reduction_axes(mode, ndim):
    if mode == "global":
        return None
    if mode == "per_map":
        if ndim < 2:
            raise ValueError(f"mode 'per_map' needs x of shape [..., h, w]. Received: {ndim} dimension(s)")
        return (-2, -1)
    if ndim < 3:
        raise ValueError(f"mode 'per_channel' needs x of shape [..., h, w, c]. Received: {ndim} dimension(s)")
    return (-3, -2)


def _bound(value, name, shape, dtype):
    arr = real_array(value, name).astype(dtype, copy=False)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"`{name}` of shape {arr.shape} does not broadcast to x of shape {shape}")
    return arr


def normalize(x, mode="per_map", lo=None, hi=None):
    """Linearly maps ``x`` to [0, 1]: ``(x - lo) / (hi - lo)``, clipped.

    Missing bounds are the min / max of the finite values over the axes chosen
    by ``mode``:

    * ``"per_map"``: ``x`` is ``[..., h, w]``; every 2-D map on its own.
    * ``"per_channel"``: ``x`` is ``[..., h, w, c]`` (channels last, as Keras
      activations); every channel on its own, over its two spatial axes.
    * ``"global"``: one min / max for the whole array.

    Explicit ``lo`` / ``hi`` (scalars or arrays broadcastable to ``x``) are used
    as given; then ``mode`` only matters for a bound left as None.

    Where ``hi - lo`` is not positive and finite (a constant map, or a map with
    no finite value) the result is 0.0. Non-finite entries of ``x`` give 0.0 and
    are ignored when computing min / max. No numpy warnings are emitted.

    Returns:
        float32 array of ``x``'s shape with values in [0, 1].

    Raises:
        ValueError: For a non-numeric or empty ``x``, an unknown ``mode``, too
            few dimensions for ``mode``, or bounds that do not broadcast.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"`mode` must be one of {NORMALIZE_MODES}. Received: mode={mode!r}")
    arr = float_array(x, "x")
    if arr.size == 0:
        raise ValueError(f"`x` must not be empty. Received: shape {arr.shape}")
    finite = np.isfinite(arr)
    all_finite = bool(finite.all())
    if lo is None or hi is None:
        axes = _reduction_axes(mode, arr.ndim)
    if lo is None:
        source = arr if all_finite else np.where(finite, arr, np.inf)
        lo_arr = source.min(axis=axes, keepdims=True)
    else:
        lo_arr = _bound(lo, "lo", arr.shape, arr.dtype)
    if hi is None:
        source = arr if all_finite else np.where(finite, arr, -np.inf)
        hi_arr = source.max(axis=axes, keepdims=True)
    else:
        hi_arr = _bound(hi, "hi", arr.shape, arr.dtype)
    with np.errstate(all="ignore"):
        span = hi_arr - lo_arr
        good_span = np.isfinite(span) & (span > 0)
        out = (arr - lo_arr) / np.where(good_span, span, 1)
    keep = good_span if all_finite else good_span & finite
    if not keep.all():
        out = np.where(keep, out, 0)
    np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def lut_indices(x01):
    """Values in [0, 1] (clipped; non-finite -> 0) as LUT indices ``round(x * 255)``, uint8."""
    arr = finite_or_zero(float_array(x01, "x01"))
    return np.rint(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)


def apply_colormap(x01, cmap="viridis"):
    """Colours values in [0, 1] with a colormap LUT.

    Args:
        x01: Real array-like of any shape, values in [0, 1] (clipped;
            non-finite values get the colour of 0).
        cmap: matplotlib colormap name.

    Returns:
        uint8 array ``x01.shape + (3,)`` with ``LUT[round(x * 255)]``.
    """
    return np.take(colormap_lut(cmap), lut_indices(x01), axis=0)
