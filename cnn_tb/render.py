"""Fast numpy rendering of activations, kernels and heatmaps into uint8 images.

Everything here runs for every logged layer and probe at every epoch, so it is
plain vectorised numpy. matplotlib is imported only to build colour look-up
tables (LUTs), once per colormap name; no figure is ever drawn. scipy and
Pillow are imported lazily by the two functions that need them. No TensorFlow.

Conventions:
    * Float data passed to a colormap lives in [0, 1]; it becomes the LUT index
      ``round(x * 255)``. Values outside [0, 1] are clipped, non-finite values
      (NaN, +-inf) map to index 0.
    * Images are uint8, ``[H, W]`` (grey), ``[H, W, 1]``, ``[H, W, 3]`` (RGB)
      or ``[H, W, 4]`` (RGBA).
    * Grids are separated, and framed, by ``pad`` pixels of ``pad_value``
      (white, 255, by default).
    * Kernels use the canonical layout ``[kh, kw, c_in, c_out]``; a 1-D kernel
      is given as ``[1, k, c_in, c_out]``.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

NORMALIZE_MODES = ("per_map", "per_channel", "global")

_WHITE = 255
# Separator grey of diverging kernel grids: their zero colour is near-white, so
# white lines between tiles would vanish.
_KERNEL_GRID_PAD = 128


# ---------------------------------------------------------------------------
# Input checking
# ---------------------------------------------------------------------------


def _check_int(value, name: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """Checks that ``value`` is an int (not a bool) within optional bounds.

    Args:
        value: The value to check.
        name: Argument name used in the error message.
        minimum: Smallest allowed value, or None.
        maximum: Largest allowed value, or None.

    Returns:
        ``value`` as a Python int.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def _check_bool(value, name: str) -> bool:
    """Checks that ``value`` is a bool (Python or numpy).

    Args:
        value: The value to check.
        name: Argument name used in the error message.

    Returns:
        ``value`` as a Python bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    return bool(value)


def _as_real_array(x, name: str) -> np.ndarray:
    """Converts ``x`` to an ndarray and checks it holds real numbers.

    Args:
        x: Array-like input.
        name: Argument name used in the error message.

    Returns:
        ``x`` as an ndarray of an integer or floating dtype (not bool).
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise ValueError(
            f"{name} must be a real numeric array, got dtype {arr.dtype} "
            f"(type {type(x).__name__})"
        )
    return arr


