"""Feature visualization: for each channel of a layer, an image synthesised to excite it.

For channel ``c`` of a layer the objective is the spatial mean of channel ``c``
of the layer's output (the output cnn_tb logs). Starting from near-grey noise,
gradient ascent on the input image raises it; the image that results shows
what the channel responds to (Olah, Mordvintsev and Schubert, "Feature
Visualization", Distill 2017). Plain gradient ascent on pixels gives
high-frequency noise that excites the channel just as well, so the image is
made readable by three choices:

* **A preconditioned parameterisation.** The optimised variables are the
  coefficients of the image's 2-D discrete cosine transform (DCT-II,
  orthonormal), each scaled by ``1 / frequency`` (the ``1/f`` amplitude
  spectrum of natural images). A step of the optimiser (Adam, which moves
  every variable by about the same amount) then changes low frequencies much
  more than high ones. The DCT is a real Fourier basis: two small matrix
  products per image on every backend, no complex numbers, and, unlike the
  FFT's periodic basis, no wrap-around at the borders.
* **A decorrelated colour space.** Colour images are built from a luminance
  axis and two colour-opponent axes scaled about as natural images vary along
  them (``image.COLOUR_AXES``), so steps change brightness more than hue; a sigmoid
  maps the result into [0, 1].
* **Transformation robustness.** Every step sees each image randomly shifted
  (up to ``JITTER`` of its size), scaled (``SCALES``) and rotated
  (``ANGLES_DEGREES``) by one affine warp (nearest pixel, mirrored at the
  borders), so only patterns that excite the channel wherever they sit
  survive.

The random draws (the starting point and the transformation of every step)
are made with numpy from ``seed`` and fed in, so a seed gives the same images
on TensorFlow, JAX and PyTorch, up to float error. All requested channels are
optimised together, one image each, as one batch; one optimisation step is
ONE compiled function (:class:`cnn_tb.model.backend.ModelFunction`) that runs
the image parameterisation, the warp, ``preprocess``, the model up to the
layer (the layers after it are not run), the gradient and the Adam update.

Example:
    >>> imgs = cnn_tb.feature_visualization(model, "conv3", channels=range(16))
    >>> imgs.shape, imgs.dtype   # [16, H, W, input channels] in [0, 1]
"""

import collections
import dataclasses
import numbers
import threading
import time
import weakref

import numpy as np

from cnn_tb import _validate
from cnn_tb.feature_viz import image
from cnn_tb.feature_viz.checks import (
    check_channels,
    check_seed,
    check_size,
    find_map_layer,
    float16_on_the_way,
)

DEFAULT_STEPS = 128
LEARNING_RATE = 0.1
INIT_STD = 0.01  # of the starting coefficients (a near-grey image)
PARAMETERIZATIONS = ("dct", "pixel")  # "pixel": plain gradient ascent on (sigmoid) pixels, for comparison
JITTER = 0.04  # largest shift, as a fraction of the image's larger side
SCALES = (0.95, 1.05)
ANGLES_DEGREES = (-5.0, 5.0)
FINAL_PLAIN = 0.125  # the last steps see the image as it is
REL_EPS = 1e-3
# Above this objective gradients in float16 may underflow: objectives of
# float16 layers are multiplied by this (Adam is invariant to the scale).
FLOAT16_SCALE = 1024.0


@dataclasses.dataclass
class Visualization:
    """The result of :meth:`FeatureVisualizer.run`.

    Attributes:
        images: float32 ``[len(channels), H, W, input channels]`` in [0, 1].
        objective: float32 ``[len(channels)]``: each channel's objective on its
            own (untransformed) final image.
        layer: the layer's name.
        channels: the channel indices, in the order of ``images``.
        steps, seed: as given.
        seconds: how long the optimisation took (compilation included on a
            first run).
    """

    images: np.ndarray
    objective: np.ndarray
    layer: str
    channels: list
    steps: int
    seed: int
    seconds: float


