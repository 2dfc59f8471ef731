"""Tests for cnn_tb.render: exact pixel content, shapes and input checking."""

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from cnn_tb import render

VIRIDIS = render.colormap_lut("viridis")
RDBU = render.colormap_lut("RdBu_r")
JET = render.colormap_lut("jet")
WHITE = np.array([255, 255, 255], np.uint8)


@pytest.fixture
def no_warnings():
    """Turns every warning raised inside the test into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def ramp_map():
    """A 16x16 map with values 0..255 in row-major order."""
    return np.arange(256, dtype=np.float32).reshape(16, 16)


# ---------------------------------------------------------------------------
# colormap_lut
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["viridis", "jet", "RdBu_r", "gray"])
def test_colormap_lut_matches_matplotlib(name):
    import matplotlib

    lut = render.colormap_lut(name)
    expected = np.rint(matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255)
    assert lut.dtype == np.uint8 and lut.shape == (256, 3)
    np.testing.assert_array_equal(lut, expected.astype(np.uint8))


def test_colormap_lut_is_cached_and_read_only():
    assert render.colormap_lut("viridis") is render.colormap_lut("viridis")
    with pytest.raises(ValueError):
        render.colormap_lut("viridis")[0, 0] = 1


def test_colormap_lut_gray_ends():
    lut = render.colormap_lut("gray")
    np.testing.assert_array_equal(lut[0], [0, 0, 0])
    np.testing.assert_array_equal(lut[255], [255, 255, 255])
    np.testing.assert_array_equal(lut[:, 0], np.arange(256))


@pytest.mark.parametrize("name, message", [("no_such_map", "no_such_map"), (3, "3")])
def test_colormap_lut_rejects_unknown(name, message):
    with pytest.raises(ValueError, match=message):
        render.colormap_lut(name)


# ---------------------------------------------------------------------------
# normalize / apply_colormap
# ---------------------------------------------------------------------------


def test_normalize_per_map_uses_each_map_alone(no_warnings):
    x = np.stack([np.array([[0.0, 1.0], [2.0, 4.0]]), np.array([[10.0, 10.0], [20.0, 30.0]])])
    out = render.normalize(x, mode="per_map")
    assert out.dtype == np.float32 and out.shape == (2, 2, 2)
    np.testing.assert_allclose(out[0], [[0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(out[1], [[0, 0], [0.5, 1.0]])


def test_normalize_per_channel_uses_each_channel_alone(no_warnings):
    x = np.zeros((2, 2, 2))
    x[..., 0] = [[0, 1], [2, 4]]
    x[..., 1] = [[-5, 5], [5, 5]]
    out = render.normalize(x, mode="per_channel")
    np.testing.assert_allclose(out[..., 0], [[0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(out[..., 1], [[0, 1], [1, 1]])


def test_normalize_global_and_explicit_bounds(no_warnings):
    x = np.array([[0.0, 2.0], [4.0, 8.0]])
    np.testing.assert_allclose(render.normalize(x, mode="global"), [[0, 0.25], [0.5, 1]])
    np.testing.assert_allclose(render.normalize(x, lo=0.0, hi=4.0), [[0, 0.5], [1, 1]])
    np.testing.assert_allclose(render.normalize(x, lo=-8.0, hi=8.0), [[0.5, 0.625], [0.75, 1]])
    per_row = render.normalize(x, lo=np.array([[0.0], [4.0]]), hi=np.array([[2.0], [8.0]]))
    np.testing.assert_allclose(per_row, [[0, 1], [0, 1]])


@pytest.mark.parametrize(
    "x",
    [np.full((4, 4), 7.0), np.zeros((3, 5)), np.full((2, 2), np.nan), np.full((2, 2), np.inf)],
    ids=["constant", "zeros", "all_nan", "all_inf"],
)
def test_normalize_degenerate_maps_give_zero(x, no_warnings):
    out = render.normalize(x)
    np.testing.assert_array_equal(out, np.zeros(x.shape, np.float32))


def test_normalize_ignores_non_finite_values(no_warnings):
    x = np.array([[1.0, np.nan], [np.inf, 3.0], [-np.inf, 2.0]])
    out = render.normalize(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [[0, 0], [0, 1], [0, 0.5]])


def test_normalize_zero_span_explicit_bounds(no_warnings):
    np.testing.assert_array_equal(render.normalize(np.ones((2, 2)), lo=1.0, hi=1.0), np.zeros((2, 2)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=np.ones((2, 2)), mode="per_pixel"), "per_pixel"),
        (dict(x=np.ones(3), mode="per_map"), "per_map"),
        (dict(x=np.ones((2, 2)), mode="per_channel"), "per_channel"),
        (dict(x=np.array(["a", "b"])), "dtype"),
        (dict(x=np.zeros((0, 3))), "empty"),
        (dict(x=np.ones((2, 2)), lo=np.zeros(3)), r"lo of shape \(3,\)"),
        (dict(x=np.ones((2, 2)), hi=np.zeros((4, 2, 2))), r"hi of shape \(4, 2, 2\)"),
    ],
)
def test_normalize_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.normalize(**kwargs)


def test_apply_colormap_indexes_lut_with_rounding(no_warnings):
    x = np.array([0.0, 1 / 255, 0.5, 100.4 / 255, 100.6 / 255, 1.0, -3.0, 7.0, np.nan, np.inf])
    out = render.apply_colormap(x, "viridis")
    expected = VIRIDIS[[0, 1, 128, 100, 101, 255, 0, 255, 0, 0]]
    assert out.dtype == np.uint8 and out.shape == (10, 3)
    np.testing.assert_array_equal(out, expected)


def test_apply_colormap_keeps_shape():
    out = render.apply_colormap(np.zeros((2, 3, 4)), "jet")
    assert out.shape == (2, 3, 4, 3)
    assert (out == JET[0]).all()


# ---------------------------------------------------------------------------
# tile / upscale_nearest / auto_scale
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
        (dict(images=np.zeros((2, 3, 3), np.float32)), "uint8"),
        (dict(images=np.zeros((3, 3), np.uint8)), r"shape \(3, 3\)"),
        (dict(images=np.zeros((0, 3, 3), np.uint8)), "empty"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), cols=0), "cols must be >= 1, got 0"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), pad=-1), "pad must be >= 0, got -1"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), pad_value=256), "pad_value must be <= 255, got 256"),
        (dict(images=np.zeros((2, 3, 3), np.uint8), cols=2.0), "cols must be an int, got 2.0"),
    ],
)
def test_tile_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.tile(**kwargs)


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
    np.testing.assert_array_equal(render.upscale_nearest(rgb, 1), rgb)
    with pytest.raises(ValueError, match="factor must be >= 1, got 0"):
        render.upscale_nearest(img, 0)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        render.upscale_nearest(np.zeros(4), 2)


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


def test_auto_scale_rejects_bad_sizes():
    with pytest.raises(ValueError, match="h must be >= 1, got 0"):
        render.auto_scale(0, 4)
    with pytest.raises(ValueError, match="w must be an int"):
        render.auto_scale(4, 4.5)


# ---------------------------------------------------------------------------
# feature_map_grid
# ---------------------------------------------------------------------------


def test_feature_map_grid_ramp_gives_lut_colours(no_warnings):
    act = np.zeros((16, 16, 2), np.float32)
    act[..., 0] = ramp_map()
    act[..., 1] = -ramp_map()
    out = render.feature_map_grid(act)  # 16x16 tiles: factor 1, 1x2 grid.
    assert out.shape == (18, 35, 3) and out.dtype == np.uint8
    i, j = np.mgrid[0:16, 0:16]
    np.testing.assert_array_equal(out[1:17, 1:17], VIRIDIS[i * 16 + j])
    np.testing.assert_array_equal(out[1:17, 18:34], VIRIDIS[255 - (i * 16 + j)])
    for sep in (out[0], out[17], out[:, 0], out[:, 17], out[:, 34]):
        assert (sep == WHITE).all()


def test_feature_map_grid_upscales_small_maps():
    act = np.zeros((4, 4, 3), np.float32)
    act[1, 2, 0] = 1.0  # Channel 0: one hot pixel; channels 1, 2 constant.
    out = render.feature_map_grid(act, cmap="gray")  # factor 4: 16x16 tiles.
    assert out.shape == (2 * 17 + 1, 2 * 17 + 1, 3)
    tile0 = out[1:17, 1:17, 0]
    expected = np.zeros((16, 16), np.uint8)
    expected[4:8, 8:12] = 255
    np.testing.assert_array_equal(tile0, expected)
    assert (out[1:17, 18:34] == 0).all() and (out[18:34, 1:17] == 0).all()
    assert (out[18:34, 18:34] == 255).all()  # Empty fourth cell.


def test_feature_map_grid_constant_map_renders_lut0_without_warnings(no_warnings):
    out = render.feature_map_grid(np.full((16, 16, 1), 3.5, np.float32))
    assert (out[1:17, 1:17] == VIRIDIS[0]).all()


def test_feature_map_grid_nan_does_not_propagate(no_warnings):
    act = np.tile(ramp_map()[:, :, None], (1, 1, 2))
    act[0, 0, 0] = np.nan
    act[0, 1, 0] = np.inf
    act[..., 1] = np.nan
    out = render.feature_map_grid(act)
    np.testing.assert_array_equal(out[1, 1], VIRIDIS[0])
    np.testing.assert_array_equal(out[1, 2], VIRIDIS[0])
    # Finite values keep their place: min 2, max 255.
    np.testing.assert_array_equal(out[16, 16], VIRIDIS[255])
    np.testing.assert_array_equal(out[1, 3], VIRIDIS[0])
    assert (out[1:17, 18:34] == VIRIDIS[0]).all()


def test_feature_map_grid_max_channels_and_cols():
    act = np.random.default_rng(0).random((16, 16, 10)).astype(np.float32)
    assert render.feature_map_grid(act, max_channels=4).shape == (35, 35, 3)
    assert render.feature_map_grid(act, max_channels=4, cols=4).shape == (18, 69, 3)
    assert render.feature_map_grid(act, max_channels=100).shape == (3 * 17 + 1, 4 * 17 + 1, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(act=np.zeros((4, 4))), r"act must have 3 dimensions, got shape \(4, 4\)"),
        (dict(act=np.zeros((4, 4, 0))), r"\(4, 4, 0\)"),
        (dict(act=np.zeros((4, 4, 2)), max_channels=0), "max_channels must be >= 1, got 0"),
        (dict(act=np.zeros((4, 4, 2)), cmap="nope"), "nope"),
    ],
)
def test_feature_map_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.feature_map_grid(**kwargs)


# ---------------------------------------------------------------------------
# channel_mean_strip
# ---------------------------------------------------------------------------


def test_channel_mean_strip_layout_and_content(no_warnings):
    a = np.array([[0.0, 1.0], [2.0, 3.0]])  # 2x2 -> 8x8, factor 4.
    b = np.arange(8.0).reshape(2, 4)  # 2x4 -> 8x16.
    c = np.full((3, 3), 5.0)  # constant -> 8x8 of LUT[0].
    out = render.channel_mean_strip([a, b, c], height=8, pad=2, cmap="gray")
    assert out.shape == (12, 2 + 8 + 2 + 16 + 2 + 8 + 2, 3)
    grey = out[..., 0]
    expected_a = np.rint(render.upscale_nearest(a / 3.0, 4) * 255)
    np.testing.assert_array_equal(grey[2:10, 2:10], expected_a)
    expected_b = np.rint(render.upscale_nearest(b / 7.0, 4) * 255)
    np.testing.assert_array_equal(grey[2:10, 12:28], expected_b)
    assert (grey[2:10, 30:38] == 0).all()
    for cols in (slice(0, 2), slice(10, 12), slice(28, 30), slice(38, 40)):
        assert (out[:, cols] == 255).all()
    assert (out[:2] == 255).all() and (out[10:] == 255).all()


def test_channel_mean_strip_non_integer_resize_keeps_aspect():
    m = np.arange(9.0).reshape(3, 3)
    out = render.channel_mean_strip([m, np.ones((4, 1))], height=64, pad=2)
    assert out.shape == (68, 2 + 64 + 2 + 16 + 2, 3)
    np.testing.assert_array_equal(out[2, 2], VIRIDIS[0])
    np.testing.assert_array_equal(out[65, 65], VIRIDIS[255])
    np.testing.assert_array_equal(out[2 + 32, 2 + 32], VIRIDIS[128])  # Centre = 4/8.


@pytest.mark.parametrize(
    "maps, message",
    [
        ([], "empty"),
        ([np.zeros(4)], r"maps\[0\] must be a non-empty 2-D array, got shape \(4,\)"),
        ([np.zeros((2, 2)), np.zeros((0, 2))], r"maps\[1\]"),
        (np.zeros((3, 3)), r"one array of shape \(3, 3\)"),
    ],
)
def test_channel_mean_strip_rejects_bad_input(maps, message):
    with pytest.raises(ValueError, match=message):
        render.channel_mean_strip(maps)


# ---------------------------------------------------------------------------
# kernel_grid
# ---------------------------------------------------------------------------


def kernel_tile_origin(out_index, in_index, tile_h, tile_w, pad=1):
    """Top-left pixel of the tile (output filter row, input channel column)."""
    return pad + out_index * (tile_h + pad), pad + in_index * (tile_w + pad)


def test_kernel_grid_diverging_single_weights(no_warnings):
    k = np.zeros((3, 3, 4, 5), np.float32)
    k[0, 1, 2, 3] = 1.0
    k[2, 2, 1, 0] = -1.0
    out = render.kernel_grid(k)  # auto_scale(3, 3, 12) == 4: 12x12 tiles.
    assert out.shape == (5 * 13 + 1, 4 * 13 + 1, 3)
    y, x = kernel_tile_origin(3, 2, 12, 12)
    assert (out[y : y + 4, x + 4 : x + 8] == RDBU[255]).all()
    y2, x2 = kernel_tile_origin(0, 1, 12, 12)
    assert (out[y2 + 8 : y2 + 12, x2 + 8 : x2 + 12] == RDBU[0]).all()
    # Every other tile pixel is the colormap's middle, separators grey.
    tiles = np.ones(out.shape[:2], bool)
    tiles[0::13, :] = False
    tiles[:, 0::13] = False
    tiles[y : y + 4, x + 4 : x + 8] = False
    tiles[y2 + 8 : y2 + 12, x2 + 8 : x2 + 12] = False
    assert (out[tiles] == RDBU[128]).all()
    assert (out[0::13, :] == 128).all() and (out[:, 0::13] == 128).all()


def test_kernel_grid_uses_one_scale_for_the_layer():
    k = np.zeros((1, 1, 2, 1), np.float32)
    k[0, 0, 0, 0] = 4.0
    k[0, 0, 1, 0] = -1.0  # x01 = 0.5 - 1/8 = 0.375 -> LUT[96].
    out = render.kernel_grid(k, min_tile=1)
    assert out.shape == (3, 5, 3)
    np.testing.assert_array_equal(out[1, 1], RDBU[255])
    np.testing.assert_array_equal(out[1, 3], RDBU[96])


def test_kernel_grid_scale_ignores_dropped_slices():
    k = np.zeros((1, 1, 2, 2), np.float32)
    k[0, 0, 0, 0] = 0.5
    k[0, 0, 1, 1] = 100.0  # Dropped by max_in=1, max_out=1.
    out = render.kernel_grid(k, max_out=1, max_in=1, min_tile=1)
    assert out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out[1, 1], RDBU[255])


def test_kernel_grid_zero_kernel_is_middle_colour(no_warnings):
    out = render.kernel_grid(np.zeros((3, 3, 2, 2)), min_tile=3)
    np.testing.assert_array_equal(out[1:4, 1:4].reshape(-1, 3), np.tile(RDBU[128], (9, 1)))


def test_kernel_grid_caps_and_one_d_kernels():
    k = np.random.default_rng(0).standard_normal((3, 3, 20, 40))
    assert render.kernel_grid(k).shape == (32 * 13 + 1, 16 * 13 + 1, 3)
    assert render.kernel_grid(k, max_out=2, max_in=3).shape == (2 * 13 + 1, 3 * 13 + 1, 3)
    one_d = render.kernel_grid(np.random.default_rng(1).standard_normal((1, 5, 2, 3)))
    assert one_d.shape == (3 * 9 + 1, 2 * 41 + 1, 3)  # Factor 8: 8x40 tiles.


def test_kernel_grid_rgb_pure_red_filter(no_warnings):
    k = np.zeros((3, 3, 3, 2), np.float32)
    k[:, :, 0, 0] = 0.7  # Filter 0: pure red, positive.
    k[:, :, 2, 1] = -2.0  # Filter 1: negative blue...
    k[0, 0, 2, 1] = 1.0  # ...with one positive blue weight of half the size.
    out = render.kernel_grid(k, rgb=True)  # factor 4; 2 filters -> 1x2 grid.
    assert out.shape == (14, 27, 3)
    assert (out[1:13, 1:13] == [255, 128, 128]).all()
    # Filter 1, a = 2: -2 -> 0.0 -> 0; +1 -> 0.75 -> round(191.25) = 191.
    assert (out[1:5, 14:18] == [128, 128, 191]).all()
    assert (out[5:13, 14:26] == [128, 128, 0]).all() and (out[1:5, 18:26] == [128, 128, 0]).all()
    for sep in (out[0], out[13], out[:, 0], out[:, 13], out[:, 26]):
        assert (sep == 255).all()


def test_kernel_grid_rgb_zero_filter_is_grey_and_grid_is_square(no_warnings):
    k = np.zeros((2, 2, 3, 5))
    out = render.kernel_grid(k, rgb=True, min_tile=2)
    assert out.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    assert (out[1:3, 1:3] == 128).all()
    assert (out[4:6, 7:9] == 255).all()  # Empty sixth cell.


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel=np.zeros((3, 3, 4))), r"kernel must have 4 dimensions, got shape \(3, 3, 4\)"),
        (dict(kernel=np.zeros((3, 3, 4, 2)), rgb=True), r"c_in == 3, got shape \(3, 3, 4, 2\)"),
        (dict(kernel=np.zeros((3, 3, 3, 2)), rgb="yes"), "rgb must be a bool, got 'yes'"),
        (dict(kernel=np.zeros((3, 3, 3, 2)), max_out=0), "max_out must be >= 1, got 0"),
        (dict(kernel=np.zeros((3, 0, 3, 2))), "non-zero sizes"),
    ],
)
def test_kernel_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.kernel_grid(**kwargs)


# ---------------------------------------------------------------------------
# upsample / overlay
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


def test_upsample_constant_and_non_finite(no_warnings):
    np.testing.assert_allclose(render.upsample(np.full((3, 3), 2.5), (10, 10)), 2.5)
    out = render.upsample(np.array([[np.nan, 1.0], [1.0, 1.0]]), (8, 8))
    assert np.isfinite(out).all()
    assert out[0, 0] == 0.0


@pytest.mark.parametrize("shape", [(0, 4), (4,), "4x4", (4.0, 4)])
def test_upsample_rejects_bad_shape(shape):
    with pytest.raises(ValueError):
        render.upsample(np.ones((2, 2)), shape)


def probe_image():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_overlay_alpha_zero_is_the_image(no_warnings):
    img = probe_image()
    out = render.overlay(img, np.random.default_rng(0).random((5, 5)), alpha=0.0)
    np.testing.assert_array_equal(out, img)


def test_overlay_alpha_one_is_the_colormap(no_warnings):
    heat = np.random.default_rng(0).random((4, 6)) * 10 - 3
    out = render.overlay(probe_image(), heat, alpha=1.0, cmap="jet")
    expected = render.apply_colormap(render.upsample(render.normalize(heat), (20, 30)), "jet")
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[0, 0], JET[render._lut_indices(render.normalize(heat)[0, 0])])


def test_overlay_blend_formula_and_grey_input(no_warnings):
    grey = np.full((8, 8, 1), 100, np.uint8)
    heat = np.full((2, 2), 7.0)  # Constant -> 0 -> JET[0].
    out = render.overlay(grey, heat, alpha=0.25)
    expected = np.rint(0.75 * 100 + 0.25 * JET[0].astype(float))
    assert out.shape == (8, 8, 3)
    assert (out == expected).all()
    np.testing.assert_array_equal(render.overlay(grey[:, :, 0], heat, alpha=0.25), out)


def test_overlay_without_normalisation_clips(no_warnings):
    img = np.zeros((4, 4, 3), np.uint8)
    heat = np.array([[0.5, 0.5], [0.5, 0.5]])
    out = render.overlay(img, heat, alpha=1.0, normalize_heat=False, cmap="gray")
    assert (out == 128).all()
    out = render.overlay(img, heat * 10, alpha=1.0, normalize_heat=False, cmap="gray")
    assert (out == 255).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image=np.zeros((4, 4, 3)), heat=np.ones((2, 2))), "uint8"),
        (dict(image=np.zeros((4, 4, 2), np.uint8), heat=np.ones((2, 2))), r"\(4, 4, 2\)"),
        (dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones(4)), r"heat must have 2 dimensions"),
        (dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones((2, 2)), alpha=1.5), "1.5"),
        (dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones((2, 2)), alpha="x"), "'x'"),
    ],
)
def test_overlay_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.overlay(**kwargs)


# ---------------------------------------------------------------------------
# to_uint8_image / encode_png
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, expected",
    [
        (np.array([[0.0, 0.5, 1.0]]), [[[0], [128], [255]]]),
        (np.array([[-1.0, 2.0, np.nan]], np.float32), [[[0], [255], [0]]]),
        (np.array([[[0.2, 0.4, 0.6]]]), [[[51, 102, 153]]]),
        (np.array([[7, 200]], np.uint8), [[[7], [200]]]),
        (np.array([[-5, 300]], np.int64), [[[0], [255]]]),
    ],
)
def test_to_uint8_image(x, expected, no_warnings):
    out = render.to_uint8_image(x)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.array(expected, np.uint8))


@pytest.mark.parametrize("x", [np.zeros((2, 2, 2)), np.zeros(4), np.array([["a"]]), np.zeros((2, 2, 4))])
def test_to_uint8_image_rejects_bad_input(x):
    with pytest.raises(ValueError):
        render.to_uint8_image(x)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_encode_png_round_trips(shape, level):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = render.encode_png(img, compress_level=level)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = np.asarray(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(back, img.reshape(5, 7) if shape == (5, 7, 1) else img)


def test_encode_png_of_a_rendered_grid_round_trips():
    grid = render.feature_map_grid(np.random.default_rng(0).random((8, 8, 5)).astype(np.float32))
    back = np.asarray(Image.open(io.BytesIO(render.encode_png(grid))))
    np.testing.assert_array_equal(back, grid)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image=np.zeros((4, 4, 3), np.float32)), "uint8"),
        (dict(image=np.zeros((4, 4, 2), np.uint8)), r"\(4, 4, 2\)"),
        (dict(image=np.zeros(4, np.uint8)), r"\(4,\)"),
        (dict(image=np.zeros((4, 4), np.uint8), compress_level=10), "compress_level must be <= 9, got 10"),
    ],
)
def test_encode_png_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render.encode_png(**kwargs)


# ---------------------------------------------------------------------------
# Import weight
# ---------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, cnn_tb.render\n"
        "heavy = [m for m in ('tensorflow', 'matplotlib', 'scipy', 'PIL') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_no_figures_are_drawn():
    code = (
        "import sys, numpy as np, cnn_tb.render as r\n"
        "r.feature_map_grid(np.ones((4, 4, 2)))\n"
        "r.overlay(np.zeros((8, 8, 3), np.uint8), np.eye(3))\n"
        "print('matplotlib.pyplot' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


def test_indexed_grid_matches_rgb_grid_and_keeps_white_separators():
    ramp = np.linspace(0.0, 1.0, 8 * 8 * 5, dtype=np.float32).reshape(8, 8, 5)
    idx, pal = render.feature_map_grid_indexed(ramp, min_tile=8)
    rgb = render.feature_map_grid(ramp, min_tile=8)
    assert idx.shape == rgb.shape[:2]
    assert (pal[idx][idx == 255] == 255).all() and (idx[0, :] == 255).all()
    lut = render.colormap_lut("viridis")
    # palette colours are the colormap at 255 levels: at most one LUT step from the RGB grid
    step = np.abs(np.diff(lut.astype(int), axis=0)).max()
    assert np.abs(pal[idx].astype(int) - rgb.astype(int)).max() <= step
    png = render.encode_png_indexed(idx, pal)
    from PIL import Image
    import io

    img = Image.open(io.BytesIO(png))
    assert img.mode == "P"
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), pal[idx])


def test_encode_jpeg_round_trips_closely():
    from PIL import Image
    import io

    img = render.overlay(np.full((32, 32, 3), 90, np.uint8), np.outer(np.arange(8), np.arange(8)).astype(float))
    back = np.asarray(Image.open(io.BytesIO(render.encode_jpeg(img))).convert("RGB")).astype(int)
    assert back.shape == img.shape
    assert np.abs(back - img).mean() < 3.0


def test_channel_mean_strip_starts_with_the_probe_image():
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = [255, 0, 0]
    strip = render.channel_mean_strip([np.eye(4)], height=16, pad=2, image=img)
    assert strip.shape == (20, 2 + 16 + 2 + 16 + 2, 3)
    assert (strip[2:18, 2:10] == [255, 0, 0]).all() and (strip[2:18, 10:18] == 0).all()
    lut = render.colormap_lut("viridis")
    assert (strip[2, 20] == lut[255]).all()  # the eye map's diagonal, after the probe
    assert (strip[:, 18:20] == 255).all()


def test_indexed_kernel_grid_equals_rgb_kernel_grid():
    k = np.random.default_rng(1).normal(size=(3, 3, 5, 7)).astype(np.float32)
    idx, pal = render.kernel_grid_indexed(k, max_in=4)
    rgb = render.kernel_grid(k, max_in=4)
    assert idx.shape == rgb.shape[:2]
    lut = render.colormap_lut("RdBu_r")
    step = np.abs(np.diff(lut.astype(int), axis=0)).max()
    assert np.abs(pal[idx].astype(int) - rgb.astype(int)).max() <= step
    assert (pal[idx][0] == 128).all()  # grey separators
