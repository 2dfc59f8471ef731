"""Tests for cnn_tb.demo.datasets: the synthetic shapes dataset and load_dataset."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

import cnn_tb
from cnn_tb.demo.datasets import CIFAR10_CLASS_NAMES, CLASS_NAMES, load_dataset, make_shapes

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
SHAPE_CLASSES = [CLASS_NAMES.index(c) for c in ("circle", "square", "triangle", "cross", "ring")]
TEXTURE_CLASSES = [
    CLASS_NAMES.index(c)
    for c in ("horizontal stripes", "vertical stripes", "diagonal stripes", "checkerboard", "dots")
]


@pytest.fixture(scope="module")
def train_set():
    return make_shapes(2000, seed=0)


@pytest.fixture(scope="module")
def test_set():
    return make_shapes(1000, seed=1)


def gray(x):
    """[n, h, w, 3] -> [n, h, w] luminance."""
    return x @ LUMA


def nearest_class_mean_accuracy(f_train, y_train, f_test, y_test):
    means = np.stack([f_train[y_train == c].mean(axis=0) for c in range(len(CLASS_NAMES))])
    dist = ((f_test[:, None, :] - means[None]) ** 2).sum(axis=-1)
    return float((dist.argmin(axis=1) == y_test).mean())


def gradient_energy(g):
    """Mean absolute difference along x, y, the diagonal and the anti-diagonal
    of per-image standardised grayscale images [n, h, w] -> [n, 4]."""
    g = (g - g.mean(axis=(1, 2), keepdims=True)) / (g.std(axis=(1, 2), keepdims=True) + 1e-6)
    dx = np.abs(np.diff(g, axis=2)).mean(axis=(1, 2))
    dy = np.abs(np.diff(g, axis=1)).mean(axis=(1, 2))
    dd = np.abs(g[:, 1:, 1:] - g[:, :-1, :-1]).mean(axis=(1, 2))
    da = np.abs(g[:, 1:, :-1] - g[:, :-1, 1:]).mean(axis=(1, 2))
    return np.stack([dx, dy, dd, da], axis=1)


def object_mask(g):
    """Pixels of a shape image [n, h, w] whose colour is not the background's.

    A 3x3 mean filter first shrinks the noise well below half the colour
    contrast; the background level is the median of the border.
    """
    smooth = uniform_filter(g, size=(1, 3, 3), mode="nearest")
    ring = np.concatenate([g[:, 0, :], g[:, -1, :], g[:, :, 0], g[:, :, -1]], axis=1)
    background = np.median(ring, axis=1)
    return np.abs(smooth - background[:, None, None]) > 0.15


def border_std(g):
    """Standard deviation of the outermost pixel ring of each image [n, h, w]."""
    ring = np.concatenate([g[:, 0, :], g[:, -1, :], g[:, :, 0], g[:, :, -1]], axis=1)
    return ring.std(axis=1)


# ---------------------------------------------------------------------------
# Basic contract
# ---------------------------------------------------------------------------


def test_import_does_not_import_tensorflow_or_keras():
    code = (
        "import sys, cnn_tb.demo.datasets; "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(cnn_tb.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_class_names():
    assert len(CLASS_NAMES) == 10
    assert len(set(CLASS_NAMES)) == 10
    assert all(isinstance(c, str) and c for c in CLASS_NAMES)
    assert len(CIFAR10_CLASS_NAMES) == 10 and CIFAR10_CLASS_NAMES[0] == "airplane"


def test_shapes_dtypes_and_ranges(train_set):
    x, y = train_set
    assert x.shape == (2000, 32, 32, 3)
    assert x.dtype == np.float32
    assert y.shape == (2000,)
    assert y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.isfinite(x).all()
    assert set(np.unique(y)) == set(range(10))
    # Images use the range: not all dark, not all bright, not constant.
    assert 0.3 < x.mean() < 0.7
    assert (x.reshape(len(x), -1).std(axis=1) > 0.05).all()


def test_default_arguments():
    x, y = make_shapes(20)
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,)
    np.testing.assert_array_equal(x, make_shapes(20, image_size=32, seed=0)[0])


def test_zero_images():
    x, y = make_shapes(0)
    assert x.shape == (0, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (0,) and y.dtype == np.int64


def test_same_seed_gives_identical_arrays():
    x1, y1 = make_shapes(300, seed=7)
    x2, y2 = make_shapes(300, seed=7)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_different_seeds_differ():
    x1, y1 = make_shapes(300, seed=7)
    x2, y2 = make_shapes(300, seed=8)
    assert not np.array_equal(y1, y2)
    # Every image differs, not just a few pixels.
    diff = np.abs(x1 - x2).reshape(len(x1), -1).mean(axis=1)
    assert (diff > 0.01).all()


def test_class_balance():
    _, y = make_shapes(1000, seed=3)
    fractions = np.bincount(y, minlength=10) / len(y)
    assert ((fractions >= 0.08) & (fractions <= 0.12)).all(), fractions
    # Counts differ by at most one, even when n is not a multiple of 10.
    counts = np.bincount(make_shapes(1003, seed=4)[1], minlength=10)
    assert counts.max() - counts.min() <= 1, counts


def test_labels_are_shuffled():
    _, y = make_shapes(1000, seed=0)
    # Not sorted and not cycling 0, 1, ..., 9.
    assert not (np.diff(y) >= 0).all()
    assert (y != np.arange(1000) % 10).mean() > 0.5


def test_every_image_has_contrast(train_set):
    x, _ = train_set
    g = gray(x).reshape(len(x), -1)
    spread = np.percentile(g, 99, axis=1) - np.percentile(g, 1, axis=1)
    # Colours differ in luminance by >= 0.3; noise cannot hide that.
    assert spread.min() > 0.25, spread.min()


# ---------------------------------------------------------------------------
# The classes are distinct, but not in a trivial way
# ---------------------------------------------------------------------------


def test_colour_and_position_give_nothing_away(train_set, test_set):
    (x, y), (xt, yt) = train_set, test_set
    # A nearest-class-mean classifier on raw pixels is near chance (0.1):
    # colours and positions are random, so class means are uninformative.
    raw = nearest_class_mean_accuracy(x.reshape(len(x), -1), y, xt.reshape(len(xt), -1), yt)
    assert raw < 0.25, raw
    colour = nearest_class_mean_accuracy(x.mean(axis=(1, 2)), y, xt.mean(axis=(1, 2)), yt)
    assert colour < 0.2, colour


def test_classes_differ_in_structure(train_set, test_set):
    (x, y), (xt, yt) = train_set, test_set

    def features(x):
        g = gray(x)
        energy = gradient_energy(g)
        return np.concatenate(
            [energy / energy.sum(axis=1, keepdims=True), energy.mean(axis=1, keepdims=True),
             border_std(g)[:, None]],
            axis=1,
        )

    # Four gradient directions and border texture separate the classes well
    # above chance, yet far from perfectly: the rest is left to the CNN.
    acc = nearest_class_mean_accuracy(features(x), y, features(xt), yt)
    assert 0.3 < acc < 0.8, acc


def test_stripe_orientations(train_set):
    x, y = train_set
    energy = gradient_energy(gray(x))
    dx, dy, dd, da = energy.T
    horizontal = y == CLASS_NAMES.index("horizontal stripes")
    vertical = y == CLASS_NAMES.index("vertical stripes")
    diagonal = y == CLASS_NAMES.index("diagonal stripes")
    # Horizontal stripes change along y, vertical ones along x (tilted by up
    # to 11.5 degrees, and noise adds the same energy in every direction).
    assert (dy[horizontal] > 1.5 * dx[horizontal]).all()
    assert (dx[vertical] > 1.5 * dy[vertical]).all()
    # Diagonal stripes change about as much along x as along y, and much more
    # across one diagonal than along it; both diagonals occur.
    ratio = dx[diagonal] / dy[diagonal]
    assert ((ratio > 0.4) & (ratio < 2.5)).all()
    assert (np.maximum(dd, da)[diagonal] > 1.5 * np.minimum(dd, da)[diagonal]).all()
    down = (dd < da)[diagonal].mean()
    assert 0.25 < down < 0.75, down


def test_shapes_sit_on_a_plain_background_and_textures_fill_the_image(train_set):
    x, y = train_set
    g = gray(x)
    std = border_std(g)
    shapes = np.isin(y, SHAPE_CLASSES)
    # Dots may leave a whole border row free, other textures never do.
    textures = np.isin(y, TEXTURE_CLASSES) & (y != CLASS_NAMES.index("dots"))
    # Shapes stay inside the image: the border is background plus noise only,
    # while stripes and checkerboards run across it.
    assert std[shapes].max() < 0.08, std[shapes].max()
    assert std[textures].min() > 0.08, std[textures].min()
    # Shapes are clearly visible, yet leave plenty of background.
    covered = object_mask(g[shapes]).reshape(shapes.sum(), -1).mean(axis=1)
    assert covered.min() > 0.03 and covered.max() < 0.65, (covered.min(), covered.max())


def test_ring_has_a_hole_and_circle_does_not():
    x, y = make_shapes(400, image_size=48, seed=5)
    g = gray(x)
    for label, hole in ((CLASS_NAMES.index("ring"), True), (CLASS_NAMES.index("circle"), False)):
        masks = object_mask(g[y == label])
        assert len(masks) >= 30
        for obj in masks:
            # The centre of the object's bounding box is the shape's centre.
            rows, cols = np.flatnonzero(obj.any(axis=1)), np.flatnonzero(obj.any(axis=0))
            cy, cx = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
            assert obj[cy, cx] != hole, CLASS_NAMES[label]


# ---------------------------------------------------------------------------
# Other sizes and grayscale
# ---------------------------------------------------------------------------


def test_non_square_images():
    x, y = make_shapes(500, image_size=(48, 64), seed=2)
    assert x.shape == (500, 48, 64, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    energy = gradient_energy(gray(x))
    horizontal = y == CLASS_NAMES.index("horizontal stripes")
    vertical = y == CLASS_NAMES.index("vertical stripes")
    assert (energy[horizontal, 1] > 1.5 * energy[horizontal, 0]).all()
    assert (energy[vertical, 0] > 1.5 * energy[vertical, 1]).all()
    std = border_std(gray(x))
    assert std[np.isin(y, SHAPE_CLASSES)].max() < 0.08


@pytest.mark.parametrize("size", [8, 28, (20, 40), [40, 20]])
def test_other_sizes(size):
    x, _ = make_shapes(30, image_size=size)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    assert x.shape == (30, h, w, 3)


def test_grayscale():
    x, y = make_shapes(500, seed=6, channels=1)
    assert x.shape == (500, 32, 32, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    # Same labels and geometry as the RGB images of the same seed, with the
    # luminance of their colours.
    x_rgb, y_rgb = make_shapes(500, seed=6, channels=3)
    np.testing.assert_array_equal(y, y_rgb)
    np.testing.assert_allclose(
        x[..., 0].mean(axis=(1, 2)), gray(x_rgb).mean(axis=(1, 2)), atol=0.02
    )
    g = x[..., 0].reshape(len(x), -1)
    spread = np.percentile(g, 99, axis=1) - np.percentile(g, 1, axis=1)
    assert spread.min() > 0.25


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n": -1}, "-1"),
        ({"n": 2.5}, "2.5"),
        ({"n": 10, "image_size": 4}, "4"),
        ({"n": 10, "image_size": (32,)}, "(32,)"),
        ({"n": 10, "image_size": "32"}, "'32'"),
        ({"n": 10, "channels": 2}, "2"),
    ],
)
def test_invalid_arguments(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        make_shapes(**kwargs)
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------


def test_load_shapes():
    (x, y), (xt, yt), names = load_dataset("shapes", n_train=600, n_test=200, seed=3)
    assert x.shape == (600, 32, 32, 3) and y.shape == (600,)
    assert xt.shape == (200, 32, 32, 3) and yt.shape == (200,)
    assert names == list(CLASS_NAMES)
    # Train is make_shapes with the given seed; test uses another seed.
    np.testing.assert_array_equal(x, make_shapes(600, seed=3)[0])
    assert not np.array_equal(xt, make_shapes(200, seed=3)[0])
    # No test image is a copy of a training image.
    flat, flat_t = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    sq_dist = (flat_t**2).sum(1)[:, None] + (flat**2).sum(1)[None, :] - 2 * flat_t @ flat.T
    nearest = sq_dist.min(axis=1) / flat.shape[1]
    assert nearest.min() > 1e-3, nearest.min()
    # Deterministic.
    (x2, _), (xt2, _), _ = load_dataset("shapes", n_train=600, n_test=200, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(xt, xt2)


def test_load_shapes_other_size():
    (x, _), (xt, _), _ = load_dataset("shapes", n_train=10, n_test=5, image_size=(24, 40))
    assert x.shape == (10, 24, 40, 3) and xt.shape == (5, 24, 40, 3)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "'mnist'" in message
    assert "'shapes'" in message and "'cifar10'" in message


def test_cifar10_is_scaled_and_truncated(monkeypatch):
    import keras
    rng = np.random.default_rng(0)
    fake = (
        (rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8),
         rng.integers(0, 10, (50, 1), dtype=np.uint8)),
        (rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
         rng.integers(0, 10, (20, 1), dtype=np.uint8)),
    )
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: fake)
    (x, y), (xt, yt), names = load_dataset("cifar10", n_train=30, n_test=7)
    assert names == list(CIFAR10_CLASS_NAMES)
    assert x.shape == (30, 32, 32, 3) and x.dtype == np.float32
    assert xt.shape == (7, 32, 32, 3) and xt.dtype == np.float32
    assert y.shape == (30,) and y.dtype == np.int64 and yt.shape == (7,)
    np.testing.assert_allclose(x, fake[0][0][:30] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yt, fake[1][1][:7, 0])


def test_cifar10_download_failure_message(monkeypatch):
    import keras
    error = (
        "URL fetch failure on https://example.invalid/cifar: None -- "
        "[Errno -2] Name or service not known"
    )

    def fail():
        raise Exception(error)

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", fail)
    with pytest.raises(RuntimeError) as info:
        load_dataset("cifar10", n_train=10, n_test=10)
    message = str(info.value)
    assert "CIFAR-10" in message and "offline" in message
    assert "--dataset shapes" in message
    assert error in message
    assert isinstance(info.value.__cause__, Exception)


def test_cifar10_argument_checks():
    with pytest.raises(ValueError, match="48"):
        load_dataset("cifar10", image_size=48)
    with pytest.raises(ValueError, match="60000"):
        load_dataset("cifar10", n_train=60000)



