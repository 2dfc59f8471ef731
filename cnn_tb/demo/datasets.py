"""Small image datasets for demos and tests: a built-in synthetic one and CIFAR-10.

The built-in ``"shapes"`` dataset is generated on the fly with numpy (no
download, no TensorFlow), so demos and tests run offline and fast. Each image
shows one of ten classes (:data:`CLASS_NAMES`): five solid shapes drawn on a
plain background, or five textures covering the whole image. Colours,
position, size, rotation, stripe period and phase are random per image, and a
little Gaussian noise is added, so a CNN has to learn shape and orientation
rather than colour or location.

Example:
    >>> from cnn_tb.demo.datasets import load_dataset
    >>> (x_train, y_train), (x_test, y_test), names = load_dataset("shapes")
    >>> x_train.shape, x_train.dtype, names[y_train[0]]
    ((5000, 32, 32, 3), dtype('float32'), 'square')

Importing this module imports numpy only; Keras is imported lazily, and only
for ``load_dataset("cifar10")``.
"""

from __future__ import annotations

import numbers

import numpy as np

from cnn_tb import _validate

__all__ = [
    "CLASS_NAMES",
    "CIFAR10_CLASS_NAMES",
    "DATASET_NAMES",
    "make_shapes",
    "load_dataset",
]

CLASS_NAMES = (
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "horizontal stripes",
    "vertical stripes",
    "diagonal stripes",
    "checkerboard",
    "dots",
)
"""Class names of the built-in ``"shapes"`` dataset; label ``i`` is ``CLASS_NAMES[i]``."""

CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names of CIFAR-10, in the order of its integer labels."""

DATASET_NAMES = ("shapes", "cifar10")
"""Names accepted by :func:`load_dataset`."""

# Minimum luminance difference between the two colours of an image.
_MIN_CONTRAST = 0.3
# ITU-R BT.601 luma weights, used for contrast and for grayscale images.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Number of candidate foreground colours drawn per image before falling back.
_COLOUR_CANDIDATES = 8
_MIN_SIZE = 8


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------


def _parse_size(image_size) -> tuple[int, int]:
    """Returns ``(height, width)`` from an int or a ``(height, width)`` pair."""
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool)
            for v in image_size
        )
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(
            "image_size must be an int or a (height, width) pair of ints, "
            f"got {image_size!r}."
        )
    if min(size) < _MIN_SIZE:
        raise ValueError(
            f"image_size must be at least {_MIN_SIZE} pixels on each side, "
            f"got {image_size!r}."
        )
    return size


# ---------------------------------------------------------------------------
# Signed distances (in pixels, positive inside) for each class. Each function
# receives the random generator, the number m of images to draw, the pixel
# centre grids yy, xx of shape [1, h, w], and returns a [m, h, w] float32 array.
# ---------------------------------------------------------------------------


def _uniform(rng, low, high, m):
    """Draws m values as a [m, 1, 1] float32 array that broadcasts over pixels."""
    return rng.uniform(low, high, m).astype(np.float32)[:, None, None]


def _object_frame(rng, m, yy, xx, rot_period):
    """Random bounding radius, centre and rotation for one object per image.

    Returns:
        ``(radius, u, v)``: the bounding radius [m, 1, 1] and the pixel
        coordinates in the object's rotated frame, centred on it, [m, h, w].
    """
    h, w = yy.shape[1], xx.shape[2]
    s = min(h, w)
    radius = _uniform(rng, 0.24 * s, 0.42 * s, m)
    # Keep the whole bounding circle inside the image (plus half a pixel).
    cy = radius + 0.5 + _uniform(rng, 0.0, 1.0, m) * (h - 1.0 - 2.0 * radius)
    cx = radius + 0.5 + _uniform(rng, 0.0, 1.0, m) * (w - 1.0 - 2.0 * radius)
    theta = _uniform(rng, 0.0, rot_period, m)
    cos, sin = np.cos(theta), np.sin(theta)
    dy, dx = yy - cy, xx - cx
    return radius, cos * dx + sin * dy, cos * dy - sin * dx


def _circle(rng, m, yy, xx):
    radius, u, v = _object_frame(rng, m, yy, xx, 0.0)
    return radius - np.sqrt(u * u + v * v)


def _square(rng, m, yy, xx):
    radius, u, v = _object_frame(rng, m, yy, xx, np.pi / 2)
    half_side = radius / np.float32(np.sqrt(2.0))
    return half_side - np.maximum(np.abs(u), np.abs(v))


def _triangle(rng, m, yy, xx):
    # Equilateral triangle with circumradius `radius` (inradius radius / 2).
    radius, u, v = _object_frame(rng, m, yy, xx, 2 * np.pi / 3)
    dist = None
    for k in range(3):
        phi = np.float32(np.pi / 2 + k * 2 * np.pi / 3)
        edge = 0.5 * radius - (u * np.cos(phi) + v * np.sin(phi))
        dist = edge if dist is None else np.minimum(dist, edge)
    return dist


def _cross(rng, m, yy, xx):
    radius, u, v = _object_frame(rng, m, yy, xx, np.pi / 2)
    arm = radius * 0.95
    half_width = radius * _uniform(rng, 0.2, 0.3, m)
    au, av = np.abs(u), np.abs(v)
    bar1 = np.minimum(arm - au, half_width - av)
    bar2 = np.minimum(half_width - au, arm - av)
    return np.maximum(bar1, bar2)


def _ring(rng, m, yy, xx):
    radius, u, v = _object_frame(rng, m, yy, xx, 0.0)
    thickness = np.maximum(radius * _uniform(rng, 0.25, 0.4, m), 1.5)
    return 0.5 * thickness - np.abs(np.sqrt(u * u + v * v) - (radius - 0.5 * thickness))


def _square_wave(t, period):
    """Signed distance to the nearest edge of stripes of width period / 2."""
    return 0.25 * period - np.abs(np.mod(t, period) - 0.5 * period)


def _stripes(rng, m, yy, xx, angle):
    """Stripes whose normal makes ``angle`` [m, 1, 1] with the y axis."""
    s = min(yy.shape[1], xx.shape[2])
    period = _uniform(rng, 0.15 * s, 0.32 * s, m)
    phase = _uniform(rng, 0.0, 1.0, m) * period
    width = period * _uniform(rng, -0.06, 0.06, m)  # duty cycle 38%..62%
    t = np.cos(angle) * yy + np.sin(angle) * xx
    return _square_wave(t + phase, period) + width


def _horizontal_stripes(rng, m, yy, xx):
    return _stripes(rng, m, yy, xx, _uniform(rng, -0.2, 0.2, m))


def _vertical_stripes(rng, m, yy, xx):
    return _stripes(rng, m, yy, xx, np.pi / 2 + _uniform(rng, -0.2, 0.2, m))


def _diagonal_stripes(rng, m, yy, xx):
    # 45 or 135 degrees, +-11 degrees: at least 23 degrees from the axes.
    flip = rng.integers(0, 2, m).astype(np.float32)[:, None, None]
    angle = np.pi / 4 + flip * (np.pi / 2) + _uniform(rng, -0.2, 0.2, m)
    return _stripes(rng, m, yy, xx, angle)


def _lattice_frame(rng, m, yy, xx, low, high):
    """Random period, then the pixel coordinates in a slightly rotated,
    randomly shifted lattice frame, wrapped to [-period / 2, period / 2)."""
    s = min(yy.shape[1], xx.shape[2])
    period = _uniform(rng, low * s, high * s, m)
    theta = _uniform(rng, -0.2, 0.2, m)
    off_u = _uniform(rng, 0.0, 1.0, m) * period
    off_v = _uniform(rng, 0.0, 1.0, m) * period
    cos, sin = np.cos(theta), np.sin(theta)
    u = np.mod(cos * xx + sin * yy + off_u, period) - 0.5 * period
    v = np.mod(cos * yy - sin * xx + off_v, period) - 0.5 * period
    return period, u, v


def _checkerboard(rng, m, yy, xx):
    # Period = two cells.
    period, u, v = _lattice_frame(rng, m, yy, xx, 0.22, 0.42)
    du = 0.25 * period - np.abs(u)
    dv = 0.25 * period - np.abs(v)
    return np.sign(du * dv) * np.minimum(np.abs(du), np.abs(dv))


def _dots(rng, m, yy, xx):
    period, u, v = _lattice_frame(rng, m, yy, xx, 0.2, 0.32)
    radius = np.maximum(period * _uniform(rng, 0.22, 0.32, m), 1.2)
    return radius - np.sqrt(u * u + v * v)


_DRAW = (
    _circle,
    _square,
    _triangle,
    _cross,
    _ring,
    _horizontal_stripes,
    _vertical_stripes,
    _diagonal_stripes,
    _checkerboard,
    _dots,
)
assert len(_DRAW) == len(CLASS_NAMES)


def _colours(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random background and foreground RGB colours with luminance contrast.

    Returns:
        ``(background, foreground)``, each float32 [n, 3] in [0, 1], with
        ``|luma(foreground) - luma(background)| >= _MIN_CONTRAST`` for every row.
    """
    background = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    candidates = rng.uniform(0.0, 1.0, (n, _COLOUR_CANDIDATES, 3)).astype(np.float32)
    bg_luma = background @ _LUMA
    ok = np.abs(candidates @ _LUMA - bg_luma[:, None]) >= _MIN_CONTRAST
    first_ok = np.argmax(ok, axis=1)
    foreground = candidates[np.arange(n), first_ok]
    # Rare: no candidate contrasts enough. Darken or lighten the background
    # instead (luminance difference >= 0.4 either way).
    none_ok = ~ok.any(axis=1)
    dark = (0.2 * background).astype(np.float32)
    light = (1.0 - 0.2 * (1.0 - background)).astype(np.float32)
    fallback = np.where((bg_luma >= 0.5)[:, None], dark, light)
    foreground[none_ok] = fallback[none_ok]
    return background, foreground