def feature_visualization(model, layer, channels=None, steps=DEFAULT_STEPS, size=None, seed=0, preprocess=None):
    """Images that maximise the mean activation of each of ``channels`` of ``layer``.

    For channel ``c`` the objective is the spatial mean of channel ``c`` of the
    layer's output. All channels are optimised together as one batch (one image
    per channel) by a compiled optimisation step, kept for the next call with
    the same model, layer, channels, size and ``preprocess`` (it reads the
    model's current weights, so calling again after more training is cheap).
    See :mod:`cnn_tb.feature_viz` for the parameterisation and
    transformations.

    Args:
        model: a Functional or built Sequential Keras model with one image input.
        layer: the layer's name (``"outer/inner"`` for a layer of a nested
            model, as :func:`cnn_tb.model.graph.walk` names it). Its output must
            be image-shaped ``(H, W, C)``.
        channels: channel indices (an int, a list or a ``range``); ``None``
            (default) means every channel of the layer.
        steps: optimisation steps. Default 128.
        size: ``(H, W)`` (or one int for a square) of the images; default
            ``None`` takes the model's input size (required when it is not fixed).
        seed: seeds the starting point and every random transformation; the
            same seed gives the same images (on every backend, up to float
            error). Default 0.
        preprocess: as for :class:`cnn_tb.Probes`: maps displayable images
            (float [0, 1], NHWC) to what the model takes. Here it is called on
            backend tensors inside the compiled function, so write it with
            arithmetic or ``keras.ops`` (``lambda x: x * 255.0``,
            ``lambda x: (x - mean) / std``), not numpy-only functions.
            Default ``None`` feeds the [0, 1] images.

    Returns:
        float32 numpy array ``[len(channels), H, W, input channels]`` in [0, 1].

    Raises:
        ValueError / TypeError: a model, layer, channel list, size or
            ``preprocess`` that does not fit, with what was received.

    Example:
        >>> imgs = cnn_tb.feature_visualization(model, "conv3", channels=range(16), steps=128)
    """
    steps = _validate.positive_int("steps", steps)
    seed = check_seed(seed)
    return visualizer(model, layer, channels, size=size, preprocess=preprocess).run(steps, seed).images


_cache_lock = threading.Lock()
_cache = weakref.WeakKeyDictionary()  # model -> OrderedDict(key -> FeatureVisualizer)
_CACHE_PER_MODEL = 8


def visualizer(model, layer, channels=None, *, size=None, preprocess=None, **options):
    """The :class:`FeatureVisualizer` for these arguments, reused between calls."""
    key = (layer if isinstance(layer, str) else repr(layer), _channels_key(channels), repr(size),
           id(preprocess), tuple(sorted(options.items())))
    with _cache_lock:
        per_model = _cache.setdefault(model, collections.OrderedDict())
        viz = per_model.get(key)
        if viz is not None and viz.preprocess is preprocess:
            per_model.move_to_end(key)
            return viz
    viz = FeatureVisualizer(model, layer, channels, size=size, preprocess=preprocess, **options)
    with _cache_lock:
        per_model[key] = viz
        while len(per_model) > _CACHE_PER_MODEL:
            per_model.popitem(last=False)
    return viz


def _channels_key(channels):
    if channels is None or isinstance(channels, (str, bytes)):
        return repr(channels)
    try:
        return tuple(int(c) if isinstance(c, numbers.Integral) else repr(c) for c in np.atleast_1d(np.asarray(channels, dtype=object)).tolist())
    except (TypeError, ValueError):
        return repr(channels)


