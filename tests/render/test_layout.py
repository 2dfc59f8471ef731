"""Tests for cnn_tb.render.layout: tiling, integer zooms, nearest and bilinear resizing."""

import re

import numpy as np
import pytest

from cnn_tb import render
from cnn_tb.render import layout

# ---------------------------------------------------------------------------
# tile
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, rows, cols",
    [(1, 1, 1), (2, 1, 2), (4, 2, 2), (5, 2, 3), (10, 3, 4), (32, 6, 6)],
)
def test_tile_grid_shape_arithmetic(n, rows, cols):
    h, w, pad = 4, 3, 1
    images = np.zeros((n, h, w), np.uint8)
    out = render.tile(images, pad=pad, pad_value=255)
    assert out.shape == (rows * (h + pad) + pad, cols * (w + pad) + pad)
    assert out.dtype == np.uint8
    # Every pixel is either image (0) or pad (255); count both exactly.
    assert (out == 0).sum() == n * h * w
    assert (out == 255).sum() == out.size - n * h * w


def test_tile_places_images_row_major_with_pads():
    images = np.stack([np.full((2, 3), 10 * (i + 1), np.uint8) for i in range(5)])
    out = render.tile(images, pad=2, pad_value=200)
    assert out.shape == (2 * 4 + 2, 3 * 5 + 2)
    for i in range(5):
        r, c = divmod(i, 3)
        y, x = 2 + r * 4, 2 + c * 5
        assert (out[y : y + 2, x : x + 3] == 10 * (i + 1)).all()
    # Separators, border and the one empty trailing cell are pad_value.
    mask = np.ones(out.shape, bool)
    for i in range(5):
        r, c = divmod(i, 3)
        mask[2 + r * 4 : 4 + r * 4, 2 + c * 5 : 5 + c * 5] = False
    assert (out[mask] == 200).all()
    assert (out[6:8, 12:15] == 200).all()


def test_tile_rgb_explicit_cols_and_no_pad():
    images = np.arange(3 * 2 * 2 * 3, dtype=np.uint8).reshape(3, 2, 2, 3)
    out = render.tile(images, cols=1, pad=0)
    assert out.shape == (6, 2, 3)
    np.testing.assert_array_equal(out, images.reshape(6, 2, 3))
    wide = render.tile(images, cols=5, pad=1, pad_value=7)
    assert wide.shape == (4, 16, 3)
    assert (wide[:, 10:] == 7).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(images=np.zeros((2, 3, 3), np.float32)), "`images` must be a uint8 array. Received: dtype float32"),
        (dict(images=np.zeros((3, 3), np.uint8)), "`images` must have 3 or 4 dimensions. Received: shape (3, 3)"),
        (dict(images=np.zeros((0, 3, 3), np.uint8)), "`images` must not be empty. Received: shape (0, 3, 3)"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), cols=0), "`cols` must be an int >= 1. Received: cols=0"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), pad=-1), "`pad` must be an int >= 0. Received: pad=-1"),
        (
            dict(images=np.zeros((2, 3, 3), np.uint8), pad_value=256),
            "`pad_value` must be an int >= 0 and <= 255. Received: pad_value=256",
        ),
        (dict(images=np.zeros((2, 3, 3), np.uint8), cols=2.0), "`cols` must be an int >= 1. Received: cols=2.0"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), cols=True), "`cols` must be an int >= 1. Received: cols=True"),
    ],
)
def test_tile_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.tile(**kwargs)


# ---------------------------------------------------------------------------
# upscale_nearest / repeat_axes / auto_scale
# ---------------------------------------------------------------------------


def test_upscale_nearest_repeats_pixels():
    img = np.array([[1, 2], [3, 4]], np.uint8)
    np.testing.assert_array_equal(
        render.upscale_nearest(img, 2),
        [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]],
    )
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    big = render.upscale_nearest(rgb, 3)
    assert big.shape == (6, 6, 3)
    np.testing.assert_array_equal(big[5, 5], rgb[1, 1])
    np.testing.assert_array_equal(big[0:3, 3:6], np.broadcast_to(rgb[0, 1], (3, 3, 3)))
    np.testing.assert_array_equal(render.upscale_nearest(rgb, 1), rgb)
    with pytest.raises(ValueError, match=re.escape("`factor` must be an int >= 1. Received: factor=0")):
        render.upscale_nearest(img, 0)
    with pytest.raises(ValueError, match=re.escape("`img` must have shape [h, w] or [h, w, C]. Received: shape (4,)")):
        render.upscale_nearest(np.zeros(4), 2)


