"""Images-dashboard feature-map grids and strips, compared channel by channel
with the model's own activations (numpy and matplotlib only)."""

import math

import keras
import matplotlib
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from cnn_tb.render.pictures import CAPTION_HEIGHT
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
    acts = keras.ops.convert_to_numpy(keras.Model(inp, c)(probes))
    return LogDir(log_dir), acts


def test_every_channel_is_in_its_own_cell(logged):
    log, acts = logged
    images = log.images(tags.RUN_NAME, "feature_maps/c")[0]
    assert len(images) == 2  # image_probes=2 by default
    palette = _palette("magma")
    zoom = math.ceil(16 / 5)  # the smaller side reaches 16 pixels
    th, tw = 6 * zoom, 5 * zoom
    cols = math.ceil(math.sqrt(6))  # max_channels=6 of 7
    bar = CAPTION_HEIGHT
    for p, titled in enumerate(images):
        assert titled.shape == (bar + 2 * (th + 1) + 1, cols * (tw + 1) + 1, 3)
        assert titled[:bar].min() < 200 and (titled[:bar] == 255).mean() > 0.5  # the caption names the probe
        img = titled[bar:]
        for k in range(6):
            r, col = divmod(k, cols)
            y, x = 1 + r * (th + 1), 1 + col * (tw + 1)
            want = _expected_tile(acts[p, :, :, k], palette, zoom)
            np.testing.assert_array_equal(img[y : y + th, x : x + tw], want, err_msg=f"probe {p} channel {k}")
        # separators are white
        assert (img[0] == 255).all() and (img[:, 0] == 255).all() and (img[th + 1] == 255).all()


def test_transformation_strip_starts_with_the_probe(logged):
    log, acts = logged
    strip = log.images(tags.RUN_NAME, "transformation/channel_mean")[0][0][CAPTION_HEIGHT:]
    assert strip.shape[0] == 64 + 4
    assert (strip[:2] == 255).all()
    # the probe first (64 px tall, aspect kept: 6x5 -> 64x53), then the channel-mean map
    probe = np.rint(np.random.default_rng(4).random((3, 6, 5, 3), dtype=np.float32) * 255)[0]
    rows = np.minimum(((np.arange(64) + 0.5) * 6 / 64).astype(int), 5)
    colsi = np.minimum(((np.arange(53) + 0.5) * 5 / 53).astype(int), 4)
    np.testing.assert_array_equal(strip[2:66, 2:55], probe[rows][:, colsi])
    mean = acts[0].mean(axis=-1)
    x01 = (mean - mean.min()) / (mean.max() - mean.min())
    lut = np.rint(matplotlib.colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    want = lut[np.rint(x01 * 255).astype(int)][rows][:, colsi]
    got = strip[2:66, 57:110]
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 3  # float32 mean on the device
