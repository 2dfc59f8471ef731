"""Encoding pictures: PNG (RGB, grey, palette) and JPEG, with Pillow (imported lazily)."""

import io

import numpy as np

from cnn_tb import _validate
from cnn_tb.render._arrays import real_array, uint8_array
from cnn_tb.render.colors import lut_indices


def to_uint8_image(x):
    """A probe image [H, W], [H, W, 1] or [H, W, 3] as uint8 [H, W, 1 or 3].

    Floats are taken to be in [0, 1]: clipped, times 255, rounded (non-finite
    values -> 0). Integer images are taken to be in 0..255 and clipped.
    """
    arr = real_array(x, "x")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or arr.size == 0:
        raise ValueError(f"`x` must have shape [H, W], [H, W, 1] or [H, W, 3]. Received: shape {np.shape(x)}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iu":
        return np.clip(arr, 0, 255).astype(np.uint8)
    return lut_indices(arr)


def _save(img, fmt, **options):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def encode_png(image, compress_level=1):
    """PNG bytes of a uint8 image [H, W], [H, W, 1] (grey), [H, W, 3] or [H, W, 4]."""
    arr = uint8_array(image, "image", (2, 3))
    if arr.ndim == 3:
        if arr.shape[2] not in (1, 3, 4):
            raise ValueError(f"`image` must have 1, 3 or 4 channels. Received: shape {arr.shape}")
        if arr.shape[2] == 1:
            arr = arr[:, :, 0]
    level = _validate.integer("compress_level", compress_level, minimum=0, maximum=9)
    from PIL import Image  # Lazy: keeps importing this module cheap.

    return _save(Image.fromarray(np.ascontiguousarray(arr)), "PNG", compress_level=level)


def encode_png_indexed(indices, palette, compress_level=1):
    """PNG bytes of palette indices uint8 [H, W] with a [<=256, 3] palette."""
    arr = uint8_array(indices, "indices", (2,))
    pal = uint8_array(palette, "palette", (2,))
    if pal.shape[1] != 3 or pal.shape[0] > 256:
        raise ValueError(f"`palette` must be [<=256, 3]. Received: shape {pal.shape}")
    level = _validate.integer("compress_level", compress_level, minimum=0, maximum=9)
    from PIL import Image

    img = Image.frombytes("P", (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes())
    img.putpalette(pal.tobytes())
    return _save(img, "PNG", compress_level=level)


def encode_jpeg(image, quality=90):
    """JPEG bytes of a uint8 RGB (or grey) image: for photo-like overlays."""
    arr = uint8_array(image, "image", (2, 3))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    quality = _validate.integer("quality", quality, minimum=1, maximum=100)
    from PIL import Image

    return _save(Image.fromarray(np.ascontiguousarray(arr)), "JPEG", quality=quality, subsampling=0)