def test_repeat_axes_zooms_only_the_two_chosen_axes():
    stack = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)  # [n, h, w]
    out = layout.repeat_axes(stack, 2, 1)
    assert out.shape == (2, 4, 6)
    for k in range(2):
        np.testing.assert_array_equal(out[k], np.kron(stack[k], np.ones((2, 2), np.uint8)))
    rgb = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)  # [h, w, C]
    out = layout.repeat_axes(rgb, 3, 0)
    assert out.shape == (6, 6, 3)
    np.testing.assert_array_equal(out[::3, ::3], rgb)
    np.testing.assert_array_equal(out[4, 1], rgb[1, 0])


def test_repeat_axes_factor_one_returns_the_input():
    arr = np.arange(6).reshape(1, 2, 3)
    assert layout.repeat_axes(arr, 1, 1) is arr


@pytest.mark.parametrize(
    "h, w, min_size, max_factor, expected",
    [
        (32, 32, 16, 8, 1),
        (16, 40, 16, 8, 1),
        (8, 8, 16, 8, 2),
        (5, 9, 16, 8, 4),
        (3, 3, 12, 8, 4),
        (1, 7, 16, 8, 8),
        (1, 7, 16, 3, 3),
        (2, 2, 16, 100, 8),
    ],
)
def test_auto_scale(h, w, min_size, max_factor, expected):
    assert render.auto_scale(h, w, min_size, max_factor) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 4), "`h` must be an int >= 1. Received: h=0"),
        ((4, 4.5), "`w` must be an int >= 1. Received: w=4.5"),
        ((4, 4, 0), "`min_size` must be an int >= 1. Received: min_size=0"),
        ((4, 4, 16, 0), "`max_factor` must be an int >= 1. Received: max_factor=0"),
    ],
)
def test_auto_scale_rejects_bad_sizes(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.auto_scale(*args)


# ---------------------------------------------------------------------------
# nearest_resize
# ---------------------------------------------------------------------------


def test_nearest_resize_takes_the_pixel_under_each_output_centre():
    row = np.array([[0, 1, 2]], np.uint8)
    # Output pixel i takes input floor((i + 0.5) * 3 / 5): 0.3, 0.9, 1.5, 2.1, 2.7.
    np.testing.assert_array_equal(layout.nearest_resize(row, 1, 5), [[0, 0, 1, 2, 2]])
    # Shrinking 4 -> 2 takes pixels floor(1.0) = 1 and floor(3.0) = 3.
    col = np.arange(4, dtype=np.uint8).reshape(4, 1)
    np.testing.assert_array_equal(layout.nearest_resize(col, 2, 1), [[1], [3]])


def test_nearest_resize_integer_zoom_equals_pixel_repetition():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(layout.nearest_resize(img, 8, 12), render.upscale_nearest(img, 4))


def test_nearest_resize_matches_the_formula_on_odd_sizes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 7), dtype=np.uint8)
    out = layout.nearest_resize(img, 64, 5)
    assert out.shape == (64, 5)
    rows = [int((i + 0.5) * 3 / 64) for i in range(64)]
    cols = [int((j + 0.5) * 7 / 5) for j in range(5)]
    np.testing.assert_array_equal(out, img[np.ix_(rows, cols)])


# ---------------------------------------------------------------------------
# upsample
# ---------------------------------------------------------------------------


def test_upsample_2x2_to_32x32_keeps_corners(no_warnings):
    heat = np.array([[0.0, 1.0], [2.0, 3.0]])
    out = render.upsample(heat, (32, 32))
    assert out.shape == (32, 32) and out.dtype == np.float32
    np.testing.assert_allclose([out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]], [0, 1, 2, 3], atol=1e-6)
    # Bilinear: monotone along both axes, interior strictly between corners.
    assert (np.diff(out, axis=0) >= 0).all() and (np.diff(out, axis=1) >= 0).all()
    assert 1.4 < out[16, 16] < 1.6


