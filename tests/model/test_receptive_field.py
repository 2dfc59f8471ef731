"""Receptive fields: hand-computed geometry of known stacks, and every crop box
checked against the footprint of an impulse through the real model."""

import keras
import numpy as np
import pytest

from cnn_tb.model import graph
from cnn_tb.model.receptive_field import receptive_fields, whole_image

L = keras.layers


def _positive(model):
    """All-positive kernels, zero biases: a pixel reaches an output iff it is in its field."""
    for w in model.weights:
        if "bias" in w.path or "beta" in w.path or "moving_mean" in w.path:
            w.assign(np.zeros(w.shape, "float32"))
        else:
            w.assign(np.ones(w.shape, "float32") / max(1, int(np.prod(w.shape[:-1]))))
    return model


def _stack(size, *layers, inputs_channels=1):
    inp = keras.Input((size, size, inputs_channels), name="input")
    x = inp
    for layer in layers:
        x = layer(x)
    return _positive(keras.Model(inp, x))


def _footprints(model, layer_name):
    """``[h, w, H, W]`` bool: which input pixels change output position (y, x) of the layer."""
    size = model.inputs[0].shape[1]
    c = model.inputs[0].shape[3]
    sub = keras.Model(model.inputs, model.get_layer(layer_name).output)
    eye = np.eye(size * size, dtype="float32").reshape(size * size, size, size, 1).repeat(c, axis=3)
    out = keras.ops.convert_to_numpy(sub([eye]))[..., 0]  # [H*W, h, w]
    return (out != 0).reshape(size, size, *out.shape[1:]).transpose(2, 3, 0, 1)