def make_shapes(
    n: int, image_size=32, seed: int = 0, channels: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Generates the built-in synthetic dataset of shapes and textures.

    Classes (see :data:`CLASS_NAMES`): circle, square, triangle, cross and ring
    drawn once on a plain background at a random position, size and rotation;
    horizontal, vertical and diagonal stripes, checkerboard and dots covering
    the whole image with a random period, phase and a small random tilt. Every
    image has two random colours whose luminances differ by at least 0.3,
    anti-aliased edges and Gaussian noise (standard deviation 0.02-0.06).
    Labels are balanced (class counts differ by at most one) and shuffled.

    Args:
        n: Number of images.
        image_size: Side of the square images in pixels, or a
            ``(height, width)`` pair. At least 8 pixels per side.
        seed: Seed of the random generator. The same seed (and arguments)
            always gives identical arrays.
        channels: 3 for RGB images, 1 for grayscale (luminance) images.

    Returns:
        ``(x, y)``: ``x`` float32 ``[n, height, width, channels]`` in [0, 1],
        ``y`` int64 ``[n]`` with labels in ``0..9``.

    Raises:
        ValueError: If ``n``, ``image_size`` or ``channels`` is invalid.
    """
    n = _validate.integer("n", n, minimum=0)
    height, width = _parse_size(image_size)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    rng = np.random.default_rng(seed)

    num_classes = len(CLASS_NAMES)
    y = rng.permutation(np.arange(n, dtype=np.int64) % num_classes)

    yy = (np.arange(height, dtype=np.float32) + 0.5)[None, :, None]
    xx = (np.arange(width, dtype=np.float32) + 0.5)[None, None, :]
    # Coverage of each pixel by the foreground colour: signed distance to the
    # edge mapped to a one-pixel linear ramp (cheap anti-aliasing).
    alpha = np.empty((n, height, width), dtype=np.float32)
    for label, draw in enumerate(_DRAW):
        idx = np.flatnonzero(y == label)
        if idx.size:
            dist = draw(rng, idx.size, yy, xx)
            alpha[idx] = np.clip(dist + 0.5, 0.0, 1.0)

    background, foreground = _colours(rng, n)
    if channels == 1:
        background = (background @ _LUMA)[:, None]
        foreground = (foreground @ _LUMA)[:, None]
    noise_std = rng.uniform(0.02, 0.06, n).astype(np.float32)

    x = alpha[..., None] * (foreground - background)[:, None, None, :]
    x += background[:, None, None, :]
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    noise *= noise_std[:, None, None, None]
    x += noise
    np.clip(x, 0.0, 1.0, out=x)
    return x, y


def _load_cifar10(n_train: int, n_test: int, image_size):
    if _parse_size(image_size) != (32, 32):
        raise ValueError(
            f"CIFAR-10 images are 32x32; image_size must be 32, got {image_size!r}."
        )
    for value, name, available in ((n_train, "n_train", 50000), (n_test, "n_test", 10000)):
        if value > available:
            raise ValueError(
                f"CIFAR-10 has {available} {name[2:]} images, got {name}={value}."
            )
    import keras  # Lazy: keeps `import cnn_tb.demo.datasets` free of TensorFlow.

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as err:  # Keras raises a bare Exception on fetch failures.
        raise RuntimeError(
            "CIFAR-10 could not be downloaded: this machine looks offline "
            f"(error: {err}). Use `--dataset shapes` (the built-in synthetic "
            "dataset, no download needed) instead."
        ) from err

    def prepare(x, y, count):
        x = np.asarray(x[:count], dtype=np.float32) / np.float32(255.0)
        return x, np.asarray(y[:count], dtype=np.int64).reshape(-1)

    return prepare(x_train, y_train, n_train), prepare(x_test, y_test, n_test)


def load_dataset(
    name: str = "shapes",
    n_train: int = 5000,
    n_test: int = 1000,
    image_size=32,
    seed: int = 0,
):
    """Loads a small image classification dataset as float32 arrays in [0, 1].

    Args:
        name: ``"shapes"`` (built-in, generated by :func:`make_shapes`, no
            download) or ``"cifar10"`` (downloaded by Keras on first use and
            cached under ``~/.keras/datasets``).
        n_train: Number of training images (for CIFAR-10: the first ones, at
            most 50,000).
        n_test: Number of test images (for CIFAR-10: the first ones, at most
            10,000).
        image_size: Image side in pixels, or a ``(height, width)`` pair. Must
            be 32 for CIFAR-10.
        seed: For ``"shapes"``: the training set uses ``seed`` and the test set
            a different seed derived from it, so the two sets never share an
            image. Ignored for CIFAR-10.

    Returns:
        ``((x_train, y_train), (x_test, y_test), class_names)``: images float32
        ``[n, height, width, 3]`` in [0, 1], labels int64 ``[n]``, and the list
        of class names indexed by label.

    Raises:
        ValueError: If ``name`` is not one of :data:`DATASET_NAMES`, or another
            argument is invalid.
        RuntimeError: If CIFAR-10 is not cached and cannot be downloaded.
    """
    n_train = _validate.integer("n_train", n_train, minimum=0)
    n_test = _validate.integer("n_test", n_test, minimum=0)
    if name == "shapes":
        train = make_shapes(n_train, image_size=image_size, seed=seed)
        test_seed = np.random.SeedSequence([int(seed), 1]).generate_state(1)[0]
        test = make_shapes(n_test, image_size=image_size, seed=int(test_seed))
        return train, test, list(CLASS_NAMES)
    if name == "cifar10":
        train, test = _load_cifar10(n_train, n_test, image_size)
        return train, test, list(CIFAR10_CLASS_NAMES)
    valid = ", ".join(repr(v) for v in DATASET_NAMES)
    raise ValueError(f"Unknown dataset {name!r}; valid names are: {valid}.")
