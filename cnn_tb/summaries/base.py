"""What every kind of summary shares: its settings, what it knows of the model,
what one logged step hands it, and the interface it implements.

A kind of summary is one class in one module of :mod:`cnn_tb.summaries`.
:class:`cnn_tb.LayerLogger` makes ONE capture of the probes per step and
hands it to every requested kind as a :class:`Step`; each kind turns it into
``Summary.Value`` protos. A kind implements:

* ``attach(model_ctx)``: check the model (raise ``ValueError`` naming the
  problem) and prepare, once per model;
* ``pictures(step)``: the values that are pictures (rendering and encoding),
  run on a worker thread while the main thread does ``values``;
* ``values(step)``: every other value (scalars, histograms, text, plugin
  records).

It declares what it needs: ``needs_probes`` (a forward pass of the probes),
``needs_kernels`` (the kernels and their change), ``needs_stats`` (the layer
statistics), ``wants_gradcam`` (the Grad-CAM backward pass).
"""

import dataclasses
import functools

import numpy as np

from cnn_tb import _validate
from cnn_tb.contract.tags import MAP
from cnn_tb.summaries.flow_budget import DEFAULT_BUDGET_BYTES

# At inference BatchNormalization is a per-channel affine map: its
# per-map-normalised pictures repeat its input's, so it gets none.
AFFINE_PER_CHANNEL = ("BatchNormalization",)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The options shared by the kinds (see :class:`cnn_tb.LayerLogger`)."""

    max_channels: int = 32
    cmap: str = "viridis"
    kernel_cmap: str = "RdBu_r"
    heatmap_cmap: str = "jet"
    budget_bytes: int = DEFAULT_BUDGET_BYTES
    image_probes: int = 2
    histograms: bool = True

    def __post_init__(self):
        _validate.positive_int("max_channels", self.max_channels)
        _validate.positive_int("budget_bytes", self.budget_bytes)
        _validate.positive_int("image_probes", self.image_probes, allow_none=True)
        _validate.colormap("cmap", self.cmap)
        _validate.colormap("kernel_cmap", self.kernel_cmap)
        _validate.colormap("heatmap_cmap", self.heatmap_cmap)


@dataclasses.dataclass
class ModelContext:
    """What the kinds know of the model and probes once attached.

    Attributes:
        model: the Keras model.
        probes: the :class:`cnn_tb.Probes` (``None`` when no kind needs them).
        infos: every layer (:class:`~cnn_tb.model.graph.LayerInfo`), network
            order; ``None`` for a model that is not walked (kernels only).
        selected: the logged layers.
        conv_infos: every conv layer.
        kernel_infos: the conv layers whose kernels are drawn.
        gradcam_layers: names of the layers with Grad-CAM maps.
        output_kind: ``"softmax"``, ``"sigmoid"`` or ``"logits"``.
        settings: the :class:`Settings`.
        kinds: the names of the kinds being logged.
    """

    model: object
    probes: object
    infos: list
    selected: list
    conv_infos: list
    kernel_infos: list
    gradcam_layers: list
    output_kind: str
    settings: Settings
    kinds: tuple

    @functools.cached_property
    def map_names(self):
        """Logged layers with an image-shaped output."""
        return [i.name for i in self.selected if i.kind == MAP]

    @functools.cached_property
    def picture_names(self):
        """Logged map layers that get Images-dashboard pictures."""
        return [i.name for i in self.selected if i.kind == MAP and i.class_name not in AFFINE_PER_CHANNEL]

    @property
    def image_probe_count(self):
        """How many probes (the first ones) get Images-dashboard pictures."""
        n = len(self.probes)
        cap = self.settings.image_probes
        return n if cap is None else min(n, cap)


class Step:
    """One logged step as the kinds see it.

    Attributes:
        step: the step (Keras epoch index, -1 = untrained).
        logs: ``{metric: value}`` given with the step.
        capture: the :class:`~cnn_tb.model.capture.CaptureResult` of the probes
            (``None`` when no kind needs probes).
        kernels: ``{layer: canonical kernel}`` (empty unless a kind needs them).
        kernel_change: ``{layer: relative change or None}``.
    """

    def __init__(self, step, logs, capture, kernels, kernel_change):
        self.step = step
        self.logs = logs
        self.capture = capture
        self.kernels = kernels
        self.kernel_change = kernel_change

    @functools.cached_property
    def stats(self):
        """``{layer: statistics}`` over all probes (computed on first use)."""
        from cnn_tb.summaries.activation_stats import layer_stats

        if self.capture is None:
            return {}
        return {name: layer_stats(a) for name, a in self.capture.activations.items()}


class Kind:
    """Base class of a kind of summary; see the module docstring."""

    name = None
    needs_probes = True
    needs_kernels = False
    needs_stats = False
    wants_gradcam = False

    def __init__(self, settings):
        self.settings = settings
        self.ctx = None

    def attach(self, ctx):
        """Check the model and prepare (raises ``ValueError`` on a model that does not fit)."""
        self.ctx = ctx

    def pictures(self, step):
        """Picture values of ``step`` (run on a worker thread)."""
        return []

    def values(self, step):
        """Every other value of ``step``."""
        return []


def rgb(img):
    """A uint8 image [H, W, 1 or 3+] as [H, W, 3]."""
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]