def _bbox(mask):
    """The bounding box of a footprint; the whole image when nothing reaches the position."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return 0, 0, mask.shape[0], mask.shape[1]
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


STACKS = {
    # name: (input size, fresh layers, {layer: (size, jump, top)} hand-computed)
    "valid_strided_pool_dilated": (
        44,
        lambda: [L.Conv2D(1, 3, name="c1"), L.Conv2D(1, 3, strides=2, name="c2"), L.MaxPooling2D(2, name="p"),
         L.Conv2D(1, 3, dilation_rate=2, padding="same", name="c3")],
        {"c1": (3, 1, 0), "c2": (5, 2, 0), "p": (7, 4, 0), "c3": (23, 4, -8)},
    ),
    "same_stride2": (
        17,
        lambda: [L.Conv2D(1, 5, strides=2, padding="same", name="c1"), L.AveragePooling2D(3, strides=2, padding="same", name="p"),
         L.Conv2D(1, 1, name="c2")],
        # c1: out 9, total pad (9-1)*2+5-17 = 4 -> 2 before; p: n=9, out 5, total (5-1)*2+3-9 = 2 -> 1 before
        {"c1": (5, 2, -2), "p": (9, 4, -4), "c2": (9, 4, -4)},
    ),
    "padding_cropping": (
        12,
        lambda: [L.ZeroPadding2D(2, name="zp"), L.Conv2D(1, 3, name="c1"), L.Cropping2D(1, name="cr"),
         L.BatchNormalization(name="bn"), L.ReLU(name="relu")],
        {"zp": (1, 1, -2), "c1": (3, 1, -2), "cr": (3, 1, -1), "bn": (3, 1, -1), "relu": (3, 1, -1)},
    ),
}


@pytest.mark.parametrize("name", list(STACKS))
def test_fields_of_known_stacks(name):
    """Size and jump as computed by hand; an inner position starts at top + i * jump."""
    size, layers, want = STACKS[name]
    model = _stack(size, *layers())
    fields = receptive_fields(model)
    assert fields["input"].box(3, 5) == (3, 5, 4, 6)
    for layer, (s, j, t) in want.items():
        f = fields[layer]
        d = f.describe()
        assert (d["size"], d["jump"], d["exact"]) == ([s, s], [j, j], True), layer
        n = len(f.starts[0])
        inner = [i for i in range(n) if t + i * j >= 0 and t + i * j + s <= size]
        assert inner, layer
        for i in inner:
            assert f.box(i, i) == (t + i * j, t + i * j, t + i * j + s, t + i * j + s), (layer, i)


def _branchy():
    inp = keras.Input((14, 14, 1), name="input")
    a = L.Conv2D(1, 3, padding="same", name="a")(inp)
    b = L.Conv2D(1, 5, padding="same", name="b")(inp)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([s, a])
    inner_in = keras.Input((7, 7, 2))
    inner = keras.Model(inner_in, L.Conv2D(1, 3, padding="same", name="ic")(inner_in), name="inner")
    p = L.MaxPooling2D(2, name="p")(c)
    out = inner(p)
    return _positive(keras.Model(inp, L.Conv2D(1, 2, name="last")(out)))


def _upsampled():
    return _stack(8, L.Conv2D(1, 3, padding="same", name="c1"), L.UpSampling2D(2, name="up"),
                  L.Conv2D(1, 3, padding="same", name="c2"))


@pytest.mark.parametrize(
    "make",
    [lambda k=k: _stack(STACKS[k][0], *STACKS[k][1]()) for k in STACKS] + [_branchy, _upsampled],
    ids=list(STACKS) + ["branches_nested", "upsampling"],
)
def test_every_crop_box_bounds_the_impulse_footprint(make):
    """The box of every position of every layer IS the bounding box of the input
    pixels that reach it (padding, dilation, pooling, branches, nesting, upsampling)."""
    model = make()
    fields = receptive_fields(model)
    size = model.inputs[0].shape[1]
    # every map layer of the outer graph but a nested model's own entry (its field is
    # its output layer's: test_nested_and_merged_layers)
    names = [i.name for i in graph.walk(model) if i.kind == "map" and i.parent is None and i.class_name != "Functional"]
    for name in names:
        foot = _footprints(model, name)
        h, w = foot.shape[:2]
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        y0, x0, y1, x1 = fields[name].boxes(ys, xs)
        for y in range(h):
            for x in range(w):
                want = _bbox(foot[y, x])
                got = (y0[y, x], x0[y, x], y1[y, x], x1[y, x])
                assert got == fields[name].box(y, x) == want, (name, y, x)


def test_nested_and_merged_layers():
    fields = receptive_fields(_branchy())
    assert fields["add"].box(5, 5) == (3, 3, 8, 8)  # the union of a 3x3 and a 5x5 field
    assert fields["cat"].box(5, 5) == fields["add"].box(5, 5)
    assert fields["inner"].box(2, 2) == fields["inner/ic"].box(2, 2)
    assert fields["inner/ic"].describe()["size"] == [5 + 1 + 2 * 2] * 2
    assert fields["last"].describe()["jump"] == [2.0, 2.0]


def test_unknown_layers_and_vectors_see_the_whole_image():
    inp = keras.Input((10, 10, 3), name="input")
    x = L.Conv2D(4, 3, padding="same", name="c")(inp)
    v = L.GlobalAveragePooling2D(name="gap")(x)
    r = L.Reshape((1, 1, 4), name="r")(v)  # a map fed by a vector
    m = L.Multiply(name="se")([x, r])  # squeeze-and-excite: global context
    z = L.Resizing(5, 5, name="resize")(m)  # geometry not modelled
    fields = receptive_fields(keras.Model(inp, z))
    assert fields["c"].exact and fields["c"].box(4, 4) == (3, 3, 6, 6)
    for name in ("r", "se", "resize"):
        assert not fields[name].exact
        assert fields[name].box(0, 0) == (0, 0, 10, 10)
    assert "gap" not in fields


def test_boxes_near_the_border_and_of_padded_positions():
    model = _stack(9, L.ZeroPadding2D(1, name="zp"), L.Conv2D(1, 3, strides=4, padding="same", name="c"))
    fields = receptive_fields(model)
    assert fields["zp"].box(0, 0) == (0, 0, 9, 9)  # a padded position sees nothing: the whole image
    assert fields["zp"].box(1, 1) == (0, 0, 1, 1)
    assert fields["c"].box(0, 0) == (0, 0, 2, 2)  # the first tap is padding
    assert fields["c"].box(1, 2) == (3, 7, 6, 9)  # so is the last one along x
    assert whole_image((4, 6), (2, 3)).box(1, 2) == (0, 0, 4, 6)
