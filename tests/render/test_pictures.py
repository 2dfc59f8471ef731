"""Tests for cnn_tb.render.pictures: feature-map grids, strips, kernel grids, overlays."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest

from cnn_tb import render
from cnn_tb.render import colors

VIRIDIS = render.colormap_lut("viridis")
RDBU = render.colormap_lut("RdBu_r")
JET = render.colormap_lut("jet")
WHITE = np.array([255, 255, 255], np.uint8)


def ramp_map():
    """A 16x16 map with values 0..255 in row-major order."""
    return np.arange(256, dtype=np.float32).reshape(16, 16)


def palette_colours(lut, idx):
    """The colours of palette indices 0..254, computed here: LUT[round(idx * 255 / 254)]."""
    return lut[(np.asarray(idx, np.int64) * 510 + 254) // 508]


def expected_feature_grid(act, max_channels=None, min_tile=16, cols=None):
    """feature_map_grid_indexed recomputed with plain numpy, one channel at a time.

    Returns (indices [H, W], n, cols, tile_h, tile_w).
    """
    act = np.asarray(act, np.float64)
    h, w, c = act.shape
    n = c if max_channels is None else min(c, max_channels)
    factor = min(max(1, math.ceil(min_tile / min(h, w))), 8)
    cols = math.ceil(math.sqrt(n)) if cols is None else cols
    rows = math.ceil(n / cols)
    th, tw = h * factor, w * factor
    out = np.full((rows * (th + 1) + 1, cols * (tw + 1) + 1), 255, np.uint8)
    for k in range(n):
        m = act[:, :, k]
        span = m.max() - m.min()
        x01 = (m - m.min()) / span if span > 0 else np.zeros_like(m)
        small = np.rint(x01 * 254).astype(np.uint8)
        big = np.kron(small, np.ones((factor, factor), np.uint8))
        r, cc = k // cols, k % cols
        y, x = 1 + r * (th + 1), 1 + cc * (tw + 1)
        out[y : y + th, x : x + tw] = big
    return out, n, cols, th, tw


def grid_cell(grid, k, cols, th, tw):
    """The tile at grid cell k (row-major) of a grid with 1-pixel separators."""
    r, c = k // cols, k % cols
    y, x = 1 + r * (th + 1), 1 + c * (tw + 1)
    return grid[y : y + th, x : x + tw]


# ---------------------------------------------------------------------------
# feature_map_grid_indexed
# ---------------------------------------------------------------------------


def test_feature_map_grid_ramp_gives_palette_colours(no_warnings):
    act = np.zeros((16, 16, 2), np.float32)
    act[..., 0] = ramp_map()
    act[..., 1] = -ramp_map()
    idx, pal = render.feature_map_grid_indexed(act)  # 16x16 tiles: factor 1, 1x2 grid.
    assert idx.shape == (18, 35) and idx.dtype == np.uint8
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    v = np.arange(256).reshape(16, 16)
    # Value v of 0..255 is round(v * 254 / 255) (no ties: 508 v is never 255 * odd).
    np.testing.assert_array_equal(idx[1:17, 1:17], (v * 508 + 255) // 510)
    np.testing.assert_array_equal(idx[1:17, 18:34], ((255 - v) * 508 + 255) // 510)
    rgb = pal[idx]
    np.testing.assert_array_equal(rgb[1:17, 1:17], palette_colours(VIRIDIS, (v * 508 + 255) // 510))
    np.testing.assert_array_equal(rgb[1, 1], VIRIDIS[0])
    np.testing.assert_array_equal(rgb[16, 16], VIRIDIS[255])
    np.testing.assert_array_equal(rgb[1, 18], VIRIDIS[255])
    np.testing.assert_array_equal(rgb[16, 33], VIRIDIS[0])
    for sep in (idx[0], idx[17], idx[:, 0], idx[:, 17], idx[:, 34]):
        assert (sep == 255).all()
    for sep in (rgb[0], rgb[17], rgb[:, 0], rgb[:, 17], rgb[:, 34]):
        assert (sep == WHITE).all()


def test_feature_map_grid_upscales_small_maps():
    act = np.zeros((4, 4, 3), np.float32)
    act[1, 2, 0] = 1.0  # Channel 0: one hot pixel; channels 1, 2 constant.
    idx, pal = render.feature_map_grid_indexed(act, cmap="gray")  # factor 4: 16x16 tiles.
    assert idx.shape == (2 * 17 + 1, 2 * 17 + 1)
    rgb = pal[idx]
    expected = np.zeros((16, 16), np.uint8)
    expected[4:8, 8:12] = 254
    np.testing.assert_array_equal(idx[1:17, 1:17], expected)
    np.testing.assert_array_equal(rgb[1:17, 1:17, 0], np.where(expected == 254, 255, 0))
    assert (idx[1:17, 18:34] == 0).all() and (idx[18:34, 1:17] == 0).all()
    assert (rgb[1:17, 18:34] == 0).all() and (rgb[18:34, 1:17] == 0).all()
    assert (idx[18:34, 18:34] == 255).all() and (rgb[18:34, 18:34] == 255).all()  # Empty fourth cell.


def test_feature_map_grid_constant_map_renders_palette0_without_warnings(no_warnings):
    idx, pal = render.feature_map_grid_indexed(np.full((16, 16, 1), 3.5, np.float32))
    assert (idx[1:17, 1:17] == 0).all()
    assert (pal[idx][1:17, 1:17] == VIRIDIS[0]).all()


def test_feature_map_grid_nan_does_not_propagate(no_warnings):
    act = np.tile(ramp_map()[:, :, None], (1, 1, 2))
    act[0, 0, 0] = np.nan
    act[0, 1, 0] = np.inf
    act[..., 1] = np.nan
    idx, pal = render.feature_map_grid_indexed(act)
    rgb = pal[idx]
    assert idx[1, 1] == 0 and idx[1, 2] == 0
    np.testing.assert_array_equal(rgb[1, 1], VIRIDIS[0])
    np.testing.assert_array_equal(rgb[1, 2], VIRIDIS[0])
    # Finite values keep their place: min 2, max 255.
    assert idx[16, 16] == 254 and idx[1, 3] == 0
    np.testing.assert_array_equal(rgb[16, 16], VIRIDIS[255])
    np.testing.assert_array_equal(rgb[1, 3], VIRIDIS[0])
    v = np.arange(256).reshape(16, 16)
    expected = ((v - 2) * 508 + 253) // 506  # round((v - 2) * 254 / 253), no ties.
    expected[0, :2] = 0
    np.testing.assert_array_equal(idx[1:17, 1:17], expected)
    assert (idx[1:17, 18:34] == 0).all() and (rgb[1:17, 18:34] == VIRIDIS[0]).all()


def test_feature_map_grid_max_channels_and_cols_shapes():
    act = np.random.default_rng(0).random((16, 16, 10)).astype(np.float32)
    assert render.feature_map_grid_indexed(act, max_channels=4)[0].shape == (35, 35)
    assert render.feature_map_grid_indexed(act, max_channels=4, cols=4)[0].shape == (18, 69)
    assert render.feature_map_grid_indexed(act, max_channels=100)[0].shape == (3 * 17 + 1, 4 * 17 + 1)
    assert render.feature_map_grid_indexed(act, cols=1)[0].shape == (10 * 17 + 1, 18)


def distinct_channels(h, w, c, seed=0):
    """[h, w, c] float32 whose channels differ after per-map normalisation.

    Channel k is a different permutation of 0..h*w-1, scaled by k + 1 and shifted by
    -3 k (so a global normalisation would give other values). Normalised it is
    perm / (h*w - 1); with h*w == 15, 254 * perm / 14 is never within 1/14 of a tie.
    """
    assert h * w == 15
    rng = np.random.default_rng(seed)
    perms = []
    while len(perms) < c:
        p = rng.permutation(h * w)
        if not any((p == q).all() for q in perms):
            perms.append(p)
    act = np.stack([p.reshape(h, w) * (k + 1) - 3 * k for k, p in enumerate(perms)], axis=-1)
    return act.astype(np.float32)


@pytest.mark.parametrize(
    "c, max_channels, cols, min_tile, shape",
    [
        (7, None, None, 16, (3 * 19 + 1, 3 * 31 + 1)),  # 3x3 grid, two empty cells, factor 6.
        (10, 6, None, 16, (2 * 19 + 1, 3 * 31 + 1)),  # max_channels cuts to 6: 2x3.
        (10, 6, 4, 16, (2 * 19 + 1, 4 * 31 + 1)),  # 6 channels in 4 columns: 2x4.
        (9, None, 2, 16, (5 * 19 + 1, 2 * 31 + 1)),  # 5x2, last row half empty.
        (5, None, 1, 1, (5 * 4 + 1, 1 * 6 + 1)),  # One column, factor 1.
        (5, None, 5, 5, (1 * 7 + 1, 5 * 11 + 1)),  # One row, factor 2.
        (4, 100, None, 16, (2 * 19 + 1, 2 * 31 + 1)),  # max_channels above c.
    ],
)
def test_feature_map_grid_places_each_channel_in_its_own_cell(c, max_channels, cols, min_tile, shape, no_warnings):
    act = distinct_channels(3, 5, c)
    idx, pal = render.feature_map_grid_indexed(act, max_channels=max_channels, cols=cols, min_tile=min_tile)
    expected, n, grid_cols, th, tw = expected_feature_grid(act, max_channels, min_tile, cols)
    assert idx.shape == expected.shape == shape
    # The data can tell channels apart: neighbouring cells would not match by chance.
    tiles = [grid_cell(expected, k, grid_cols, th, tw) for k in range(n)]
    for k in range(n - 1):
        assert not (tiles[k] == tiles[k + 1]).all()
    for k in range(n):
        np.testing.assert_array_equal(
            grid_cell(idx, k, grid_cols, th, tw), tiles[k], err_msg=f"grid cell {k} does not show channel {k}"
        )
    # Separators, frame and empty trailing cells are index 255 (white), nothing else is.
    np.testing.assert_array_equal(idx, expected)
    assert (pal[idx][expected == 255] == WHITE).all()
    assert (idx != 255).sum() == n * th * tw


def test_feature_map_grid_hot_pixel_of_channel_k_is_in_cell_k(no_warnings):
    act = np.zeros((4, 4, 13), np.float32)
    for k in range(13):
        act[k // 4, k % 4, k] = 1.0 + k  # Channel k: hot pixel number k.
    idx, _ = render.feature_map_grid_indexed(act, min_tile=16)  # factor 4, 4x4 grid.
    assert idx.shape == (4 * 17 + 1, 4 * 17 + 1)
    for k in range(13):
        cell = grid_cell(idx, k, 4, 16, 16)
        expected = np.zeros((16, 16), np.uint8)
        expected[4 * (k // 4) : 4 * (k // 4) + 4, 4 * (k % 4) : 4 * (k % 4) + 4] = 254
        np.testing.assert_array_equal(cell, expected, err_msg=f"cell {k}")
    for k in range(13, 16):
        assert (grid_cell(idx, k, 4, 16, 16) == 255).all()


def test_feature_map_grid_ignores_channels_beyond_max_channels():
    act = distinct_channels(3, 5, 8)
    idx, _ = render.feature_map_grid_indexed(act, max_channels=5, cols=3)
    changed = act.copy()
    changed[..., 5:] = np.random.default_rng(1).standard_normal((3, 5, 3)) * 100
    np.testing.assert_array_equal(render.feature_map_grid_indexed(changed, max_channels=5, cols=3)[0], idx)
    expected = expected_feature_grid(act, 5, 16, 3)[0]
    np.testing.assert_array_equal(idx, expected)


def test_feature_map_grid_palette_matches_the_colormap_within_one_step():
    ramp = np.linspace(0.0, 1.0, 8 * 8 * 5, dtype=np.float32).reshape(8, 8, 5)
    idx, pal = render.feature_map_grid_indexed(ramp, min_tile=8)
    np.testing.assert_array_equal(pal, render.palette("viridis"))
    assert (pal[idx][idx == 255] == 255).all() and (idx[0, :] == 255).all()
    # The exact colour of each value (LUT[round(x * 255)]), laid out like the indices.
    maps = np.moveaxis(ramp, -1, 0).astype(np.float64)
    lo, hi = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    exact = VIRIDIS[np.rint((maps - lo) / (hi - lo) * 255).astype(np.intp)]
    rgb_reference = render.tile(exact, pad=1, pad_value=255)
    assert idx.shape == rgb_reference.shape[:2]
    # Palette colours are the colormap at 255 levels: at most one LUT step away.
    step = np.abs(np.diff(VIRIDIS.astype(int), axis=0)).max()
    assert np.abs(pal[idx].astype(int) - rgb_reference.astype(int)).max() <= step


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(act=np.zeros((4, 4))), "`act` must have 3 dimensions. Received: shape (4, 4)"),
        (dict(act=np.zeros((4, 4, 0))), "`act` must have non-zero sizes. Received: shape (4, 4, 0)"),
        (dict(act=np.zeros((4, 4, 2), bool)), "`act` must be a real numeric array. Received: an array of dtype bool"),
        (dict(act=np.zeros((4, 4, 2)), max_channels=0), "`max_channels` must be an int >= 1. Received: max_channels=0"),
        (dict(act=np.zeros((4, 4, 2)), cols=0), "`cols` must be an int >= 1. Received: cols=0"),
        (dict(act=np.zeros((4, 4, 2)), cmap="nope"), "unknown colormap 'nope'"),
    ],
)
def test_feature_map_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.feature_map_grid_indexed(**kwargs)


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


def test_channel_mean_strip_starts_with_the_probe_image():
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :4] = [255, 0, 0]
    strip = render.channel_mean_strip([np.eye(4)], height=16, pad=2, image=img)
    assert strip.shape == (20, 2 + 16 + 2 + 16 + 2, 3)
    assert (strip[2:18, 2:10] == [255, 0, 0]).all() and (strip[2:18, 10:18] == 0).all()
    assert (strip[2, 20] == VIRIDIS[255]).all()  # the eye map's diagonal, after the probe
    assert (strip[:, 18:20] == 255).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(maps=[]), "`maps` must hold at least one 2-D array. Received: an empty sequence"),
        (dict(maps=[np.zeros(4)]), "`maps[0]` must be a non-empty 2-D array. Received: shape (4,)"),
        (
            dict(maps=[np.zeros((2, 2)), np.zeros((0, 2))]),
            "`maps[1]` must be a non-empty 2-D array. Received: shape (0, 2)",
        ),
        (dict(maps=np.zeros((3, 3))), "`maps` must be a sequence of 2-D arrays. Received: one array of shape (3, 3)"),
        (dict(maps=[np.zeros((2, 2))], height=0), "`height` must be an int >= 1. Received: height=0"),
        (dict(maps=[np.zeros((2, 2))], pad=-1), "`pad` must be an int >= 0. Received: pad=-1"),
        (
            dict(maps=[np.zeros((2, 2))], image=np.zeros((4, 4, 2), np.uint8)),
            "`image` must have 1 or 3 channels. Received: shape (4, 4, 2)",
        ),
    ],
)
def test_channel_mean_strip_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.channel_mean_strip(**kwargs)


# ---------------------------------------------------------------------------
# kernel_grid / kernel_grid_indexed
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
        (dict(kernel=np.zeros((3, 3, 4))), "`kernel` must have 4 dimensions. Received: shape (3, 3, 4)"),
        (
            dict(kernel=np.zeros((3, 3, 4, 2)), rgb=True),
            "rgb=True needs a kernel with c_in == 3. Received: shape (3, 3, 4, 2)",
        ),
        (dict(kernel=np.zeros((3, 3, 3, 2)), rgb="yes"), "`rgb` must be True or False. Received: rgb='yes'"),
        (dict(kernel=np.zeros((3, 3, 3, 2)), max_out=0), "`max_out` must be an int >= 1. Received: max_out=0"),
        (dict(kernel=np.zeros((3, 3, 3, 2)), max_in=0), "`max_in` must be an int >= 1. Received: max_in=0"),
        (dict(kernel=np.zeros((3, 0, 3, 2))), "`kernel` must have non-zero sizes. Received: shape (3, 0, 3, 2)"),
    ],
)
def test_kernel_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.kernel_grid(**kwargs)


def test_indexed_kernel_grid_equals_rgb_kernel_grid():
    k = np.random.default_rng(1).normal(size=(3, 3, 5, 7)).astype(np.float32)
    idx, pal = render.kernel_grid_indexed(k, max_in=4)
    rgb = render.kernel_grid(k, max_in=4)
    assert idx.shape == rgb.shape[:2]
    step = np.abs(np.diff(RDBU.astype(int), axis=0)).max()
    assert np.abs(pal[idx].astype(int) - rgb.astype(int)).max() <= step
    assert (pal[idx][0] == 128).all()  # grey separators


def test_kernel_grid_indexed_indices_and_palette(no_warnings):
    k = np.zeros((1, 1, 2, 2), np.float32)
    k[0, 0, 0, 0] = 2.0  # -> index 254
    k[0, 0, 1, 0] = -2.0  # -> index 0
    k[0, 0, 1, 1] = 0.5  # 0.5 + 0.5 / 4 = 0.625 -> round(158.75) = 159; zero weights -> 127
    idx, pal = render.kernel_grid_indexed(k, min_tile=1)  # Rows: output filters; columns: inputs.
    expected = np.full((5, 5), 255)
    expected[1, 1], expected[1, 3] = 254, 0
    expected[3, 1], expected[3, 3] = 127, 159
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(pal[:255], render.palette("RdBu_r")[:255])
    np.testing.assert_array_equal(pal[255], [128, 128, 128])
    # The shared palette is not modified by the grey separator entry.
    np.testing.assert_array_equal(render.palette("RdBu_r")[255], WHITE)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel=np.zeros((3, 3, 4))), "`kernel` must have 4 dimensions. Received: shape (3, 3, 4)"),
        (dict(kernel=np.zeros((3, 0, 3, 2))), "`kernel` must have non-zero sizes. Received: shape (3, 0, 3, 2)"),
        (dict(kernel=np.zeros((3, 3, 3, 2)), max_out=0), "`max_out` must be an int >= 1. Received: max_out=0"),
    ],
)
def test_kernel_grid_indexed_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.kernel_grid_indexed(**kwargs)


# ---------------------------------------------------------------------------
# overlay
# ---------------------------------------------------------------------------


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
    np.testing.assert_array_equal(out[0, 0], JET[colors.lut_indices(render.normalize(heat)[0, 0])])


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
        (
            dict(image=np.zeros((4, 4, 3)), heat=np.ones((2, 2))),
            "`image` must be a uint8 array. Received: dtype float64",
        ),
        (
            dict(image=np.zeros((4, 4, 2), np.uint8), heat=np.ones((2, 2))),
            "`image` must have 1 or 3 channels. Received: shape (4, 4, 2)",
        ),
        (
            dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones(4)),
            "`heat` must have 2 dimensions. Received: shape (4,)",
        ),
        (
            dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones((2, 2)), alpha=1.5),
            "`alpha` must be a number in [0.0, 1.0]. Received: alpha=1.5",
        ),
        (
            dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones((2, 2)), alpha="x"),
            "`alpha` must be a number in [0.0, 1.0]. Received: alpha='x'",
        ),
        (
            dict(image=np.zeros((4, 4, 3), np.uint8), heat=np.ones((2, 2)), normalize_heat=1),
            "`normalize_heat` must be True or False. Received: normalize_heat=1",
        ),
    ],
)
def test_overlay_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.overlay(**kwargs)


# ---------------------------------------------------------------------------
# Import weight (the whole cnn_tb.render package)
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
        "r.feature_map_grid_indexed(np.ones((4, 4, 2)))\n"
        "r.kernel_grid(np.ones((3, 3, 2, 2)))\n"
        "r.channel_mean_strip([np.eye(3)])\n"
        "r.overlay(np.zeros((8, 8, 3), np.uint8), np.eye(3))\n"
        "print('matplotlib.pyplot' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


# ------------------------------------------- details pinned by mutation testing


@pytest.mark.parametrize("min_tile", [0, -1, 1.5])
def test_feature_map_grid_names_a_bad_min_tile(min_tile):
    message = f"`min_tile` must be an int >= 1. Received: min_tile={min_tile!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        render.feature_map_grid_indexed(np.ones((4, 4, 2)), min_tile=min_tile)


def test_channel_mean_strip_defaults_height_64_pad_2():
    out = render.channel_mean_strip([np.arange(16.0).reshape(4, 4)])
    assert out.shape == (64 + 2 * 2, 64 + 2 * 2, 3) and out.dtype == np.uint8
    assert (out[:2] == 255).all() and (out[:, :2] == 255).all()


def test_channel_mean_strip_keeps_the_aspect_ratio_of_the_probe_and_of_narrow_maps():
    image = np.zeros((8, 16, 3), np.uint8)  # twice as wide as tall
    narrow = np.arange(64.0).reshape(64, 1)  # 1 pixel wide at height 64
    out = render.channel_mean_strip([narrow], height=16, pad=0, image=image)
    assert out.shape == (16, 32 + 1, 3)  # the probe at 16 x 32, the map at max(1, round(1 * 16 / 64)) = 1
    assert (out[:, :32] == 0).all()
    tall = np.zeros((64, 1, 3), np.uint8)
    assert render.channel_mean_strip([narrow], height=16, pad=0, image=tall).shape == (16, 1 + 1, 3)


def test_channel_mean_strip_errors_name_the_map():
    with pytest.raises(ValueError, match=r"^`maps\[1\]` must be a real numeric array\. Received: an array of dtype <U1$"):
        render.channel_mean_strip([np.ones((2, 2)), np.array([["a"]])])
    message = "`maps` must hold at least one 2-D array. Received: an empty sequence"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        render.channel_mean_strip([])


def test_kernel_grid_indexed_keeps_32_filters_and_16_inputs_by_default():
    kernel = np.random.default_rng(0).normal(size=(1, 1, 20, 40))
    idx, _ = render.kernel_grid_indexed(kernel, min_tile=1)
    assert idx.shape == (32 * 2 + 1, 16 * 2 + 1)  # one 1x1 tile per (filter, input) and 1-pixel lines
    few, _ = render.kernel_grid_indexed(kernel, max_out=3, max_in=2, min_tile=1)
    assert few.shape == (3 * 2 + 1, 2 * 2 + 1)
    # the scale is the max |w| of the kept slices only
    kept = kernel[:, :, :2, :3]
    expected = np.rint((0.5 + kept / (2 * np.abs(kept).max())) * 254).astype(np.uint8)
    np.testing.assert_array_equal(few[1::2, 1::2], expected[0, 0].T)


def test_overlay_without_normalisation_clips_before_upsampling():
    image = np.zeros((1, 5, 3), np.uint8)
    heat = np.array([[-1.0, 1.0]])  # clipped to [0, 1], then upsampled: 0, .25, .5, .75, 1
    out = render.overlay(image, heat, alpha=1.0, cmap="gray", normalize_heat=False)
    np.testing.assert_array_equal(out[0, :, 0], np.rint(np.array([0, 0.25, 0.5, 0.75, 1]) * 255).astype(np.uint8))
    hot = render.overlay(image, np.array([[0.0, 2.0]]), alpha=1.0, cmap="gray", normalize_heat=False)
    np.testing.assert_array_equal(hot[0, :, 0], np.rint(np.array([0, 0.25, 0.5, 0.75, 1]) * 255).astype(np.uint8))
