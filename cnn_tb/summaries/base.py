"""What every kind of summary shares: its settings, what it knows of the model,
what one logged step hands it, and the interface it implements.

A kind of summary is one class in one module of :mod:`cnn_tb.summaries`.
:class:`cnn_tb.LayerLogger` makes ONE capture of the probes per step and
hands it to every requested kind as a :class:`Step`; each kind turns it into
``Summary.Value`` protos. A kind implements:

* ``attach(model_ctx)``: check the model (raise ``ValueError`` naming the
  problem) and prepare, once per model;
* ``device(tensors)``: optional; runs on the device, compiled, given a
  :class:`~cnn_tb.model.capture.Tensors` view of the pass (the reductions'
  function, run when the step is finished, possibly on a background thread
  while training goes on: it must read no variable of the model), and returns
  the nest of (reduced) tensors the kind needs; the step hands it back as numpy
  in ``step.device[kind.name]``;
* ``prepare(step)``: optional; runs on the thread that called ``log``, right
  after the pass, while the model still holds the step's weights: the work
  that reads the model (the feature visualizations); what it makes goes into
  ``step.prepared[kind.name]``;
* ``pictures(step)``: the values that are pictures (rendering and encoding),
  run on a worker thread while another does ``values``;
* ``values(step)``: every other value (scalars, histograms, text, plugin
  records).

``pictures`` and ``values`` use numpy only (no Keras or backend op): with
``LayerLogger(background=True)`` (the callbacks' default) they run on a
background thread while training goes on.

It declares what it needs: ``needs_probes`` (a forward pass of the probes),
``needs_kernels`` (the kernels and their change), ``needs_stats`` (the layer
statistics), ``needs_histograms`` (every logged layer's activation
histogram), ``wants_gradcam`` (the Grad-CAM backward pass).
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
    feature_viz: object = None  # FeatureVizOptions, or None (off)

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
        dashboard_names: the logged layers shown in the built-in dashboards
            (Images, Scalars, Histograms); the CNN Flow tab shows every logged
            layer (:func:`cnn_tb.model.selection.dashboard`).
        run_dir: the run directory the event files (and pack files) go to.
        session: a name unique to this writing session (see
            :func:`cnn_tb.event_writer.session_id`).
        run_settings: extra entries of the run record's ``settings`` that a
            kind keeps up to date (``feature_viz``); a kind that changes them
            increments ``run_record_version`` and the flow kind writes the
            run record again.
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
    dashboard_names: list
    run_dir: str = ""
    session: str = ""
    run_settings: dict = dataclasses.field(default_factory=dict)
    run_record_version: int = 0

    @functools.cached_property
    def _dashboard(self):
        return set(self.dashboard_names)

    @functools.cached_property
    def strip_names(self):
        """Dashboard layers with an image-shaped output (the transformation strip)."""
        return [i.name for i in self.selected if i.kind == MAP and i.name in self._dashboard]

    @functools.cached_property
    def picture_names(self):
        """Dashboard map layers that get Images-dashboard pictures."""
        return [n for n, i in zip(self.strip_names, self._infos(self.strip_names)) if i.class_name not in AFFINE_PER_CHANNEL]

    @functools.cached_property
    def dashboard_kernels(self):
        """Conv layers whose kernels are drawn in the Images dashboard."""
        return [i.name for i in self.kernel_infos if i.name in self._dashboard]

    @functools.cached_property
    def dashboard_gradcam(self):
        """Grad-CAM layers with Images-dashboard overlays."""
        return [n for n in self.gradcam_layers if n in self._dashboard]

    def _infos(self, names):
        by_name = {i.name: i for i in self.selected}
        return [by_name[n] for n in names]

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
        final: True for the last step of the training (when it is known).
        last_step: the training's last step, when known (else None).
        train_seconds / train_epochs: the training time measured since the
            previous logged step, and the epochs it covers (None / 0 at the
            first step).
        steps_per_epoch: training steps (batches) per epoch, when known.
    """

    def __init__(self, step, logs, capture, kernels, kernel_change, selected=(), final=False, last_step=None,
                 train_seconds=None, train_epochs=0, steps_per_epoch=None):
        self.selected = list(selected)  # the logged layers (LayerInfo), in the order of the statistics
        self.final = bool(final)
        self.last_step = last_step
        self.train_seconds = train_seconds
        self.train_epochs = train_epochs
        self.steps_per_epoch = steps_per_epoch
        self.step = step
        self.logs = logs
        self.capture = capture
        self.kernels = kernels
        self.kernel_change = kernel_change
        self.prepared = {}  # {kind name: what its prepare() made}

    @property
    def device(self):
        """``{kind name: what its device() returned, as numpy}``."""
        return self.capture.device if self.capture is not None else {}

    @functools.cached_property
    def stats(self):
        """``{layer: statistics}`` over all probes (reduced on the device)."""
        from cnn_tb.summaries.activation_stats import from_vector

        rows = self.device.get("layer_stats")
        return {} if rows is None else {i.name: from_vector(v) for i, v in zip(self.selected, rows)}

    @functools.cached_property
    def histograms(self):
        """``{layer: (lo, hi, counts, n)}`` of every logged layer (reduced on the device)."""
        h = self.device.get("layer_histograms")
        if h is None:
            return {}
        return {i.name: (float(h[0][k]), float(h[1][k]), h[2][k], int(h[3][k])) for k, i in enumerate(self.selected)}


class Kind:
    """Base class of a kind of summary; see the module docstring."""

    name = None
    needs_probes = True
    needs_kernels = False
    needs_stats = False
    needs_histograms = False
    wants_gradcam = False

    def __init__(self, settings):
        self.settings = settings
        self.ctx = None

    def attach(self, ctx):
        """Check the model and prepare (raises ``ValueError`` on a model that does not fit)."""
        self.ctx = ctx

    device = None  # or a method: fn(tensors) -> nest of tensors, run in the compiled capture

    def prepare(self, step):
        """Work on the model as it is at ``step`` (on the thread that called ``log``)."""

    def pictures(self, step):
        """Picture values of ``step`` (run on a worker thread)."""
        return []

    def values(self, step):
        """Every other value of ``step``."""
        return []


def rgb(img):
    """A uint8 image [H, W, 1 or 3+] as [H, W, 3]."""
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]


def probe_caption(probes, i, pred=None):
    """The title of a picture of probe ``i``: ``"probe 2 · true circle · pred square"``."""
    parts = [f"probe {i}"]
    if probes.labels is not None:
        parts.append(f"true {probes.class_name(int(probes.labels[i]))}")
    if pred is not None:
        parts.append(f"pred {probes.class_name(int(pred[i]))}")
    return " · ".join(parts)
