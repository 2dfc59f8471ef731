"""The confusion-matrix picture: every cell has the colour of its row fraction."""

import numpy as np

from cnn_tb.render import colormap_lut
from cnn_tb.render.confusion import TITLE_HEIGHT, cell_size, confusion_picture, layout


def test_cells_are_coloured_by_row_fraction():
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    img = confusion_picture(counts, ["a", "b", "c"], title="t")
    cell, left, top = layout(3, ["a", "b", "c"])
    assert cell == cell_size(3) and top == TITLE_HEIGHT + 14 and left > 8
    lut = colormap_lut("Blues")
    frac = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    for i in range(3):
        for j in range(3):
            # a pixel near the cell's corner (no text there)
            pixel = img[top + i * cell + 2, left + j * cell + 2]
            np.testing.assert_array_equal(pixel, lut[int(np.rint(frac[i, j] * 255))], err_msg=(i, j))
    assert img.dtype == np.uint8 and img.shape == (top + 3 * cell + 2, max(left + 3 * cell + 2, 220), 3)


def test_many_classes_shrink_the_cells_and_drop_the_text():
    img = confusion_picture(np.eye(200, dtype=int) * 3, [str(i) for i in range(200)])
    assert cell_size(200) == 3 and img.shape[0] == TITLE_HEIGHT + 200 * 3 + 2
