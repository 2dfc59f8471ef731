"""Composite pictures: feature-map grids, channel-mean strips, kernel grids, overlays, captions."""

import functools

import numpy as np

from cnn_tb import _validate
from cnn_tb.render._arrays import finite_or_zero, float_array, uint8_array
from cnn_tb.render.colors import WHITE, apply_colormap, colormap_lut, lut_indices, normalize, palette
from cnn_tb.render.layout import auto_scale, nearest_resize, repeat_axes, tile, upsample

# Separator grey of diverging kernel grids: their zero colour is near-white, so
# white lines between tiles would vanish.
KERNEL_GRID_PAD = 128


def _channel_maps(act, max_channels):
    """The first ``max_channels`` channels of ``act`` [h, w, c] as maps [c, h, w]."""
    arr = float_array(act, "act", ndim=3)
    if arr.size == 0:
        raise ValueError(f"`act` must have non-zero sizes. Received: shape {arr.shape}")
    c = arr.shape[2]
    if max_channels is not None:
        c = min(c, _validate.integer("max_channels", max_channels, minimum=1))
    return np.moveaxis(arr[:, :, :c], -1, 0)


def feature_map_grid_indexed(act, max_channels=None, cmap="viridis", min_tile=16, cols=None):
    """The channels of one activation as a grid of tiles, in palette indices.

    Channel ``k`` (of the first ``max_channels``) is min-max normalised on its
    own to indices 0..254 (a constant channel gets 0), enlarged by
    ``auto_scale(h, w, min_tile)`` and placed at grid cell ``k`` (row by row,
    ``cols`` columns, about square by default) with 1-pixel separators of
    index 255 (white). A palette PNG stores one byte a pixel instead of three.

    Args:
        act: Real array [h, w, c] (channels last). A 1-D activation [steps, c]
            should be passed as [1, steps, c].

    Returns:
        ``(indices, palette)``: uint8 [H, W] and uint8 [256, 3]; the RGB image
        is ``palette[indices]``.
    """
    maps = _channel_maps(act, max_channels)
    h, w = maps.shape[1:]
    idx = np.rint(normalize(maps, mode="per_map") * 254.0).astype(np.uint8)
    factor = auto_scale(h, w, _validate.integer("min_tile", min_tile, minimum=1))
    return tile(repeat_axes(idx, factor, 1), cols=cols, pad=1, pad_value=255), palette(cmap)


def channel_mean_strip(maps, height=64, pad=2, cmap="viridis", image=None):
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
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 2:
        raise ValueError(f"`maps` must be a sequence of 2-D arrays. Received: one array of shape {maps.shape}")
    maps = list(maps)
    if not maps:
        raise ValueError("`maps` must hold at least one 2-D array. Received: an empty sequence")
    height = _validate.integer("height", height, minimum=1)
    pad = _validate.integer("pad", pad, minimum=0)
    lut = colormap_lut(cmap)
    panels = [np.take(lut, _strip_panel(m, i, height), axis=0) for i, m in enumerate(maps)]
    if image is not None:
        img = _as_rgb_image(image)
        panels.insert(0, nearest_resize(img, height, max(1, round(img.shape[1] * height / img.shape[0]))))
    width = sum(p.shape[1] for p in panels) + (len(panels) + 1) * pad
    out = np.full((height + 2 * pad, width, 3), WHITE, np.uint8)
    x = pad
    for panel in panels:
        out[pad : pad + height, x : x + panel.shape[1]] = panel
        x += panel.shape[1] + pad
    return out


def _strip_panel(m, index, height):
    arr = float_array(m, f"maps[{index}]")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"`maps[{index}]` must be a non-empty 2-D array. Received: shape {arr.shape}")
    h, w = arr.shape
    return nearest_resize(lut_indices(normalize(arr, mode="global")), height, max(1, round(w * height / h)))


def _kernel_array(kernel, max_out, max_in):
    arr = float_array(kernel, "kernel", ndim=4)
    if arr.size == 0:
        raise ValueError(f"`kernel` must have non-zero sizes. Received: shape {arr.shape}")
    _validate.integer("max_out", max_out, minimum=1)
    _validate.integer("max_in", max_in, minimum=1)
    return finite_or_zero(arr)


def kernel_grid(kernel, rgb=False, max_out=32, max_in=16, cmap="RdBu_r", min_tile=12):
    """Renders convolution weights as a grid of tiles.

    Non-finite weights are treated as 0. Tiles are enlarged by
    ``auto_scale(kh, kw, min_tile)`` and separated by 1-pixel lines: white for
    ``rgb=True``, mid-grey (128) otherwise, because a diverging colormap's
    zero colour is near-white and white lines would not show.

    * ``rgb=True`` (first layer on an RGB input, ``c_in == 3``): one RGB tile
      per output filter (first ``max_out``), in an about-square grid. Each
      filter is scaled symmetrically around 0 on its own:
      ``pixel = round(255 * (0.5 + w / (2 * max|w| of that filter)))``, so a
      zero weight is mid-grey (128). An all-zero filter is uniform grey.
    * ``rgb=False``: one grid ROW per output filter (first ``max_out``) and
      one COLUMN per input channel (first ``max_in``); each tile is the
      ``kh x kw`` slice, coloured with the diverging ``cmap`` centred on zero
      using ONE scale for the whole layer: ``x01 = 0.5 + w / (2 * a)``,
      ``a = max|w|`` over the kept slices (``a == 0``: all 0.5).

    Args:
        kernel: Real array [kh, kw, c_in, c_out] (a 1-D kernel as [1, k, c_in, c_out]).

    Returns:
        uint8 image [H, W, 3].
    """
    arr = _kernel_array(kernel, max_out, max_in)
    kh, kw, c_in, _ = arr.shape
    factor = auto_scale(kh, kw, min_tile)
    if _validate.boolean("rgb", rgb):
        if c_in != 3:
            raise ValueError(f"rgb=True needs a kernel with c_in == 3. Received: shape {arr.shape}")
        tiles = _rgb_filter_tiles(arr[..., :max_out])
        return tile(repeat_axes(tiles, factor, 1), pad=1, pad_value=WHITE)
    tiles = apply_colormap(_kernel_tiles01(arr, max_in, max_out), cmap)
    return tile(repeat_axes(tiles, factor, 1), cols=min(c_in, max_in), pad=1, pad_value=KERNEL_GRID_PAD)