def _as_float(x, name: str, ndim: Optional[int] = None) -> np.ndarray:
    """Converts ``x`` to a float array (float32 stays float32, others float64).

    Args:
        x: Array-like of real numbers.
        name: Argument name used in error messages.
        ndim: Required number of dimensions, or None for any.

    Returns:
        A float32 or float64 ndarray (no copy when already float32/float64).
    """
    arr = _as_real_array(x, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return arr
    return arr.astype(np.float64)


def _as_uint8(x, name: str, ndims: Tuple[int, ...]) -> np.ndarray:
    """Checks that ``x`` is a uint8 ndarray with one of the allowed ranks.

    Args:
        x: The array to check.
        name: Argument name used in error messages.
        ndims: Allowed numbers of dimensions.

    Returns:
        ``x`` as an ndarray (not copied).
    """
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 array, got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def _finite_or_zero(x: np.ndarray) -> np.ndarray:
    """Replaces NaN and +-inf by 0 (returns ``x`` itself when all finite).

    Args:
        x: Float array.

    Returns:
        A float array with only finite values.
    """
    finite = np.isfinite(x)
    if finite.all():
        return x
    return np.where(finite, x, 0).astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------
# Colour
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _build_lut(name: str) -> np.ndarray:
    """Samples a matplotlib colormap at 256 points (cached per name).

    Args:
        name: A registered matplotlib colormap name.

    Returns:
        A read-only uint8 array [256, 3].
    """
    import matplotlib  # Lazy: only needed the first time a colormap is used.

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}") from None
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    lut = np.rint(rgba[:, :3] * 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colormap_lut(name: str = "viridis") -> np.ndarray:
    """Returns the 256-entry RGB look-up table of a matplotlib colormap.

    The table is built once per name and cached; it is read-only.

    Args:
        name: A matplotlib colormap name such as "viridis", "jet" or "RdBu_r".

    Returns:
        uint8 array [256, 3]; entry ``i`` is the colour of the value ``i / 255``.

    Raises:
        ValueError: If ``name`` is not a string or not a known colormap.
    """
    if not isinstance(name, str):
        raise ValueError(f"colormap name must be a str, got {name!r} ({type(name).__name__})")
    return _build_lut(name)


def _reduction_axes(mode: str, ndim: int) -> Optional[Tuple[int, ...]]:
    """Returns the axes ``normalize`` reduces over for ``mode``.

    Args:
        mode: One of ``NORMALIZE_MODES``.
        ndim: Number of dimensions of the data.

    Returns:
        A tuple of axes, or None for all axes.
    """
    if mode == "global":
        return None
    if mode == "per_map":
        if ndim < 2:
            raise ValueError(f"mode 'per_map' needs x of shape [..., h, w], got {ndim} dimension(s)")
        return (-2, -1)
    if ndim < 3:
        raise ValueError(f"mode 'per_channel' needs x of shape [..., h, w, c], got {ndim} dimension(s)")
    return (-3, -2)


def _bound(value, name: str, shape: Tuple[int, ...], dtype) -> np.ndarray:
    """Checks an explicit normalisation bound and converts it to ``dtype``.

    Args:
        value: Scalar or array broadcastable to ``shape``.
        name: "lo" or "hi", for error messages.
        shape: Shape of the data being normalised.
        dtype: Working float dtype.

    Returns:
        The bound as an ndarray of ``dtype``.
    """
    arr = _as_real_array(value, name).astype(dtype, copy=False)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {arr.shape} does not broadcast to x of shape {shape}")
    return arr


def normalize(x, mode: str = "per_map", lo=None, hi=None) -> np.ndarray:
    """Linearly maps ``x`` to [0, 1]: ``(x - lo) / (hi - lo)``, clipped.

    Missing bounds are the min / max of the finite values over the axes chosen
    by ``mode``:

    * ``"per_map"``: ``x`` is ``[..., h, w]``; every 2-D map on its own.
    * ``"per_channel"``: ``x`` is ``[..., h, w, c]`` (channels last, as Keras
      activations); every channel on its own, over its two spatial axes.
    * ``"global"``: one min / max for the whole array.

    Explicit ``lo`` / ``hi`` (scalars or arrays broadcastable to ``x``) are used
    as given, e.g. ``normalize(x, lo=0.0, hi=1.0)``; then ``mode`` only matters
    for a bound left as None.

    Where ``hi - lo`` is not positive and finite (a constant map, or a map with
    no finite value) the result is 0.0. Non-finite entries of ``x`` give 0.0 and
    are ignored when computing min / max. No numpy warnings are emitted.

    Args:
        x: Real array-like.
        mode: "per_map", "per_channel" or "global".
        lo: Optional lower bound (maps to 0).
        hi: Optional upper bound (maps to 1).

    Returns:
        float32 array of ``x``'s shape with values in [0, 1].

    Raises:
        ValueError: For a non-numeric or empty ``x``, an unknown ``mode``, too
            few dimensions for ``mode``, or bounds that do not broadcast.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    arr = _as_float(x, "x")
    if arr.size == 0:
        raise ValueError(f"x must not be empty, got shape {arr.shape}")
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


def _lut_indices(x01) -> np.ndarray:
    """Turns values in [0, 1] into LUT indices ``round(x * 255)``.

    Args:
        x01: Real array-like; clipped to [0, 1], non-finite values -> 0.

    Returns:
        uint8 array of the same shape.
    """
    arr = _finite_or_zero(_as_float(x01, "x01"))
    return np.rint(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)


def apply_colormap(x01, cmap: str = "viridis") -> np.ndarray:
    """Colours values in [0, 1] with a colormap LUT.

    Args:
        x01: Real array-like of any shape, values in [0, 1] (clipped;
            non-finite values get the colour of 0).
        cmap: matplotlib colormap name.

    Returns:
        uint8 array ``x01.shape + (3,)`` with ``LUT[round(x * 255)]``.

    Raises:
        ValueError: For non-numeric input or an unknown colormap.
    """
    lut = colormap_lut(cmap)
    return np.take(lut, _lut_indices(x01), axis=0)


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------


def tile(images, cols: Optional[int] = None, pad: int = 1, pad_value: int = 255) -> np.ndarray:
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

    Raises:
        ValueError: For non-uint8 or wrongly shaped images or bad arguments.
    """
    arr = _as_uint8(images, "images", (3, 4))
    n, h, w = arr.shape[:3]
    extra = arr.shape[3:]
    cols = math.ceil(math.sqrt(n)) if cols is None else _check_int(cols, "cols", 1)
    pad = _check_int(pad, "pad", 0)
    pad_value = _check_int(pad_value, "pad_value", 0, 255)
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


def upscale_nearest(img, factor: int) -> np.ndarray:
    """Enlarges an image by an integer factor, repeating pixels.

    Args:
        img: Array [h, w] or [h, w, C].
        factor: Integer factor >= 1.

    Returns:
        Array [h * factor, w * factor(, C)] of ``img``'s dtype.

    Raises:
        ValueError: For a wrongly shaped image or a bad factor.
    """
    arr = np.asarray(img)
    if arr.ndim not in (2, 3):
        raise ValueError(f"img must have shape [h, w] or [h, w, C], got {arr.shape}")
    factor = _check_int(factor, "factor", 1)
    return _repeat_axes(arr, factor, 0)


def _repeat_axes(arr: np.ndarray, factor: int, first_axis: int) -> np.ndarray:
    """Repeats ``arr`` ``factor`` times along ``first_axis`` and the next axis.

    Args:
        arr: Array to enlarge.
        factor: Integer factor >= 1.
        first_axis: Index of the row axis (the column axis follows it).

    Returns:
        The enlarged array (``arr`` itself when factor == 1).
    """
    if factor == 1:
        return arr
    return np.repeat(np.repeat(arr, factor, axis=first_axis), factor, axis=first_axis + 1)


def auto_scale(h: int, w: int, min_size: int = 16, max_factor: int = 8) -> int:
    """Integer zoom that makes the smaller side at least ``min_size`` pixels.

    Args:
        h: Image height, >= 1.
        w: Image width, >= 1.
        min_size: Wanted minimum side after zooming, >= 1.
        max_factor: Largest factor returned, >= 1.

    Returns:
        ``min(max(1, ceil(min_size / min(h, w))), max_factor)``.

    Raises:
        ValueError: For non-int or non-positive arguments.
    """
    h = _check_int(h, "h", 1)
    w = _check_int(w, "w", 1)
    min_size = _check_int(min_size, "min_size", 1)
    max_factor = _check_int(max_factor, "max_factor", 1)
    return min(max(1, -(-min_size // min(h, w))), max_factor)


def _nearest_resize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes (pixel-centre mapping).

    Args:
        img: Array [h, w, ...].
        out_h: Output height.
        out_w: Output width.

    Returns:
        Array [out_h, out_w, ...]; output pixel ``i`` takes input pixel
        ``floor((i + 0.5) * h / out_h)``.
    """
    h, w = img.shape[:2]
    rows = np.minimum(((np.arange(out_h) + 0.5) * (h / out_h)).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * (w / out_w)).astype(np.intp), w - 1)
    return img[rows[:, None], cols[None, :]]


def _fit_shape(arr: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Crops, or pads with edge values, a 2-D array to exactly ``shape``.

    Args:
        arr: 2-D array.
        shape: Wanted (rows, cols).

    Returns:
        2-D array of exactly ``shape``.
    """
    arr = arr[: shape[0], : shape[1]]
    missing = (shape[0] - arr.shape[0], shape[1] - arr.shape[1])
    if missing != (0, 0):
        arr = np.pad(arr, ((0, missing[0]), (0, missing[1])), mode="edge")
    return arr


def upsample(heat, shape: Sequence[int]) -> np.ndarray:
    """Bilinearly resizes a 2-D map to exactly ``shape``.

    Uses ``scipy.ndimage.zoom(order=1)``, whose grid keeps the corner values;
    a result one pixel off (zoom rounds its output size) is cropped or padded
    with edge values. Non-finite values are replaced by 0 first.

    Args:
        heat: Real 2-D array-like [h, w].
        shape: Output (H, W), positive ints.

    Returns:
        float32 array [H, W].

    Raises:
        ValueError: For a non-2-D or empty map or a bad shape.
    """
    arr = _finite_or_zero(_as_float(heat, "heat", ndim=2))
    if arr.size == 0:
        raise ValueError(f"heat must not be empty, got shape {arr.shape}")
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape must be a (height, width) pair, got {shape!r}")
    out_shape = (_check_int(shape[0], "shape[0]", 1), _check_int(shape[1], "shape[1]", 1))
    arr = arr.astype(np.float32, copy=False)
    if arr.shape == out_shape:
        return arr.copy()
    from scipy import ndimage  # Lazy: scipy.ndimage is slow to import.

    factors = (out_shape[0] / arr.shape[0], out_shape[1] / arr.shape[1])
    zoomed = ndimage.zoom(arr, factors, order=1, mode="nearest")
    return _fit_shape(zoomed, out_shape)


# ---------------------------------------------------------------------------
# Composite renderings
# ---------------------------------------------------------------------------


def _channel_maps(act, max_channels) -> np.ndarray:
    """The first ``max_channels`` channels of ``act`` [h, w, c] as maps [c, h, w]."""
    arr = _as_float(act, "act", ndim=3)
    c = arr.shape[2]
    if arr.size == 0:
        raise ValueError(f"act must have non-zero sizes, got shape {arr.shape}")
    if max_channels is not None:
        c = min(c, _check_int(max_channels, "max_channels", 1))
    return np.moveaxis(arr[:, :, :c], -1, 0)


def feature_map_grid(
    act,
    max_channels: Optional[int] = None,
    cmap: str = "viridis",
    min_tile: int = 16,
    cols: Optional[int] = None,
) -> np.ndarray:
    """Renders the channels of one activation as a grid of coloured tiles.

    Each channel is min-max normalised on its own (a constant channel shows
    the colormap's 0 colour), colour-mapped, enlarged by
    ``auto_scale(h, w, min_tile)`` and tiled with 1-pixel white separators.

    Args:
        act: Real array [h, w, c] (channels last). A 1-D activation [steps, c]
            should be passed as [1, steps, c].
        max_channels: Show only the first ``max_channels`` channels (None: all).
        cmap: matplotlib colormap name.
        min_tile: Wanted minimum tile side in pixels.
        cols: Grid columns, or None for about square.

    Returns:
        uint8 image [H, W, 3].

    Raises:
        ValueError: For a wrongly shaped or non-numeric ``act`` or bad arguments.
    """
    maps = _channel_maps(act, max_channels)
    h, w = maps.shape[1:]
    colours = apply_colormap(normalize(maps, mode="per_map"), cmap)
    factor = auto_scale(h, w, min_tile)
    return tile(_repeat_axes(colours, factor, 1), cols=cols, pad=1, pad_value=_WHITE)


def channel_mean_strip(
    maps: Iterable, height: int = 64, pad: int = 2, cmap: str = "viridis", image=None
) -> np.ndarray:
    """Puts one small map per layer side by side, all ``height`` pixels tall.

    Each map is min-max normalised on its own, nearest-neighbour resized to
    ``height`` rows and ``max(1, round(w * height / h))`` columns (aspect
    ratio kept), colour-mapped, and placed left to right with ``pad`` white
    pixels between maps and around the strip.

    Args:
        maps: Non-empty sequence of real 2-D arrays (any sizes), e.g. the
            channel-mean activation of each layer.
        height: Height of every map in the strip, >= 1.
        pad: White separator width, >= 0.
        cmap: matplotlib colormap name.
        image: optional uint8 image [h, w, 1 or 3] (the probe) shown first,
            nearest-resized to ``height`` like the maps.

    Returns:
        uint8 image [height + 2 * pad, sum(widths) + (panels + 1) * pad, 3].

    Raises:
        ValueError: For an empty sequence, a map that is not 2-D and non-empty,
            or bad arguments.
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 2:
        raise ValueError(f"maps must be a sequence of 2-D arrays, got one array of shape {maps.shape}")
    maps = list(maps)
    if not maps:
        raise ValueError("maps must hold at least one 2-D array, got an empty sequence")
    height = _check_int(height, "height", 1)
    pad = _check_int(pad, "pad", 0)
    lut = colormap_lut(cmap)
    panels = [np.take(lut, _strip_panel(m, i, height), axis=0) for i, m in enumerate(maps)]
    if image is not None:
        img = _as_rgb_image(image)
        new_w = max(1, round(img.shape[1] * height / img.shape[0]))
        panels.insert(0, _nearest_resize(img, height, new_w))
    width = sum(p.shape[1] for p in panels) + (len(panels) + 1) * pad
    out = np.full((height + 2 * pad, width, 3), _WHITE, np.uint8)
    x = pad
    for panel in panels:
        out[pad : pad + height, x : x + panel.shape[1]] = panel
        x += panel.shape[1] + pad
    return out


def _strip_panel(m, index: int, height: int) -> np.ndarray:
    """Normalises and resizes one map of ``channel_mean_strip`` to LUT indices.

    Args:
        m: Real 2-D array-like.
        index: Position of the map in the input list, for error messages.
        height: Output height.

    Returns:
        uint8 LUT indices [height, new_w].
    """
    arr = _as_float(m, f"maps[{index}]")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"maps[{index}] must be a non-empty 2-D array, got shape {arr.shape}")
    h, w = arr.shape
    new_w = max(1, round(w * height / h))
    return _nearest_resize(_lut_indices(normalize(arr, mode="global")), height, new_w)


def kernel_grid(
    kernel,
    rgb: bool = False,
    max_out: int = 32,
    max_in: int = 16,
    cmap: str = "RdBu_r",
    min_tile: int = 12,
) -> np.ndarray:
    """Renders convolution weights as a grid of tiles.

    Non-finite weights are treated as 0. Tiles are enlarged by
    ``auto_scale(kh, kw, min_tile)`` and separated by 1-pixel lines: white for
    ``rgb=True``, mid-grey (128) otherwise, because a diverging colormap's
    zero colour is near-white and white lines would not show.

    * ``rgb=True`` (first layer on an RGB input, ``c_in == 3``): one RGB tile
      per output filter (first ``max_out``), in an about-square grid. Each
      filter is scaled symmetrically around 0 on its own:
      ``pixel = round(255 * (0.5 + w / (2 * max|w| of that filter)))``, so a
      zero weight is mid-grey (128), the filter's largest |w| reaches 0 or
      255. An all-zero filter is uniform grey.
    * ``rgb=False``: one grid ROW per output filter (first ``max_out``) and
      one COLUMN per input channel (first ``max_in``); each tile is the
      ``kh x kw`` slice, coloured with the diverging ``cmap`` centred on zero
      using ONE scale for the whole layer: ``x01 = 0.5 + w / (2 * a)``,
      ``a = max|w|`` over the kept slices (``a == 0``: all 0.5). With
      "RdBu_r" negative weights are blue, positive red, and 0 is the LUT
      entry ``round(0.5 * 255) = 128`` (the colormap's middle).

    Args:
        kernel: Real array [kh, kw, c_in, c_out] (a 1-D kernel as
            [1, k, c_in, c_out]).
        rgb: Render each filter as one RGB tile (needs ``c_in == 3``).
        max_out: Maximum number of output filters shown.
        max_in: Maximum number of input channels shown (``rgb=False``).
        cmap: Diverging matplotlib colormap name (``rgb=False``).
        min_tile: Wanted minimum tile side in pixels.

    Returns:
        uint8 image [H, W, 3].

    Raises:
        ValueError: For a wrongly shaped kernel, ``rgb`` with ``c_in != 3``,
            or bad arguments.
    """
    arr = _as_float(kernel, "kernel", ndim=4)
    if arr.size == 0:
        raise ValueError(f"kernel must have non-zero sizes, got shape {arr.shape}")
    kh, kw, c_in, _ = arr.shape
    rgb = _check_bool(rgb, "rgb")
    max_out = _check_int(max_out, "max_out", 1)
    max_in = _check_int(max_in, "max_in", 1)
    factor = auto_scale(kh, kw, min_tile)
    arr = _finite_or_zero(arr)
    if rgb:
        if c_in != 3:
            raise ValueError(f"rgb=True needs a kernel with c_in == 3, got shape {arr.shape}")
        tiles = _rgb_filter_tiles(arr[..., :max_out])
        return tile(_repeat_axes(tiles, factor, 1), pad=1, pad_value=_WHITE)
    x01 = _kernel_tiles01(arr, max_in, max_out)
    tiles = apply_colormap(x01, cmap)
    return tile(_repeat_axes(tiles, factor, 1), cols=min(c_in, max_in), pad=1, pad_value=_KERNEL_GRID_PAD)


def _kernel_tiles01(arr: np.ndarray, max_in: int, max_out: int) -> np.ndarray:
    """Kernel slices [out * in, kh, kw] in [0, 1]: 0.5 + w / (2 max|w|), one scale per layer."""
    kh, kw = arr.shape[:2]
    kept = arr[:, :, :max_in, :max_out]
    a = float(np.abs(kept).max())
    x01 = 0.5 + kept / (2 * a) if a > 0 else np.full(kept.shape, 0.5, np.float32)
    return x01.transpose(3, 2, 0, 1).reshape(-1, kh, kw)


def kernel_grid_indexed(
    kernel, max_out: int = 32, max_in: int = 16, cmap: str = "RdBu_r", min_tile: int = 12
) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`kernel_grid` (non-RGB) as palette indices, for compact PNGs.

    Returns:
        ``(indices, palette)``: uint8 [H, W] and [256, 3]; indices 0..254 are
        the diverging colormap (127 = zero weight), 255 the grey separator.
    """
    arr = _finite_or_zero(_as_float(kernel, "kernel", ndim=4))
    if arr.size == 0:
        raise ValueError(f"kernel must have non-zero sizes, got shape {arr.shape}")
    kh, kw, c_in, _ = arr.shape
    max_out = _check_int(max_out, "max_out", 1)
    max_in = _check_int(max_in, "max_in", 1)
    idx = np.rint(_kernel_tiles01(arr, max_in, max_out) * 254.0).astype(np.uint8)
    pal = _palette_lut(cmap).copy()
    pal[255] = _KERNEL_GRID_PAD
    factor = auto_scale(kh, kw, min_tile)
    return tile(_repeat_axes(idx, factor, 1), cols=min(c_in, max_in), pad=1, pad_value=255), pal


def _rgb_filter_tiles(kernel: np.ndarray) -> np.ndarray:
    """Turns each filter of an RGB-input kernel into a uint8 RGB tile.

    Args:
        kernel: Finite float array [kh, kw, 3, n].

    Returns:
        uint8 array [n, kh, kw, 3] with ``round(255 * (0.5 + w / (2 a)))``,
        ``a`` the filter's max |w| (all-zero filters give 128).
    """
    filters = np.moveaxis(kernel, -1, 0)
    a = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    x01 = 0.5 + filters / (2 * np.where(a > 0, a, 1))
    return np.rint(np.clip(x01, 0.0, 1.0) * 255).astype(np.uint8)


def _as_rgb_image(image, name: str = "image") -> np.ndarray:
    """Checks a uint8 image and returns it as [H, W, 3].

    Args:
        image: uint8 [H, W], [H, W, 1] or [H, W, 3].
        name: Argument name used in error messages.

    Returns:
        uint8 array [H, W, 3] (grey repeated over the three channels).
    """
    arr = _as_uint8(image, name, (2, 3))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.shape[2] != 3:
        raise ValueError(f"{name} must have 1 or 3 channels, got shape {arr.shape}")
    return arr


def overlay(image, heat, alpha: float = 0.45, cmap: str = "jet", normalize_heat: bool = True) -> np.ndarray:
    """Blends a colour-mapped heatmap over an image.

    ``heat`` is min-max normalised to [0, 1] (if ``normalize_heat``; otherwise
    clipped to [0, 1]), bilinearly upsampled to the image size with
    :func:`upsample`, colour-mapped, and blended:
    ``out = round((1 - alpha) * image + alpha * colour)``.

    Args:
        image: uint8 [H, W, 3], or grey [H, W, 1] / [H, W] (made RGB).
        heat: Real 2-D array of any size.
        alpha: Weight of the heatmap colour, in [0, 1].
        cmap: matplotlib colormap name.
        normalize_heat: Min-max normalise ``heat`` first.

    Returns:
        uint8 image [H, W, 3].

    Raises:
        ValueError: For bad image, heat or alpha.
    """
    img = _as_rgb_image(image)
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    normalize_heat = _check_bool(normalize_heat, "normalize_heat")
    heat_arr = _as_float(heat, "heat", ndim=2)
    if normalize_heat:
        heat01 = normalize(heat_arr, mode="global")
    else:
        heat01 = np.clip(_finite_or_zero(heat_arr), 0.0, 1.0)
    colour = apply_colormap(upsample(heat01, img.shape[:2]), cmap)
    alpha = np.float32(alpha)
    blended = (1 - alpha) * img + alpha * colour
    return np.rint(blended, out=blended).astype(np.uint8)


def to_uint8_image(x) -> np.ndarray:
    """Converts a probe image to uint8 [H, W, C].

    Floats are taken to be in [0, 1]: clipped, times 255, rounded (non-finite
    values -> 0). Integer images are taken to be in 0..255 and clipped.

    Args:
        x: Real array [H, W], [H, W, 1] or [H, W, 3].

    Returns:
        uint8 array [H, W, 1] or [H, W, 3].

    Raises:
        ValueError: For non-numeric input or a wrong shape.
    """
    arr = _as_real_array(x, "x")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or arr.size == 0:
        raise ValueError(f"x must have shape [H, W], [H, W, 1] or [H, W, 3], got {np.shape(x)}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iu":
        return np.clip(arr, 0, 255).astype(np.uint8)
    return _lut_indices(arr)


def encode_png(image, compress_level: int = 1) -> bytes:
    """Encodes a uint8 image as PNG bytes with Pillow.

    Args:
        image: uint8 [H, W] or [H, W, 1] (grey), [H, W, 3] (RGB) or
            [H, W, 4] (RGBA).
        compress_level: zlib level 0..9; 1 is fast and usually small enough.

    Returns:
        The PNG file contents.

    Raises:
        ValueError: For a non-uint8 or wrongly shaped image or a bad level.
    """
    arr = _as_uint8(image, "image", (2, 3))
    if arr.ndim == 3:
        if arr.shape[2] not in (1, 3, 4):
            raise ValueError(f"image must have 1, 3 or 4 channels, got shape {arr.shape}")
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
    compress_level = _check_int(compress_level, "compress_level", 0, 9)
    from PIL import Image  # Lazy: keeps importing this module cheap.

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _palette_lut(cmap: str) -> np.ndarray:
    """A 256-entry PNG palette: the colormap at 255 levels, then white (index 255)."""
    lut = colormap_lut(cmap)
    pal = np.empty((256, 3), np.uint8)
    pal[:255] = lut[np.rint(np.arange(255) * (255.0 / 254.0)).astype(np.intp)]
    pal[255] = _WHITE
    return pal


def feature_map_grid_indexed(
    act,
    max_channels: Optional[int] = None,
    cmap: str = "viridis",
    min_tile: int = 16,
    cols: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Like :func:`feature_map_grid`, as palette indices (for compact PNGs).

    Each map is min-max normalised on its own to indices 0..254; index 255 is
    the white separator. A palette PNG stores one byte a pixel instead of
    three, so it is about three times smaller and faster to encode.

    Returns:
        ``(indices, palette)``: uint8 [H, W] and uint8 [256, 3]; the RGB image
        is ``palette[indices]``.
    """
    maps = _channel_maps(act, max_channels)
    h, w = maps.shape[1:]
    idx = np.rint(normalize(maps, mode="per_map") * 254.0).astype(np.uint8)
    factor = auto_scale(h, w, min_tile)
    return tile(_repeat_axes(idx, factor, 1), cols=cols, pad=1, pad_value=255), _palette_lut(cmap)


def encode_png_indexed(indices, palette, compress_level: int = 1) -> bytes:
    """Encodes palette indices uint8 [H, W] with a [<=256, 3] palette as a PNG."""
    arr = _as_uint8(indices, "indices", (2,))
    pal = _as_uint8(palette, "palette", (2,))
    if pal.shape[1] != 3 or pal.shape[0] > 256:
        raise ValueError(f"palette must be [<=256, 3], got shape {pal.shape}")
    compress_level = _check_int(compress_level, "compress_level", 0, 9)
    from PIL import Image

    img = Image.frombytes("P", (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes())
    img.putpalette(pal.tobytes())
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def encode_jpeg(image, quality: int = 90) -> bytes:
    """Encodes a uint8 RGB (or grey) image as JPEG: for photo-like overlays."""
    arr = _as_uint8(image, "image", (2, 3))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    quality = _check_int(quality, "quality", 1, 100)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()
