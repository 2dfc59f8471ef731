"""Dataset examples per channel: the pool images that excite a channel most, and the
crop of the input each saw through the receptive field of its maximum.

For a map layer and each of its stored channels, the top ``k`` pool images
ranked by the channel's maximum over the positions (ties: the lower image
index first). Each example is a row ``(image, value, y0, x0, y1, x1)``: the
pool image index, the maximum, and the crop box (half-open, in the pixels of
the pool image as stored: :meth:`cnn_tb.model.receptive_field.Field.box`
scaled from the model input to the displayed image when ``preprocess``
resizes). Stored as float32 ``[channels, k, 6]`` (every value exact).
"""

import numpy as np

FIELDS = ("image", "value", "y0", "x0", "y1", "x1")


def top_k(maxima, k):
    """``(order [n, k'], values [n, k'])`` of ``maxima`` ``[N, n]``: per channel the
    ``k' = min(k, N)`` images with the largest maximum, largest first."""
    n_images = maxima.shape[0]
    k = min(k, n_images)
    values = np.asarray(maxima, np.float64).T  # [n, N]
    # a stable sort on the negated values keeps the lower index first among ties
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(values, order, axis=1)


def example_table(maxima, argmax, field, map_hw, image_hw, model_hw, k):
    """The float32 ``[n, k', 6]`` rows of one layer (see the module docstring).

    Args:
        maxima / argmax: ``[N, n]`` per pool image, each channel's maximum and
            its flat position ``y * w + x``.
        field: the layer's :class:`~cnn_tb.model.receptive_field.Field`.
        map_hw: ``(h, w)`` of the layer's output.
        image_hw / model_hw: the displayed image's and the model input's (H, W).
        k: examples per channel.
    """
    order, values = top_k(maxima, k)
    pos = np.take_along_axis(np.asarray(argmax).T, order, axis=1)
    y0, x0, y1, x1 = field.boxes(pos // map_hw[1], pos % map_hw[1])
    sy, sx = image_hw[0] / model_hw[0], image_hw[1] / model_hw[1]
    return np.stack(
        [order, values, np.floor(y0 * sy), np.floor(x0 * sx), np.ceil(y1 * sy), np.ceil(x1 * sx)], axis=-1
    ).astype(np.float32)
