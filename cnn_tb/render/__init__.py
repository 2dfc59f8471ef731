"""Fast numpy rendering of activations, kernels and heatmaps into uint8 images.

Everything here runs for every logged layer and probe at every epoch, so it is
plain vectorised numpy. matplotlib is imported only to build colour look-up
tables (LUTs), once per colormap name; no figure is ever drawn. scipy and
Pillow are imported lazily by the functions that need them. No TensorFlow.

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

Modules: :mod:`~cnn_tb.render.colors` (LUTs, normalisation),
:mod:`~cnn_tb.render.layout` (tiling, resizing), :mod:`~cnn_tb.render.pictures`
(feature-map grids, strips, kernel grids, overlays),
:mod:`~cnn_tb.render.encode` (PNG / JPEG). Their public functions are
re-exported here.
"""

from cnn_tb.render.colors import NORMALIZE_MODES, apply_colormap, colormap_lut, normalize, palette
from cnn_tb.render.encode import encode_jpeg, encode_png, encode_png_indexed, to_uint8_image
from cnn_tb.render.layout import auto_scale, tile, upsample, upscale_nearest
from cnn_tb.render.pictures import (
    caption,
    channel_mean_strip,
    feature_map_grid_indexed,
    kernel_grid,
    kernel_grid_indexed,
    overlay,
)

__all__ = [
    "NORMALIZE_MODES",
    "apply_colormap",
    "auto_scale",
    "caption",
    "channel_mean_strip",
    "colormap_lut",
    "encode_jpeg",
    "encode_png",
    "encode_png_indexed",
    "feature_map_grid_indexed",
    "kernel_grid",
    "kernel_grid_indexed",
    "normalize",
    "overlay",
    "palette",
    "tile",
    "to_uint8_image",
    "upsample",
    "upscale_nearest",
]
