"""Tests for cnn_tb.demo.models: the notebook CNN and its demo compilation."""

import keras
import numpy as np
import pytest

from cnn_tb.demo.datasets import make_shapes
from cnn_tb.demo.models import CONV_FILTERS, compile_for_demo, notebook_cnn

EXPECTED_LAYERS = [
    ("input", keras.layers.InputLayer, (None, 32, 32, 3)),
    ("conv1", keras.layers.Conv2D, (None, 32, 32, 32)),
    ("bn1", keras.layers.BatchNormalization, (None, 32, 32, 32)),
    ("act1", keras.layers.LeakyReLU, (None, 32, 32, 32)),
    ("conv2", keras.layers.Conv2D, (None, 16, 16, 64)),
    ("bn2", keras.layers.BatchNormalization, (None, 16, 16, 64)),
    ("act2", keras.layers.LeakyReLU, (None, 16, 16, 64)),
    ("conv3", keras.layers.Conv2D, (None, 8, 8, 128)),
    ("bn3", keras.layers.BatchNormalization, (None, 8, 8, 128)),
    ("act3", keras.layers.LeakyReLU, (None, 8, 8, 128)),
    ("conv4", keras.layers.Conv2D, (None, 4, 4, 128)),
    ("bn4", keras.layers.BatchNormalization, (None, 4, 4, 128)),
    ("act4", keras.layers.LeakyReLU, (None, 4, 4, 128)),
    ("flatten", keras.layers.Flatten, (None, 4 * 4 * 128)),
    ("dense", keras.layers.Dense, (None, 128)),
    ("dropout", keras.layers.Dropout, (None, 128)),
    ("predictions", keras.layers.Dense, (None, 10)),
]


@pytest.fixture(scope="module")
def model():
    return notebook_cnn()


def test_is_functional_with_expected_layers(model):
    assert isinstance(model, keras.Model)
    assert model.name == "notebook_cnn"
    assert model.__class__.__name__ == "Functional"
    assert [layer.name for layer in model.layers] == [name for name, _, _ in EXPECTED_LAYERS]
    for layer, (name, cls, shape) in zip(model.layers, EXPECTED_LAYERS):
        assert isinstance(layer, cls), (name, type(layer).__name__)
        assert tuple(layer.output.shape) == shape, (name, layer.output.shape)
    assert tuple(model.input.shape) == (None, 32, 32, 3)
    assert tuple(model.output.shape) == (None, 10)


def test_conv_blocks(model):
    assert len(CONV_FILTERS) == 4
    for block, filters in enumerate(CONV_FILTERS, start=1):
        conv = model.get_layer(f"conv{block}")
        assert conv.filters == filters
        assert conv.kernel_size == (3, 3)
        assert conv.padding == "same"
        assert conv.strides == ((1, 1) if block == 1 else (2, 2))
        assert model.get_layer(f"act{block}").negative_slope == pytest.approx(0.1)
        # Each block is a chain conv -> bn -> act.
        bn = model.get_layer(f"bn{block}")
        assert bn.input is conv.output
        assert model.get_layer(f"act{block}").input is bn.output


def test_head(model):
    assert model.get_layer("dense").units == 128
    assert model.get_layer("dense").activation is keras.activations.relu
    assert model.get_layer("dropout").rate == pytest.approx(0.3)
    predictions = model.get_layer("predictions")
    assert predictions.units == 10
    assert predictions.activation is keras.activations.softmax


def test_outputs_are_probabilities(model):
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (4, 10)
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_not_compiled(model):
    assert not model.compiled


@pytest.mark.parametrize(
    "input_shape, conv_shapes",
    [
        ((28, 28, 1), [(28, 28, 32), (14, 14, 64), (7, 7, 128), (4, 4, 128)]),
        ((48, 64, 3), [(48, 64, 32), (24, 32, 64), (12, 16, 128), (6, 8, 128)]),
    ],
)
def test_other_input_shapes(input_shape, conv_shapes):
    model = notebook_cnn(input_shape, num_classes=5)
    assert tuple(model.input.shape) == (None, *input_shape)
    for block, shape in enumerate(conv_shapes, start=1):
        assert tuple(model.get_layer(f"conv{block}").output.shape) == (None, *shape)
    assert tuple(model.output.shape) == (None, 5)
    x = np.zeros((2, *input_shape), dtype="float32")
    assert np.asarray(model(x)).shape == (2, 5)


def test_custom_name_and_numpy_arguments():
    model = notebook_cnn(np.array([32, 32, 3]), num_classes=np.int64(4), name="tiny")
    assert model.name == "tiny"
    assert tuple(model.output.shape) == (None, 4)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"input_shape": (32, 32)}, "(32, 32)"),
        ({"input_shape": (0, 32, 3)}, "(0, 32, 3)"),
        ({"input_shape": None}, "None"),
        ({"input_shape": (None, None, 3)}, "(None, None, 3)"),
        ({"input_shape": (32, 32, 1.5)}, "1.5"),
        ({"num_classes": 1}, "1"),
        ({"num_classes": 2.0}, "2.0"),
    ],
)
def test_invalid_arguments(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        notebook_cnn(**kwargs)
    assert fragment in str(info.value)


def test_compile_for_demo():
    model = notebook_cnn()
    assert compile_for_demo(model) is model
    assert model.compiled
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    config = model.get_compile_config()
    assert config["loss"] == "sparse_categorical_crossentropy"
    assert config["metrics"] == ["accuracy"]


def test_compile_for_demo_rejects_non_models():
    with pytest.raises(TypeError, match="str"):
        compile_for_demo("model")


def test_learns_shapes_in_three_epochs():
    keras.utils.set_random_seed(0)
    x, y = make_shapes(5000, seed=0)
    x_test, y_test = make_shapes(1000, seed=1)
    model = compile_for_demo(notebook_cnn())
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < loss[0]
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    assert accuracy >= 0.6, f"held-out accuracy after 3 epochs: {accuracy:.3f}"
