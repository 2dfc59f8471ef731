"""The small model and data the distribution scripts train (imported by the
scripts, which run with this folder first on ``sys.path``)."""

import numpy as np


def build(keras):
    L = keras.layers
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, name="c1")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="act")(x)
    x = L.Conv2D(4, 3, strides=2, name="c2")(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(L.Flatten()(x)))


def data(n=64):
    """``(x, y)``: ``n`` random images and labels 0..3, the same every call."""
    rng = np.random.default_rng(0)
    return rng.random((n, 16, 16, 3), dtype=np.float32), np.arange(n) % 4
