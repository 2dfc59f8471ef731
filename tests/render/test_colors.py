"""Tests for cnn_tb.render.colors: colormap LUTs, palettes, normalisation, LUT indices."""

import re

import numpy as np
import pytest

from cnn_tb import render
from cnn_tb.render import colors

VIRIDIS = render.colormap_lut("viridis")
JET = render.colormap_lut("jet")
WHITE = np.array([255, 255, 255], np.uint8)


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


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_such_map", "unknown colormap 'no_such_map'"),
        (3, "colormap name must be a str. Received: 3"),
    ],
)
def test_colormap_lut_rejects_unknown(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.colormap_lut(name)


# ---------------------------------------------------------------------------
# palette
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["viridis", "RdBu_r", "gray"])
def test_palette_is_the_colormap_at_255_levels_then_white(name):
    lut = render.colormap_lut(name)
    pal = render.palette(name)
    assert pal.dtype == np.uint8 and pal.shape == (256, 3)
    # Entry i is the LUT at round(i * 255 / 254), computed here with integers
    # (round half up; the one tie, i = 127 -> 127.5, goes to 128 either way).
    i = np.arange(255)
    np.testing.assert_array_equal(pal[:255], lut[(i * 510 + 254) // 508])
    np.testing.assert_array_equal(pal[255], WHITE)
    np.testing.assert_array_equal(pal[0], lut[0])
    np.testing.assert_array_equal(pal[254], lut[255])
    np.testing.assert_array_equal(pal[127], lut[128])


def test_palette_gray_levels():
    pal = render.palette("gray")
    np.testing.assert_array_equal(pal[:, 0], pal[:, 1])
    np.testing.assert_array_equal(pal[:, 0], pal[:, 2])
    levels = [0, 1, 2, 126, 127, 128, 253, 254, 255]
    np.testing.assert_array_equal(pal[levels, 0], [0, 1, 2, 126, 128, 129, 254, 255, 255])


def test_palette_is_a_fresh_array_that_leaves_the_lut_alone():
    pal = render.palette("viridis")
    pal[0] = [1, 2, 3]
    np.testing.assert_array_equal(render.palette("viridis")[0], VIRIDIS[0])
    np.testing.assert_array_equal(render.colormap_lut("viridis")[0], VIRIDIS[0])


def test_palette_rejects_unknown_colormap():
    with pytest.raises(ValueError, match=re.escape("unknown colormap 'nope'")):
        render.palette("nope")


# ---------------------------------------------------------------------------
# normalize
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
        (
            dict(x=np.ones((2, 2)), mode="per_pixel"),
            "`mode` must be one of ('per_map', 'per_channel', 'global'). Received: mode='per_pixel'",
        ),
        (dict(x=np.ones(3), mode="per_map"), "mode 'per_map' needs x of shape [..., h, w]. Received: 1 dimension(s)"),
        (
            dict(x=np.ones((2, 2)), mode="per_channel"),
            "mode 'per_channel' needs x of shape [..., h, w, c]. Received: 2 dimension(s)",
        ),
        (dict(x=np.array(["a", "b"])), "`x` must be a real numeric array. Received: an array of dtype <U1"),
        (dict(x=np.zeros((0, 3))), "`x` must not be empty. Received: shape (0, 3)"),
        (dict(x=np.ones((2, 2)), lo=np.zeros(3)), "`lo` of shape (3,) does not broadcast to x of shape (2, 2)"),
        (
            dict(x=np.ones((2, 2)), hi=np.zeros((4, 2, 2))),
            "`hi` of shape (4, 2, 2) does not broadcast to x of shape (2, 2)",
        ),
    ],
)
def test_normalize_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.normalize(**kwargs)


# ---------------------------------------------------------------------------
# lut_indices / apply_colormap
# ---------------------------------------------------------------------------


def test_lut_indices_rounds_clips_and_zeroes_non_finite(no_warnings):
    x = np.array([[0.0, 1 / 255, 0.5, 100.4 / 255], [100.6 / 255, 1.0, -3.0, 7.0], [np.nan, np.inf, -np.inf, 0.25]])
    out = colors.lut_indices(x)
    assert out.dtype == np.uint8 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, [[0, 1, 128, 100], [101, 255, 0, 255], [0, 0, 0, 64]])


def test_lut_indices_accepts_integer_and_float32_input(no_warnings):
    np.testing.assert_array_equal(colors.lut_indices(np.array([0, 1, 2])), [0, 255, 255])
    np.testing.assert_array_equal(colors.lut_indices(np.array([0.2, 0.6], np.float32)), [51, 153])


def test_lut_indices_rejects_bool_arrays():
    message = "`x01` must be a real numeric array. Received: an array of dtype bool"
    with pytest.raises(ValueError, match=re.escape(message)):
        colors.lut_indices(np.array([True, False]))


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


# ------------------------------------------- details pinned by mutation testing


def test_default_colormap_is_viridis():
    x = np.linspace(0, 1, 7)
    np.testing.assert_array_equal(colors.apply_colormap(x), colors.apply_colormap(x, "viridis"))
    assert colors.colormap_lut() is colors.colormap_lut("viridis")


def test_normalize_with_only_lo_given_takes_hi_from_the_data():
    x = np.array([[1.0, 3.0], [5.0, 9.0]])
    np.testing.assert_allclose(colors.normalize(x, lo=1.0), (x - 1.0) / 8.0)
    np.testing.assert_allclose(colors.normalize(x, hi=5.0), np.clip((x - 1.0) / 4.0, 0, 1))


def test_normalize_clips_values_below_an_explicit_lo():
    out = colors.normalize(np.array([-5.0, 0.0, 5.0, 20.0]), lo=0.0, hi=10.0)
    np.testing.assert_array_equal(out, np.array([0.0, 0.0, 0.5, 1.0], np.float32))


def test_normalize_computes_in_float32_for_float32_input():
    """Explicit bounds are cast to x's dtype: a float32 activation is not promoted to float64."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000).astype(np.float32)
    lo, hi = -1.2345678901, 2.3456789012
    lo32, hi32 = np.float32(lo), np.float32(hi)
    expected = np.clip((x - lo32) / (hi32 - lo32), 0, 1)
    np.testing.assert_array_equal(colors.normalize(x, lo=lo, hi=hi), expected)
    np.testing.assert_array_equal(colors.normalize(x, lo=np.full(x.shape, lo), hi=hi), expected)


@pytest.mark.parametrize("bound", ["lo", "hi"])
def test_non_numeric_bounds_are_named_in_the_error(bound):
    message = f"`{bound}` must be a real numeric array. Received: an array of dtype <U1"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        colors.normalize(np.ones((2, 2)), **{bound: "a"})
