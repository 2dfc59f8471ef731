"""Kernel grids through KernelGrids: known weights in, known pixels out; kernel change."""

import warnings

import keras
import numpy as np
import pytest

import cnn_tb
from cnn_tb.contract import tags
from cnn_tb import render
from tests.support.tb_data import LogDir


def _model():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="first")(inp)
    x = keras.layers.Conv2D(2, 3, padding="same", name="deep")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    k1 = np.zeros((3, 3, 3, 4), np.float32)
    k1[:, :, 0, 0] = 1.0  # filter 0: pure red
    k1[:, :, 1, 1] = -1.0  # filter 1: negative green
    k2 = np.zeros((3, 3, 4, 2), np.float32)
    k2[0, 0, 0, 0] = 2.0
    k2[1, 1, 1, 1] = -2.0
    model.get_layer("first").set_weights([k1, np.zeros(4, np.float32)])
    model.get_layer("deep").set_weights([k2, np.zeros(2, np.float32)])
    before = {n: keras.ops.convert_to_numpy(model.get_layer(n).kernel).copy() for n in ("first", "deep")}
    log_dir = str(tmp_path_factory.mktemp("kernels"))
    x = np.random.default_rng(0).random((16, 8, 8, 3), dtype=np.float32)
    y = np.arange(16) % 2
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cnn_tb.KernelGrids(log_dir)])
    return LogDir(log_dir), model, before


def test_first_layer_is_drawn_as_rgb_filters(logged):
    log, _, _ = logged
    img = log.images(tags.RUN_NAME, "kernels/first")[-1][0]
    # 4 filters in a 2x2 grid of 12 px tiles (3x3 kernel, x4), 1 px white separators
    assert img.shape == (27, 27, 3)
    np.testing.assert_array_equal(img[1:13, 1:13].reshape(-1, 3)[0], [255, 128, 128])
    assert (img[1:13, 1:13] == [255, 128, 128]).all()  # filter 0: red
    assert (img[1:13, 14:26] == [128, 0, 128]).all()  # filter 1: -green
    assert (img[14:26, 1:13] == 128).all()  # filter 2: all zero = mid-grey
    assert (img[0, :] == 255).all() and (img[:, 13] == 255).all()


def test_deeper_layer_shows_sign_with_a_diverging_colormap(logged):
    log, _, _ = logged
    img = log.images(tags.RUN_NAME, "kernels/deep")[-1][0]
    lut = render.colormap_lut("RdBu_r")
    # rows: 2 output filters, columns: 4 input channels, 12 px tiles, 1 px grey pads
    assert img.shape == (2 * 13 + 1, 4 * 13 + 1, 3)
    tile00 = img[1:13, 1:13]
    np.testing.assert_array_equal(tile00[0:4, 0:4].reshape(-1, 3), np.tile(lut[255], (16, 1)))  # +2: red end
    np.testing.assert_array_equal(tile00[4:8, 4:8].reshape(-1, 3), np.tile(lut[128], (16, 1)))  # 0: middle
    tile11 = img[14:26, 14:26]
    np.testing.assert_array_equal(tile11[4:8, 4:8].reshape(-1, 3), np.tile(lut[0], (16, 1)))  # -2: blue end
    assert tuple(lut[255]) != tuple(lut[0])


def test_kernel_change_is_relative_l2(logged):
    log, model, before = logged
    for name in ("first", "deep"):
        after = keras.ops.convert_to_numpy(model.get_layer(name).kernel)
        want = np.linalg.norm(after - before[name]) / np.linalg.norm(before[name])
        got = log.scalars(tags.RUN_NAME, f"kernel_change/{name}")
        assert sorted(got) == [0]  # no change before training: nothing to compare with
        assert got[0] == pytest.approx(want, rel=1e-4)


def test_conv3d_kernels_warn_not_supported(tmp_path):
    inp = keras.Input((4, 8, 8, 1))
    x = keras.layers.Conv3D(2, 3, name="c3")(inp)
    x = keras.layers.Reshape((2 * 6, 6, 2))(x)
    x = keras.layers.Conv2D(2, 3, name="c2")(x)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cnn_tb.KernelGrids(str(tmp_path)).set_model(model)
    assert any("'c3'" in str(w.message) and "not supported yet" in str(w.message) for w in caught)