class FeatureVisualizer:
    """Feature visualization of some channels of one layer, compiled once, run many times.

    Args:
        model, layer, channels, size, preprocess: see :func:`feature_visualization`.
        parameterization: ``"dct"`` (default: 1/f-scaled DCT coefficients and
            decorrelated colour) or ``"pixel"`` (plain gradient ascent on
            sigmoid pixels, for comparison).
        transforms: random jitter, scaling and rotation every step. Default ``True``.
        learning_rate: Adam's step size. Default 0.1.

    Raises:
        ValueError / TypeError: as :func:`feature_visualization`.
    """

    def __init__(self, model, layer, channels=None, *, size=None, preprocess=None, parameterization="dct",
                 transforms=True, learning_rate=LEARNING_RATE):
        from cnn_tb.model import graph

        self.model = model
        self.info = find_map_layer(model, layer)
        self.layer = self.info.name
        self.channels = check_channels(channels, self.info)
        in_shape = tuple(graph.model_input(model).shape[1:])
        self.size = check_size(size, in_shape)
        self.in_channels = in_shape[-1]
        if self.in_channels is None:
            raise ValueError(f"Model {model.name!r} has an input without a fixed channel count: {in_shape}.")
        if preprocess is not None and not callable(preprocess):
            raise TypeError(f"`preprocess` must be a function or None. Received: preprocess={preprocess!r}")
        self.preprocess = preprocess
        self.parameterization = _validate.one_of("parameterization", parameterization, PARAMETERIZATIONS)
        self.transforms = _validate.boolean("transforms", transforms)
        self.learning_rate = _validate.number("learning_rate", learning_rate, 0.0, 10.0)
        n, (h, w), c = len(self.channels), self.size, self.in_channels
        self.shape = (n, h, w, c)
        self._image = image.ImageParam(h, w, c, self.parameterization)
        self._input_dtype = graph.model_input(model).dtype
        self._onehot = np.zeros((n, self.info.output_shape[-1]), np.float32)
        self._onehot[np.arange(n), self.channels] = 1.0
        self._grid = image.pixel_grid(h, w)
        self._scale = FLOAT16_SCALE if float16_on_the_way(model, self.layer) else 1.0
        self._check_preprocess()
        self._fn = None

    # ------------------------------------------------------------ public

    def run(self, steps=DEFAULT_STEPS, seed=0):
        """Optimise the images for ``steps`` steps from ``seed``; a :class:`Visualization`."""
        steps = _validate.positive_int("steps", steps)
        seed = check_seed(seed)
        start = time.perf_counter()
        x0, warps = self.draw(steps, seed)
        images, objective = self._compiled()(x0, warps, np.float32(self.learning_rate))
        return Visualization(
            images=np.asarray(images, np.float32),
            objective=np.asarray(objective, np.float32),
            layer=self.layer,
            channels=list(self.channels),
            steps=steps,
            seed=seed,
            seconds=time.perf_counter() - start,
        )

    def draw(self, steps, seed):
        """Every random number of a run: the starting variables and each step's warps.

        Returns:
            ``(x0, warps)``: float32 ``[n, H, W, C]`` and ``[steps, n, 2, 3]``
            (:meth:`draw_transforms`; identities for the last ``FINAL_PLAIN``
            of the steps, or all steps without ``transforms``).
        """
        rng = np.random.default_rng(seed)
        x0 = (rng.standard_normal(self.shape) * INIT_STD).astype(np.float32)
        n = self.shape[0]
        warps = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (steps, n, 1, 1))
        if self.transforms:
            for t in range(steps - int(round(FINAL_PLAIN * steps))):
                warps[t] = self.draw_transforms(rng)
        return x0, warps

    def draw_transforms(self, rng):
        """One step's random affine warps ``[n, 2, 3]``, drawn from ``rng``.

        Row ``i`` maps an output pixel ``(y, x, 1)`` of image ``i`` to the
        position it samples: a rotation by an angle in ``ANGLES_DEGREES``, a
        zoom by a factor in ``SCALES`` (both about the image centre) and a
        shift of up to ``JITTER`` times the larger side, uniformly at random.
        """
        n, h, w, _ = self.shape
        angle = np.deg2rad(rng.uniform(*ANGLES_DEGREES, size=n))
        scale = rng.uniform(*SCALES, size=n)
        reach = JITTER * max(h, w)
        shift = rng.uniform(-reach, reach, size=(n, 2))
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        a = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # [n, 2, 2]
        centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
        b = centre + shift - np.einsum("nij,j->ni", a, centre)
        return np.concatenate([a, b[:, :, None]], axis=2).astype(np.float32)

    # ------------------------------------------------------------ internals

    def _check_preprocess(self):
        """Call ``preprocess`` once, compiled as the step will call it: fail now, not inside a run."""
        if self.preprocess is None:
            return
        from cnn_tb.model import backend, graph

        want = tuple(graph.model_input(self.model).shape[1:])
        probe = np.full((1,) + self.shape[1:], 0.5, np.float32)
        try:
            got = tuple(np.shape(backend.ModelFunction(self.model, self.preprocess, background=False)(probe)))
        except Exception as e:  # noqa: BLE001 - echo what the user's function did
            raise TypeError(
                f"`preprocess` must accept a batch of backend tensors (it runs inside the compiled "
                f"feature-visualization step; use arithmetic or keras.ops, not numpy-only functions). "
                f"Called on a compiled batch of shape {probe.shape} it raised {type(e).__name__}: {e}"
            ) from e
        if len(got) != len(want) + 1 or got[0] != 1 or any(a is not None and a != b for a, b in zip(want, got[1:])):
            raise ValueError(
                f"`preprocess` must map images [N, {self.size[0]}, {self.size[1]}, {self.in_channels}] to the "
                f"model's input (N, {', '.join(str(d) for d in want)}). Received an output of shape {got}."
            )

    def _compiled(self):
        """``fn(x0, warps, lr) -> (images, objective)``: the whole optimisation, compiled once."""
        if self._fn is None:
            from cnn_tb.model import backend, capture

            run = capture._GraphRun(self.model, [self.layer], [], None, None, stop_early=True)
            self._fn = backend.ModelFunction(self.model, lambda x0, warps, lr: self._optimise(run, x0, warps, lr), background=False)
        return self._fn

    def _objective(self, run, x, warp=None):
        """Per-image objectives [n] of variables ``x``, each image seen through ``warp`` [n, 2, 3]."""
        from keras import ops

        img = self._image(x)
        if warp is not None:
            img = image.warp(img, warp, self._grid)
        if self.preprocess is not None:
            img = self.preprocess(img)
        act = run(ops.cast(img, self._input_dtype), [])[0][self.layer]
        means = ops.mean(ops.cast(act, "float32"), axis=(1, 2))  # [n, C]
        return ops.sum(ops.multiply(means, self._onehot), axis=1)

    def _optimise(self, run, x0, warps, lr):
        """Adam ascent on the sum of the objectives, one step per warp, in one loop."""
        from keras import ops

        from cnn_tb.model import backend

        b1, b2, eps = 0.9, 0.999, 1e-8

        def step(i, state):
            x, m, v = state
            warp = warps[i] if self.transforms else None

            def scored(wrt):
                total = ops.sum(self._objective(run, wrt[0], warp)) * self._scale
                return ops.expand_dims(total, 0), ()

            g = backend.scalar_gradients(scored, [x], 1)[1][0][0]
            t = ops.cast(i + 1, "float32")
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * ops.square(g)
            m_hat = m / (1.0 - ops.power(b1, t))
            v_hat = v / (1.0 - ops.power(b2, t))
            # eps relative to each image's typical gradient: variables whose
            # gradient is float noise (thousands of times smaller) stay put, so
            # the result does not depend on the backend's rounding.
            floor = REL_EPS * ops.sqrt(ops.mean(v_hat, axis=(1, 2, 3), keepdims=True)) + eps
            return x + lr * m_hat / (ops.sqrt(v_hat) + floor), m, v

        zeros = ops.zeros_like(x0)
        x, _, _ = ops.fori_loop(0, ops.shape(warps)[0], step, (x0, zeros, zeros))
        return self._image(x), self._objective(run, x)