@pytest.mark.parametrize("shape", [(7, 10), (224, 224), (3, 1), (1, 5), (13, 29), (5, 5)])
def test_upsample_gives_exactly_the_shape(shape):
    heat = np.random.default_rng(0).random((5, 5))
    out = render.upsample(heat, shape)
    assert out.shape == shape
    assert heat.min() - 1e-6 <= out.min() and out.max() <= heat.max() + 1e-6


def test_upsample_same_shape_is_a_float32_copy():
    heat = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = render.upsample(heat, (2, 3))
    np.testing.assert_array_equal(out, heat)
    assert out.dtype == np.float32 and not np.shares_memory(out, heat)


def test_upsample_constant_and_non_finite(no_warnings):
    np.testing.assert_allclose(render.upsample(np.full((3, 3), 2.5), (10, 10)), 2.5)
    out = render.upsample(np.array([[np.nan, 1.0], [1.0, 1.0]]), (8, 8))
    assert np.isfinite(out).all()
    assert out[0, 0] == 0.0


@pytest.mark.parametrize(
    "heat, shape, message",
    [
        (np.ones((2, 2)), (0, 4), "`shape[0]` must be an int >= 1. Received: shape[0]=0"),
        (np.ones((2, 2)), (4,), "`shape` must be a (height, width) pair. Received: shape=(4,)"),
        (np.ones((2, 2)), "4x4", "`shape` must be a (height, width) pair. Received: shape='4x4'"),
        (np.ones((2, 2)), (4.0, 4), "`shape[0]` must be an int >= 1. Received: shape[0]=4.0"),
        (np.ones((2, 2)), (4, -1), "`shape[1]` must be an int >= 1. Received: shape[1]=-1"),
        (np.ones((0, 2)), (4, 4), "`heat` must not be empty. Received: shape (0, 2)"),
        (np.ones(3), (4, 4), "`heat` must have 2 dimensions. Received: shape (3,)"),
    ],
)
def test_upsample_rejects_bad_input(heat, shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.upsample(heat, shape)


# ------------------------------------------- details pinned by mutation testing


def test_tile_default_is_a_one_pixel_white_frame():
    out = layout.tile(np.zeros((4, 2, 3), np.uint8))
    assert out.shape == (2 * 3 + 1, 2 * 4 + 1) and out.dtype == np.uint8
    assert out[0].tolist() == [255] * 9 and out[:, 0].tolist() == [255] * 7


def test_auto_scale_defaults():
    assert layout.auto_scale(4, 4) == 4  # ceil(16 / 4)
    assert layout.auto_scale(1, 1) == 8  # at most 8


def test_fit_shape_crops_and_pads_with_edge_values():
    arr = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(layout._fit_shape(arr, (2, 3)), arr)
    np.testing.assert_array_equal(layout._fit_shape(arr, (1, 2)), [[0.0, 1.0]])
    np.testing.assert_array_equal(layout._fit_shape(arr, (3, 2)), [[0.0, 1.0], [3.0, 4.0], [3.0, 4.0]])
    np.testing.assert_array_equal(layout._fit_shape(arr, (2, 5)), [[0, 1, 2, 2, 2], [3, 4, 5, 5, 5]])
    np.testing.assert_array_equal(layout._fit_shape(arr, (2, 4)), [[0, 1, 2, 2], [3, 4, 5, 5]])
    np.testing.assert_array_equal(layout._fit_shape(arr, (3, 4)), [[0, 1, 2, 2], [3, 4, 5, 5], [3, 4, 5, 5]])


def _bilinear_corners(a, shape):
    """Bilinear resize whose grid keeps the corners: output i samples input i * (h - 1) / (H - 1)."""
    def axis(n_in, n_out):
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
        i0 = np.minimum(np.floor(pos).astype(int), n_in - 2)
        return i0, pos - i0

    (r0, fr), (c0, fc) = axis(a.shape[0], shape[0]), axis(a.shape[1], shape[1])
    top = a[r0][:, c0] * (1 - fc) + a[r0][:, c0 + 1] * fc
    bottom = a[r0 + 1][:, c0] * (1 - fc) + a[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


@pytest.mark.parametrize("src,shape", [((2, 3), (4, 9)), ((3, 2), (7, 3)), ((4, 5), (7, 13))])
def test_upsample_of_non_square_maps_is_bilinear_per_axis(src, shape):
    a = np.random.default_rng(1).random(src).astype(np.float32)
    out = layout.upsample(a, shape)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, _bilinear_corners(a.astype(np.float64), shape), atol=1e-5)
