"""Geometry: tiling images into grids, integer zooms and resizing."""

import math

import numpy as np

from cnn_tb import _validate
from cnn_tb.render._arrays import finite_or_zero, float_array, uint8_array


def tile(images, cols=None, pad=1, pad_value=255):
    """Lays images out in a grid, row by row.

    The grid has ``cols`` columns (default ``ceil(sqrt(n))``, i.e. about square)
    and ``ceil(n / cols)`` rows. ``pad`` pixels of ``pad_value`` separate tiles
    and frame the grid; unused trailing cells are filled with ``pad_value``.
    The result is ``[rows * (h + pad) + pad, cols * (w + pad) + pad, ...]``.

    Args:
        images: uint8 array [n, h, w] (grey) or [n, h, w, C] (e.g. C == 3).
        cols: Number of grid columns, >= 1, or None for about square.
        pad: Separator width in pixels, >= 0.
        pad_value: Separator grey level, 0..255.

    Returns:
        uint8 image [H, W] or [H, W, C].
    """
    arr = uint8_array(images, "images", (3, 4))
    n, h, w = arr.shape[:3]
    extra = arr.shape[3:]
    cols = math.ceil(math.sqrt(n)) if cols is None else _validate.integer("cols", cols, minimum=1)
    pad = _validate.integer("pad", pad, minimum=0)
    pad_value = _validate.integer("pad_value", pad_value, minimum=0, maximum=255)
    rows = math.ceil(n / cols)
    cells = np.full((rows * cols, h + pad, w + pad) + extra, pad_value, np.uint8)
    cells[:n, :h, :w] = arr
    body = (
        cells.reshape((rows, cols, h + pad, w + pad) + extra)
        .swapaxes(1, 2)
        .reshape((rows * (h + pad), cols * (w + pad)) + extra)
    )
    out = np.full((pad + body.shape[0], pad + body.shape[1]) + extra, pad_value, np.uint8)
    out[pad:, pad:] = body
    return out


def upscale_nearest(img, factor):
    """Enlarges an image [h, w] or [h, w, C] by an integer ``factor`` >= 1, repeating pixels."""
    arr = np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"`img` must have shape [h, w] or [h, w, C]. Received: shape {arr.shape}")
    return repeat_axes(arr, _validate.integer("factor", factor, minimum=1), 0)


def repeat_axes(arr, factor, first_axis):
    """Repeats ``arr`` ``factor`` times along ``first_axis`` and the next axis."""
    if factor == 1:
        return arr
    return np.repeat(np.repeat(arr, factor, axis=first_axis), factor, axis=first_axis + 1)


def auto_scale(h, w, min_size=16, max_factor=8):
    """Integer zoom that makes the smaller side at least ``min_size`` pixels.

    Returns:
        ``min(max(1, ceil(min_size / min(h, w))), max_factor)``.
    """
    h = _validate.integer("h", h, minimum=1)
    w = _validate.integer("w", w, minimum=1)
    min_size = _validate.integer("min_size", min_size, minimum=1)
    max_factor = _validate.integer("max_factor", max_factor, minimum=1)
    return min(max(1, -(-min_size // min(h, w))), max_factor)


def nearest_resize(img, out_h, out_w):
    """Nearest-neighbour resize of the first two axes: output pixel ``i`` takes
    input pixel ``floor((i + 0.5) * h / out_h)``."""
    h, w = img.shape[:2]
    rows = np.minimum(((np.arange(out_h) + 0.5) * (h / out_h)).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * (w / out_w)).astype(np.intp), w - 1)
    return img[rows[:, None], cols[None, :]]


def _fit_shape(arr, shape):
    """Crops, or pads with edge values, a 2-D array to exactly ``shape``."""
    arr = arr[: shape[0], : shape[1]]
    missing = (shape[0] - arr.shape[0], shape[1] - arr.shape[1])
    if missing != (0, 0):
        arr = np.pad(arr, ((0, missing[0]), (0, missing[1])), mode="edge")
    return arr


def upsample(heat, shape):
    """Bilinearly resizes a 2-D map to exactly ``shape``.

    Uses ``scipy.ndimage.zoom(order=1)``, whose grid keeps the corner values;
    a result one pixel off (zoom rounds its output size) is cropped or padded
    with edge values. Non-finite values are replaced by 0 first.

    Args:
        heat: Real 2-D array-like [h, w].
        shape: Output (H, W), positive ints.

    Returns:
        float32 array [H, W].
    """
    arr = finite_or_zero(float_array(heat, "heat", ndim=2))
    if arr.size == 0:
        raise ValueError(f"`heat` must not be empty. Received: shape {arr.shape}")
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"`shape` must be a (height, width) pair. Received: shape={shape!r}")
    out_shape = (
        _validate.integer("shape[0]", shape[0], minimum=1),
        _validate.integer("shape[1]", shape[1], minimum=1),
    )
    arr = arr.astype(np.float32, copy=False)
    if arr.shape == out_shape:
        return arr.copy()
    from scipy import ndimage  # Lazy: scipy.ndimage is slow to import.

    factors = (out_shape[0] / arr.shape[0], out_shape[1] / arr.shape[1])
    return _fit_shape(ndimage.zoom(arr, factors, order=1, mode="nearest"), out_shape)
