"""Kernels in one canonical layout, their relative change, and the tracker."""

import keras
import numpy as np
import pytest

from cnn_tb.model import kernels


@pytest.mark.parametrize(
    "make, input_shape, canonical_shape",
    [
        (lambda: keras.layers.Conv2D(5, 3), (8, 8, 2), (3, 3, 2, 5)),
        (lambda: keras.layers.Conv2DTranspose(5, 3), (8, 8, 2), (3, 3, 2, 5)),
        (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 3), (3, 3, 1, 6)),
        (lambda: keras.layers.SeparableConv2D(4, 3), (8, 8, 3), (3, 3, 1, 3)),
        (lambda: keras.layers.Conv1D(4, 5), (20, 2), (1, 5, 2, 4)),
    ],
)
def test_canonical_kernel_layouts(make, input_shape, canonical_shape):
    layer = make()
    layer.build((None,) + input_shape)
    assert kernels.is_conv(layer) and kernels.unsupported_reason(layer) is None
    canon = kernels.canonical(layer)
    assert canon.shape == canonical_shape and canon.dtype == np.float32
    raw = kernels.full_kernel(layer)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        np.testing.assert_array_equal(canon, np.swapaxes(raw, 2, 3))
    elif isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        kh, kw, cin, mult = raw.shape
        # output channel j of the canonical kernel is input channel j // mult, multiplier j % mult
        for j in range(cin * mult):
            np.testing.assert_array_equal(canon[:, :, 0, j], raw[:, :, j // mult, j % mult])
    elif isinstance(layer, keras.layers.Conv1D):
        np.testing.assert_array_equal(canon[0], raw)
    else:
        np.testing.assert_array_equal(canon, raw)
    assert kernels.kernel_shape(layer) == tuple(raw.shape)


def test_non_conv_and_3d_layers():
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    assert not kernels.is_conv(dense) and kernels.kernel_shape(dense) is None
    c3 = keras.layers.Conv3D(2, 3)
    c3.build((None, 4, 8, 8, 1))
    assert kernels.is_conv(c3) and "not supported yet" in kernels.unsupported_reason(c3)
    assert kernels.canonical(c3) is None
    unbuilt = keras.layers.Conv2D(2, 3)
    assert kernels.unsupported_reason(unbuilt) == "the layer is not built"


def test_relative_change():
    a = np.array([3.0, 4.0], np.float32)
    assert kernels.relative_change(a, None) is None
    assert kernels.relative_change(a, np.zeros(3, np.float32)) is None  # shape changed
    assert kernels.relative_change(a + np.array([0.0, 5.0]), a) == pytest.approx(1.0)  # |(0,5)| / |(3,4)|
    assert kernels.relative_change(np.zeros(2), np.zeros(2)) == 0.0
    assert kernels.relative_change(np.ones(2), np.zeros(2)) == float("inf")


def test_kernel_tracker_reports_change_since_the_previous_read():
    layer = keras.layers.Conv2D(2, 3)
    layer.build((None, 8, 8, 1))
    tracker = kernels.KernelTracker({"c": layer})
    canon, change = tracker.read()
    np.testing.assert_array_equal(canon["c"], kernels.canonical(layer))
    assert change == {"c": None}
    before = kernels.full_kernel(layer)
    layer.kernel.assign(before * 2.0)
    _, change = tracker.read()
    assert change["c"] == pytest.approx(1.0, rel=1e-6)  # ||2W - W|| / ||W||
    _, change = tracker.read()
    assert change["c"] == 0.0
    tracker.reset()
    assert tracker.read()[1] == {"c": None}


def test_3d_kernels_are_named_in_the_reason_and_have_no_shape():
    c3 = keras.layers.Conv3DTranspose(2, 3)
    c3.build((None, 4, 8, 8, 1))
    assert kernels.unsupported_reason(c3) == "Conv3DTranspose (3-D kernels) is not supported yet"
    assert kernels.kernel_shape(c3) is None


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_kernels_are_read_as_float32(dtype):
    layer = keras.layers.Conv2D(2, 3, dtype=dtype)
    layer.build((None, 8, 8, 1))
    raw = kernels.full_kernel(layer)
    assert raw.dtype == np.float32
    np.testing.assert_array_equal(raw, np.asarray(layer.kernel.numpy(), np.float32))


def test_canonical_uses_the_kernel_it_is_given():
    layer = keras.layers.Conv2DTranspose(3, 2)
    layer.build((None, 8, 8, 4))
    raw = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)  # [kh, kw, out, in]
    np.testing.assert_array_equal(kernels.canonical(layer, raw), np.swapaxes(raw, 2, 3))


def test_kernel_tracker_reads_each_layer_in_its_canonical_layout():
    layers = {"t": keras.layers.Conv2DTranspose(3, 2), "d": keras.layers.DepthwiseConv2D(3, depth_multiplier=2)}
    layers["t"].build((None, 8, 8, 4))
    layers["d"].build((None, 8, 8, 3))
    canon, change = kernels.KernelTracker(layers).read()
    assert canon["t"].shape == (2, 2, 4, 3) and canon["d"].shape == (3, 3, 1, 6)
    for name, layer in layers.items():
        np.testing.assert_array_equal(canon[name], kernels.canonical(layer))
    assert change == {"t": None, "d": None}
