"""Images-dashboard feature-map grids and strips, compared channel by channel
with the model's own activations (numpy and matplotlib only)."""

import math

import keras
import matplotlib
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from tests.support.tb_data import LogDir


def _palette(cmap):
    lut = np.rint(matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return lut[np.rint(np.arange(255) * 255 / 254).astype(int)]


def _expected_tile(channel, palette, zoom):
    lo, hi = channel.min(), channel.max()
    x01 = (channel - lo) / (hi - lo) if hi > lo else np.zeros_like(channel)
    tile = palette[np.rint(x01 * 254).astype(int)]
    return np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 5, 3))
    c = keras.layers.Conv2D(7, 3, padding="same", name="c")(inp)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(c))
    model = keras.Model(inp, out)
    probes = np.random.default_rng(4).random((3, 6, 5, 3), dtype=np.float32)
    log_dir = str(tmp_path_factory.mktemp("fm"))
    logger = cnn_tb.LayerLogger(log_dir, probes, kinds=("feature_maps",), max_channels=6, cmap="magma")
    logger.attach(model).log(0)
    logger.close()
    acts = np.asarray(keras.Model(inp, c)(probes))
    return LogDir(log_dir), acts


def test_every_channel_is_in_its_own_cell(logged):
    log, acts = logged
    images = log.images(tags.RUN_NAME, "feature_maps/c")[0]
    assert len(images) == 2  # image_probes=2 by default
    palette = _palette("magma")
    zoom = math.ceil(16 / 5)  # the smaller side reaches 16 pixels
    th, tw = 6 * zoom, 5 * zoom
    cols = math.ceil(math.sqrt(6))  # max_channels=6 of 7
    for p, img in enumerate(images):
        assert img.shape == (2 * (th + 1) + 1, cols * (tw + 1) + 1, 3)
        for k in range(6):
            r, col = divmod(k, cols)
            y, x = 1 + r * (th + 1), 1 + col * (tw + 1)
            want = _expected_tile(acts[p, :, :, k], palette, zoom)
            np.testing.assert_array_equal(img[y : y + th, x : x + tw], want, err_msg=f"probe {p} channel {k}")
        # separators are white
        assert (img[0] == 255).all() and (img[:, 0] == 255).all() and (img[th + 1] == 255).all()


def test_transformation_strip_starts_with_the_probe(logged):
    log, acts = logged
    strip = log.images(tags.RUN_NAME, "transformation/channel_mean")[0][0]
    assert strip.shape[0] == 64 + 4
    assert (strip[:2] == 255).all()