def kernel_grid_indexed(kernel, max_out=32, max_in=16, cmap="RdBu_r", min_tile=12):
    """:func:`kernel_grid` (non-RGB) as palette indices, for compact PNGs.

    Returns:
        ``(indices, palette)``: uint8 [H, W] and [256, 3]; indices 0..254 are
        the diverging colormap (127 = zero weight), 255 the grey separator.
    """
    arr = _kernel_array(kernel, max_out, max_in)
    kh, kw, c_in, _ = arr.shape
    idx = np.rint(_kernel_tiles01(arr, max_in, max_out) * 254.0).astype(np.uint8)
    pal = palette(cmap).copy()
    pal[255] = KERNEL_GRID_PAD
    factor = auto_scale(kh, kw, min_tile)
    return tile(repeat_axes(idx, factor, 1), cols=min(c_in, max_in), pad=1, pad_value=255), pal


def _kernel_tiles01(arr, max_in, max_out):
    """Kernel slices [out * in, kh, kw] in [0, 1]: 0.5 + w / (2 max|w|), one scale per layer."""
    kh, kw = arr.shape[:2]
    kept = arr[:, :, :max_in, :max_out]
    a = float(np.abs(kept).max())
    x01 = 0.5 + kept / (2 * a) if a > 0 else np.full(kept.shape, 0.5, np.float32)
    return x01.transpose(3, 2, 0, 1).reshape(-1, kh, kw)


def _rgb_filter_tiles(kernel):
    """uint8 tiles [n, kh, kw, 3] of ``round(255 * (0.5 + w / (2 a)))``, ``a`` each filter's max |w|."""
    filters = np.moveaxis(kernel, -1, 0)
    a = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    x01 = 0.5 + filters / (2 * np.where(a > 0, a, 1))
    return np.rint(np.clip(x01, 0.0, 1.0) * 255).astype(np.uint8)


def _as_rgb_image(image, name="image"):
    """A uint8 image [H, W], [H, W, 1] or [H, W, 3] as [H, W, 3]."""
    arr = uint8_array(image, name, (2, 3))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    if arr.shape[2] != 3:
        raise ValueError(f"`{name}` must have 1 or 3 channels. Received: shape {arr.shape}")
    return arr


def overlay(image, heat, alpha=0.45, cmap="jet", normalize_heat=True):
    """Blends a colour-mapped heatmap over an image.

    ``heat`` is min-max normalised to [0, 1] (if ``normalize_heat``; otherwise
    clipped to [0, 1]), bilinearly upsampled to the image size with
    :func:`~cnn_tb.render.layout.upsample`, colour-mapped, and blended:
    ``out = round((1 - alpha) * image + alpha * colour)``.

    Args:
        image: uint8 [H, W, 3], or grey [H, W, 1] / [H, W] (made RGB).
        heat: Real 2-D array of any size.
        alpha: Weight of the heatmap colour, in [0, 1].

    Returns:
        uint8 image [H, W, 3].
    """
    img = _as_rgb_image(image)
    alpha = np.float32(_validate.number("alpha", alpha, 0.0, 1.0))
    heat_arr = float_array(heat, "heat", ndim=2)
    if _validate.boolean("normalize_heat", normalize_heat):
        heat01 = normalize(heat_arr, mode="global")
    else:
        heat01 = np.clip(finite_or_zero(heat_arr), 0.0, 1.0)
    colour = apply_colormap(upsample(heat01, img.shape[:2]), cmap)
    blended = (1 - alpha) * img + alpha * colour
    return np.rint(blended, out=blended).astype(np.uint8)


CAPTION_HEIGHT = 14


@functools.lru_cache(maxsize=None)
def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


@functools.lru_cache(maxsize=4096)
def _caption_mask(text, width):
    """uint8 [CAPTION_HEIGHT, width]: 255 where the text's ink is (Pillow's default font)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (max(1, width), CAPTION_HEIGHT), 0)
    ImageDraw.Draw(img).text((2, 1), str(text), fill=255, font=_font())
    mask = np.asarray(img)
    mask.setflags(write=False)
    return mask


def caption(image, text):
    """``image`` with a white title bar of ``CAPTION_HEIGHT`` pixels on top holding ``text``.

    Args:
        image: uint8 RGB [H, W, 3] (dark text), or palette indices [H, W] whose
            index 255 is white (text in index 0, the colormap's first colour).

    Returns:
        The image with the bar, of the same kind; text wider than the image is cut.
    """
    arr = uint8_array(image, "image", (2, 3))
    mask = _caption_mask(text, arr.shape[1])
    if arr.ndim == 2:
        bar = np.where(mask >= 128, 0, 255).astype(np.uint8)
    else:
        ink = mask[..., None].astype(np.float32) / 255.0
        bar = np.rint(255.0 * (1.0 - ink) + 40.0 * ink).astype(np.uint8).repeat(arr.shape[2], axis=2)
    return np.concatenate([bar, arr], axis=0)
