"""Top-k pool images per channel and their crop boxes."""

import numpy as np

from cnn_tb.model.receptive_field import Field
from cnn_tb.pool import examples


def test_top_k_ranks_by_value_then_lower_index():
    maxima = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 1.0], [0.5, 7.0]], np.float32)  # [N=4, n=2]
    order, values = examples.top_k(maxima, 3)
    np.testing.assert_array_equal(order, [[1, 2, 0], [3, 0, 1]])
    np.testing.assert_array_equal(values, [[3, 3, 1], [7, 5, 5]])
    order, _ = examples.top_k(maxima, 10)  # fewer images than k
    assert order.shape == (2, 4)


def test_example_rows_hold_image_value_and_the_box_of_the_maximum():
    # a 4x4 map whose position (y, x) sees pixels [2y, 2y + 3) x [2x, 2x + 3) of a 9x9 input
    starts = np.arange(4) * 2.0
    field = Field((starts, starts), (starts + 3, starts + 3), (9, 9))
    maxima = np.array([[2.0], [9.0], [4.0]], np.float32)
    argmax = np.array([[0], [1 * 4 + 3], [3 * 4 + 0]])
    table = examples.example_table(maxima, argmax, field, (4, 4), (9, 9), (9, 9), k=2)
    assert table.dtype == np.float32 and table.shape == (1, 2, 6)
    np.testing.assert_array_equal(table[0], [[1, 9, 2, 6, 5, 9], [2, 4, 6, 0, 9, 3]])
    # displayed images twice the model input: boxes scale
    scaled = examples.example_table(maxima, argmax, field, (4, 4), (18, 18), (9, 9), k=1)
    np.testing.assert_array_equal(scaled[0, 0], [1, 9, 4, 12, 10, 18])
