"""Tests for cnn_tb.render.encode: probe images to uint8, PNG (RGB, grey, palette), JPEG."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from cnn_tb import render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode(data):
    return Image.open(io.BytesIO(data))


# ---------------------------------------------------------------------------
# to_uint8_image
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


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 2, 2)), "`x` must have shape [H, W], [H, W, 1] or [H, W, 3]. Received: shape (2, 2, 2)"),
        (np.zeros(4), "`x` must have shape [H, W], [H, W, 1] or [H, W, 3]. Received: shape (4,)"),
        (np.array([["a"]]), "`x` must be a real numeric array. Received: an array of dtype <U1"),
        (np.zeros((2, 2, 4)), "`x` must have shape [H, W], [H, W, 1] or [H, W, 3]. Received: shape (2, 2, 4)"),
        (np.zeros((0, 2, 3)), "`x` must have shape [H, W], [H, W, 1] or [H, W, 3]. Received: shape (0, 2, 3)"),
    ],
)
def test_to_uint8_image_rejects_bad_input(x, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.to_uint8_image(x)


# ---------------------------------------------------------------------------
# encode_png
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_encode_png_round_trips(shape, level):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = render.encode_png(img, compress_level=level)
    assert data[:8] == PNG_SIGNATURE
    back = np.asarray(decode(data))
    np.testing.assert_array_equal(back, img.reshape(5, 7) if shape == (5, 7, 1) else img)


def test_encode_png_of_a_rendered_grid_round_trips():
    idx, pal = render.feature_map_grid_indexed(np.random.default_rng(0).random((8, 8, 5)).astype(np.float32))
    grid = pal[idx]
    assert grid.shape == idx.shape + (3,)
    back = np.asarray(decode(render.encode_png(grid)))
    np.testing.assert_array_equal(back, grid)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image=np.zeros((4, 4, 3), np.float32)), "`image` must be a uint8 array. Received: dtype float32"),
        (dict(image=np.zeros((4, 4, 2), np.uint8)), "`image` must have 1, 3 or 4 channels. Received: shape (4, 4, 2)"),
        (dict(image=np.zeros(4, np.uint8)), "`image` must have 2 or 3 dimensions. Received: shape (4,)"),
        (dict(image=np.zeros((0, 4), np.uint8)), "`image` must not be empty. Received: shape (0, 4)"),
        (
            dict(image=np.zeros((4, 4), np.uint8), compress_level=10),
            "`compress_level` must be an int >= 0 and <= 9. Received: compress_level=10",
        ),
    ],
)
def test_encode_png_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.encode_png(**kwargs)


# ---------------------------------------------------------------------------
# encode_png_indexed
# ---------------------------------------------------------------------------


def test_encode_png_indexed_of_a_feature_grid_round_trips():
    ramp = np.linspace(0.0, 1.0, 8 * 8 * 5, dtype=np.float32).reshape(8, 8, 5)
    idx, pal = render.feature_map_grid_indexed(ramp, min_tile=8)
    data = render.encode_png_indexed(idx, pal)
    assert data[:8] == PNG_SIGNATURE
    img = decode(data)
    assert img.mode == "P"
    np.testing.assert_array_equal(np.asarray(img), idx)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), pal[idx])


def test_encode_png_indexed_small_palette_and_levels():
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    pal = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    for level in (0, 9):
        img = decode(render.encode_png_indexed(idx, pal, compress_level=level))
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), pal[idx])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(indices=np.zeros((4, 4), np.uint8), palette=np.zeros((257, 3), np.uint8)),
            "`palette` must be [<=256, 3]. Received: shape (257, 3)",
        ),
        (
            dict(indices=np.zeros((4, 4), np.uint8), palette=np.zeros((256, 4), np.uint8)),
            "`palette` must be [<=256, 3]. Received: shape (256, 4)",
        ),
        (
            dict(indices=np.zeros((4, 4), np.uint8), palette=np.zeros((256, 3), np.int64)),
            "`palette` must be a uint8 array. Received: dtype int64",
        ),
        (
            dict(indices=np.zeros((4, 4, 1), np.uint8), palette=np.zeros((256, 3), np.uint8)),
            "`indices` must have 2 dimensions. Received: shape (4, 4, 1)",
        ),
        (
            dict(indices=np.zeros((4, 4), np.int64), palette=np.zeros((256, 3), np.uint8)),
            "`indices` must be a uint8 array. Received: dtype int64",
        ),
        (
            dict(indices=np.zeros((4, 4), np.uint8), palette=np.zeros((256, 3), np.uint8), compress_level=-1),
            "`compress_level` must be an int >= 0 and <= 9. Received: compress_level=-1",
        ),
    ],
)
def test_encode_png_indexed_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.encode_png_indexed(**kwargs)


# ---------------------------------------------------------------------------
# encode_jpeg
# ---------------------------------------------------------------------------


def test_encode_jpeg_round_trips_closely():
    img = render.overlay(np.full((32, 32, 3), 90, np.uint8), np.outer(np.arange(8), np.arange(8)).astype(float))
    data = render.encode_jpeg(img)
    assert data[:2] == b"\xff\xd8"
    back = np.asarray(decode(data).convert("RGB")).astype(int)
    assert back.shape == img.shape
    assert np.abs(back - img).mean() < 3.0


def test_encode_jpeg_grey_image():
    grey = np.full((16, 16, 1), 77, np.uint8)
    img = decode(render.encode_jpeg(grey, quality=95))
    assert img.mode == "L" and img.size == (16, 16)
    assert np.abs(np.asarray(img).astype(int) - 77).max() <= 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(image=np.zeros((4, 4, 3), np.uint8), quality=0),
            "`quality` must be an int >= 1 and <= 100. Received: quality=0",
        ),
        (dict(image=np.zeros((4, 4, 3), np.float64)), "`image` must be a uint8 array. Received: dtype float64"),
        (dict(image=np.zeros((0, 4, 3), np.uint8)), "`image` must not be empty. Received: shape (0, 4, 3)"),
    ],
)
def test_encode_jpeg_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        render.encode_jpeg(**kwargs)


# ------------------------------------------- details pinned by mutation testing


def _structured(shape=(64, 96, 3)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    img = ((xx * 7 + yy * 3) % 256).astype(np.uint8)
    img[::5] = 17
    return np.repeat(img[..., None], shape[2], axis=2) if len(shape) == 3 else img


def test_integer_images_are_clipped_not_scaled():
    x = np.array([[-5, 0, 7], [200, 255, 300]], np.int16)
    np.testing.assert_array_equal(render.to_uint8_image(x)[..., 0], [[0, 0, 7], [200, 255, 255]])
    assert render.to_uint8_image(x.astype(np.uint16)).dtype == np.uint8


def test_png_compression_level_default_is_1_and_is_applied():
    img = _structured()
    assert render.encode_png(img) == render.encode_png(img, compress_level=1)
    assert len(render.encode_png(img, compress_level=9)) < len(render.encode_png(img, compress_level=1))
    idx, pal = _structured((64, 96)), np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    assert render.encode_png_indexed(idx, pal) == render.encode_png_indexed(idx, pal, compress_level=1)
    assert len(render.encode_png_indexed(idx, pal, compress_level=9)) < len(render.encode_png_indexed(idx, pal))


def test_jpeg_quality_default_is_90_without_chroma_subsampling():
    from PIL import JpegImagePlugin

    img = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    data = render.encode_jpeg(img)
    assert data == render.encode_jpeg(img, quality=90)
    assert data != render.encode_jpeg(img, quality=75)  # Pillow's own default
    with Image.open(io.BytesIO(data)) as decoded:
        assert JpegImagePlugin.get_sampling(decoded) == 0  # 4:4:4


def test_jpeg_of_a_grey_2d_image():
    with Image.open(io.BytesIO(render.encode_jpeg(_structured((16, 24))))) as decoded:
        assert decoded.mode == "L" and decoded.size == (24, 16)
