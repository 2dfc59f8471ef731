"""The image side of feature visualization: what is optimised and how it is seen.

:class:`ImageParam` turns the optimised variables into images (1/f-scaled
DCT coefficients and decorrelated colour, or plain sigmoid pixels);
:func:`warp` is the random affine view of an image every optimisation step
sees (nearest pixel, mirrored at the borders). Both are written with
``keras.ops`` so they run inside the compiled step on every backend.
"""

import math

import numpy as np

# Luminance and two colour-opponent axes (orthonormal), scaled roughly as the
# colours of natural images vary along them: most variance in brightness,
# less from red to blue, least from green to magenta.
COLOUR_AXES = np.array(
    [[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], np.float32
) / np.array([[math.sqrt(3.0)], [math.sqrt(2.0)], [math.sqrt(6.0)]], np.float32)
COLOUR_SCALES = np.array([1.0, 0.3, 0.15], np.float32)


class ImageParam:
    """Images [n, H, W, C] in [0, 1] from the optimised variables (same shape)."""

    def __init__(self, h, w, c, parameterization):
        self.parameterization = parameterization
        self.colour = None
        if parameterization == "dct":
            self.dct_h, self.dct_w = dct_matrix(h), dct_matrix(w)
            fy = np.arange(h)[:, None] / (2.0 * h)
            fx = np.arange(w)[None, :] / (2.0 * w)
            freq = np.sqrt(fy**2 + fx**2)
            # 1/f amplitudes, the lowest frequency capped at one cycle per image;
            # divided by 4 so the starting image stays near grey.
            self.scale = (1.0 / np.maximum(freq, 1.0 / max(h, w)) / 4.0).astype(np.float32)[None, :, :, None]
            if c == 3:
                self.colour = (COLOUR_AXES.T * COLOUR_SCALES[None, :]).astype(np.float32)  # [rgb, axis]

    def __call__(self, x):
        from keras import ops

        if self.parameterization == "dct":
            x = ops.multiply(x, self.scale)  # ops, not *: numpy constants meet torch tensors
            x = ops.einsum("uy,nuvc->nyvc", self.dct_h, x)
            x = ops.einsum("nyvc,vx->nyxc", x, self.dct_w)
            if self.colour is not None:
                x = ops.einsum("nyxa,ca->nyxc", x, self.colour)
        return ops.sigmoid(x)


def dct_matrix(n):
    """The orthonormal DCT-II matrix [frequency, position]: ``x = D.T @ X`` inverts ``X = D @ x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2.0 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.astype(np.float32)


def pixel_grid(h, w):
    """``(y, x, 1)`` of every pixel, row by row: [3, H * W] float32."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    return np.stack([yy.ravel(), xx.ravel(), np.ones(h * w, np.float32)])


def warp(img, warps, grid):
    """Affine warp of ``img`` [n, H, W, C]: output pixel ``p`` of image ``i`` takes the
    pixel nearest to ``warps[i] @ (p, 1)``; positions outside the image are
    mirrored back into it (so the border pixels are not sampled more often
    than the others, which would paint a frame). One gather: bilinear weights
    take four, which cost several times more on a CPU, with no visible change
    in the result."""
    from keras import ops

    n, h, w, c = img.shape
    src = ops.round(ops.matmul(warps, grid))  # [n, 2, H*W]
    y = ops.cast(mirror(src[:, 0], h), "int32")
    x = ops.cast(mirror(src[:, 1], w), "int32")
    index = ops.reshape(ops.add(y * w + x, np.arange(n, dtype=np.int32)[:, None] * (h * w)), (-1,))
    return ops.reshape(ops.take(ops.reshape(img, (n * h * w, c)), index, axis=0), (n, h, w, c))


def mirror(t, size):
    """Positions ``t`` (floats holding integers) mirrored into ``0..size-1`` (``-1 -> 1``, ``size -> size-2``)."""
    from keras import ops

    if size < 2:
        return ops.zeros_like(t)
    last = float(size - 1)
    period = 2.0 * last
    t = t - period * ops.floor(t / period)  # into [0, period)
    return last - ops.abs(t - last)
