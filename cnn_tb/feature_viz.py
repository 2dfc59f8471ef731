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
  them (``COLOUR_AXES``), so steps change brightness more than hue; a sigmoid
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
import math
import numbers
import threading
import time
import weakref

import numpy as np

from cnn_tb import _validate
from cnn_tb.contract.tags import MAP

DEFAULT_STEPS = 128
LEARNING_RATE = 0.1
INIT_STD = 0.01  # of the starting coefficients (a near-grey image)
PARAMETERIZATIONS = ("dct", "pixel")  # "pixel": plain gradient ascent on (sigmoid) pixels, for comparison
JITTER = 0.04  # largest shift, as a fraction of the image's larger side
SCALES = (0.95, 1.05)
ANGLES_DEGREES = (-5.0, 5.0)
FINAL_PLAIN = 0.125  # the last steps see the image as it is
REL_EPS = 1e-3
# Luminance and two colour-opponent axes (orthonormal), scaled roughly as the
# colours of natural images vary along them: most variance in brightness,
# less from red to blue, least from green to magenta.
COLOUR_AXES = np.array(
    [[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], np.float32
) / np.array([[math.sqrt(3.0)], [math.sqrt(2.0)], [math.sqrt(6.0)]], np.float32)
COLOUR_SCALES = np.array([1.0, 0.3, 0.15], np.float32)
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
    seed = _check_seed(seed)
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
        self.size = _check_size(size, in_shape)
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
        self._image = _ImageParam(h, w, c, self.parameterization)
        self._input_dtype = graph.model_input(model).dtype
        self._onehot = np.zeros((n, self.info.output_shape[-1]), np.float32)
        self._onehot[np.arange(n), self.channels] = 1.0
        self._grid = _pixel_grid(h, w)
        self._scale = FLOAT16_SCALE if _float16_on_the_way(model, self.layer) else 1.0
        self._check_preprocess()
        self._fn = None

    # ------------------------------------------------------------ public

    def run(self, steps=DEFAULT_STEPS, seed=0):
        """Optimise the images for ``steps`` steps from ``seed``; a :class:`Visualization`."""
        steps = _validate.positive_int("steps", steps)
        seed = _check_seed(seed)
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
            img = _warp(img, warp, self._grid)
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


class _ImageParam:
    """Images [n, H, W, C] in [0, 1] from the optimised variables (same shape)."""

    def __init__(self, h, w, c, parameterization):
        self.parameterization = parameterization
        self.colour = None
        if parameterization == "dct":
            self.dct_h, self.dct_w = _dct_matrix(h), _dct_matrix(w)
            fy = np.arange(h)[:, None] / (2.0 * h)
            fx = np.arange(w)[None, :] / (2.0 * w)
            freq = np.sqrt(fy**2 + fx**2)
            # 1/f amplitudes, the lowest frequency capped at one cycle per image;
            # divided by 4 so the starting image stays near grey.
            self.scale = (1.0 / np.maximum(freq, 1.0 / max(h, w)) / 4.0).astype(np.float32)[None, :, :, None]
            if c == 3:
                self.colour = (COLOUR_AXES.T * COLOUR_SCALES[None, :]).astype(np.float32)  # [rgb, axis]

    def __call__(self, x):
        from keras import ops

        if self.parameterization == "dct":
            x = ops.multiply(x, self.scale)  # ops, not *: numpy constants meet torch tensors
            x = ops.einsum("uy,nuvc->nyvc", self.dct_h, x)
            x = ops.einsum("nyvc,vx->nyxc", x, self.dct_w)
            if self.colour is not None:
                x = ops.einsum("nyxa,ca->nyxc", x, self.colour)
        return ops.sigmoid(x)


def _dct_matrix(n):
    """The orthonormal DCT-II matrix [frequency, position]: ``x = D.T @ X`` inverts ``X = D @ x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2.0 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.astype(np.float32)


def _pixel_grid(h, w):
    """``(y, x, 1)`` of every pixel, row by row: [3, H * W] float32."""
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    return np.stack([yy.ravel(), xx.ravel(), np.ones(h * w, np.float32)])


def _warp(img, warp, grid):
    """Affine warp of ``img`` [n, H, W, C]: output pixel ``p`` of image ``i`` takes the
    pixel nearest to ``warp[i] @ (p, 1)``; positions outside the image are
    mirrored back into it (so the border pixels are not sampled more often
    than the others, which would paint a frame). One gather: bilinear weights
    take four, which cost several times more on a CPU, with no visible change
    in the result."""
    from keras import ops

    n, h, w, c = img.shape
    src = ops.round(ops.matmul(warp, grid))  # [n, 2, H*W]
    y = ops.cast(_mirror(src[:, 0], h), "int32")
    x = ops.cast(_mirror(src[:, 1], w), "int32")
    index = ops.reshape(ops.add(y * w + x, np.arange(n, dtype=np.int32)[:, None] * (h * w)), (-1,))
    return ops.reshape(ops.take(ops.reshape(img, (n * h * w, c)), index, axis=0), (n, h, w, c))


def _mirror(t, size):
    """Positions ``t`` (floats holding integers) mirrored into ``0..size-1`` (``-1 -> 1``, ``size -> size-2``)."""
    from keras import ops

    if size < 2:
        return ops.zeros_like(t)
    last = float(size - 1)
    period = 2.0 * last
    t = t - period * ops.floor(t / period)  # into [0, period)
    return last - ops.abs(t - last)


# ------------------------------------------------------------------ checks


def find_map_layer(model, layer):
    """The :class:`~cnn_tb.model.graph.LayerInfo` of ``layer``, which must have an (H, W, C) output.

    Raises:
        TypeError / ValueError: not a graph model, no such layer, or not a map layer.
    """
    from cnn_tb.model import graph

    graph.require_graph_model(model)
    return find_map_layer_in(graph.walk(model), layer, model.name)


def find_map_layer_in(infos, layer, model_name="the model"):
    """:func:`find_map_layer` over the layers ``infos`` of :func:`cnn_tb.model.graph.walk`."""
    maps = [i.name for i in infos if i.kind == MAP]
    if not isinstance(layer, str):
        raise TypeError(f"`layer` must be a layer name (str). Received: layer={layer!r}")
    hits = [i for i in infos if i.name == layer] or [i for i in infos if i.layer.name == layer]
    if not hits:
        raise ValueError(
            f"`layer` names a layer that model {model_name!r} does not have. Layers with an image-shaped "
            f"output: {maps}. Received: layer={layer!r}"
        )
    info = hits[0]
    if info.kind != MAP:
        raise ValueError(
            f"Layer {info.name!r} is not a map layer: its output shape is {tuple(info.output_shape)}, and "
            f"feature visualization needs an image-shaped (H, W, C) output. Layers with one: {maps}. "
            f"Received: layer={layer!r}"
        )
    if info.output_shape[-1] is None:
        raise ValueError(f"Layer {info.name!r} has no fixed channel count: output shape {tuple(info.output_shape)}.")
    return info


def check_channels(channels, info):
    """``channels`` as a list of distinct ints within the layer's channels (``None`` = all).

    Raises:
        ValueError / TypeError: naming the layer's channel count and what was received.
    """
    count = int(info.output_shape[-1])
    expected = (
        f"distinct channel indices of layer {info.name!r}, which has {count} channels (0..{count - 1})"
    )
    if channels is None:
        return list(range(count))
    if isinstance(channels, (numbers.Integral, np.integer)) and not isinstance(channels, (bool, np.bool_)):
        items = [channels]
    elif isinstance(channels, (str, bytes, dict, set)) or not hasattr(channels, "__iter__"):
        raise TypeError(f"`channels` must be {expected}: an int, a list or a range. Received: channels={channels!r}")
    else:
        items = list(channels)
    shown = list(channels) if isinstance(channels, range) else channels
    bad = [c for c in items if isinstance(c, (bool, np.bool_)) or not isinstance(c, (numbers.Integral, np.integer))]
    if bad:
        raise TypeError(f"`channels` must be {expected}. Received: channels={shown!r}")
    items = [int(c) for c in items]
    if not items or any(c < 0 or c >= count for c in items) or len(set(items)) != len(items):
        raise ValueError(f"`channels` must be {expected}. Received: channels={shown!r}")
    return items


def _check_size(size, input_shape):
    h, w = input_shape[0], input_shape[1]
    if size is None:
        if h is None or w is None:
            raise ValueError(
                f"The model's input size is not fixed ({tuple(input_shape)}): pass `size=(height, width)`. "
                "Received: size=None"
            )
        return int(h), int(w)
    if isinstance(size, (numbers.Integral, np.integer)) and not isinstance(size, (bool, np.bool_)):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Integral, np.integer)) or s < 2 for s in size)
    ):
        raise ValueError(f"`size` must be None, an int >= 2 or a (height, width) pair of ints >= 2. Received: size={size!r}")
    size = (int(size[0]), int(size[1]))
    if (h is not None and h != size[0]) or (w is not None and w != size[1]):
        raise ValueError(
            f"`size` must match the model's fixed input size {(h, w)} (or leave it None). Received: size={size!r}"
        )
    return size


def _check_seed(seed):
    return _validate.integer("seed", seed, minimum=0)


def _float16_on_the_way(model, layer):
    """True when a layer of the model computes in float16 (mixed precision)."""
    from cnn_tb.model import graph

    return any(getattr(getattr(l, "dtype_policy", None), "compute_dtype", None) == "float16" for l in graph.all_layers(model))
