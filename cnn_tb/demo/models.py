"""Small Keras CNNs for demos and tests.

:func:`notebook_cnn` is the kind of network one writes in a notebook to learn
how CNNs work: four conv blocks (Conv2D -> BatchNormalization -> LeakyReLU),
then a small dense head. Its layers have short, readable names (``conv1``,
``bn1``, ``act1``, ..., ``predictions``) because those names are what the
cnn_tb dashboard shows.

Example:
    >>> from cnn_tb.demo.datasets import load_dataset
    >>> from cnn_tb.demo.models import compile_for_demo, notebook_cnn
    >>> (x, y), (x_test, y_test), names = load_dataset("shapes")
    >>> model = compile_for_demo(notebook_cnn(x.shape[1:], len(names)))
    >>> model.fit(x, y, epochs=3, batch_size=32, validation_data=(x_test, y_test))
"""

from __future__ import annotations

import numbers

import keras

__all__ = ["CONV_FILTERS", "notebook_cnn", "compile_for_demo"]

CONV_FILTERS = (32, 64, 128, 128)
"""Filters of the four conv blocks of :func:`notebook_cnn`.

Small on purpose: 32 first-layer filters are enough to see edge, colour and
texture detectors form, and few enough to show as one grid of feature maps;
doubling while the resolution halves keeps the work per block similar. The
whole model has about half a million parameters (most in the first dense
layer), and one epoch of 5,000 32x32 images takes a few seconds on a laptop
CPU.
"""


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    """Returns ``input_shape`` as a tuple of three positive ints, or raises."""
    try:
        sizes = [] if isinstance(input_shape, (str, bytes)) else list(input_shape)
    except TypeError:
        sizes = []
    valid = len(sizes) == 3 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in sizes
    )
    if not valid:
        raise ValueError(
            "input_shape must be (height, width, channels) with positive integer "
            f"sizes, got {input_shape!r}."
        )
    return tuple(int(v) for v in sizes)


def notebook_cnn(
    input_shape=(32, 32, 3), num_classes: int = 10, name: str = "notebook_cnn"
) -> keras.Model:
    """Builds a small, uncompiled, Functional image classifier.

    Architecture (``N`` = block number 1..4)::

        input -> [convN (3x3, "same") -> bnN -> actN (LeakyReLU 0.1)] x 4
              -> flatten -> dense (128, relu) -> dropout (0.3)
              -> predictions (num_classes, softmax)

    Block 1 keeps the resolution; blocks 2-4 halve it with a stride-2
    convolution (32x32 -> 32, 16, 8, 4). Filters are :data:`CONV_FILTERS`.

    Args:
        input_shape: ``(height, width, channels)`` of the images.
        num_classes: Number of classes; the output is a softmax over them.
        name: Name of the model.

    Returns:
        The ``keras.Model``, not compiled (see :func:`compile_for_demo`).

    Raises:
        ValueError: If ``input_shape`` or ``num_classes`` is invalid.
    """
    input_shape = _check_input_shape(input_shape)
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes < 2
    ):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")

    num_classes = int(num_classes)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for block, filters in enumerate(CONV_FILTERS, start=1):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=1 if block == 1 else 2,
            padding="same",
            name=f"conv{block}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn{block}")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.1, name=f"act{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def compile_for_demo(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Compiles a classifier with Adam, sparse categorical cross-entropy and accuracy.

    Args:
        model: A model with a softmax output, e.g. from :func:`notebook_cnn`.
        learning_rate: Adam learning rate.

    Returns:
        The same model, compiled (for chaining).

    Raises:
        TypeError: If ``model`` is not a ``keras.Model``.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}.")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
