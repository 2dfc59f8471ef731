"""Feature visualizations logged while training, on a schedule that keeps their cost small.

At the scheduled steps (every ``every_n_epochs``-th epoch and the last one by
default) the kind re-synthesises, for a few map layers and up to 16 channels
each, the image that excites each channel most
(:func:`cnn_tb.feature_visualization`), always from the same seed so that the
images of two steps differ only because the network changed. It writes:

* ``feature_viz/<layer>`` (Images dashboard): a grid of the channels' images;
* the plugin's record ``cnn_tb/feature_viz`` (:mod:`cnn_tb.contract.records`)
  and a pack file beside the others holding one PNG strip per layer, which the
  CNN Flow tab's Filters view and detail panel show;
* its configuration and its measured cost in the run record's
  ``settings.feature_viz`` (the flow kind writes the run record again after
  each visualization, and at the last step when it was skipped there after
  earlier ones).

Cost control (:class:`Schedule`): the time spent on feature visualization is
kept at most ``max_share`` (5%) of the measured training time. A scheduled
step is skipped when running it would take the total over that share of the
training time so far (estimated by the last run's time, or before the
first run and after one that compiled, by :meth:`FeatureViz.prior`), or, when the last
step is known, when it would leave too little for the final one. Before the first
run its cost is estimated from the measured time of a training step
(:meth:`FeatureViz.prior`); from then on by the last run's time. Without
that estimate (a custom loop that does not pass ``steps_per_epoch``), the
first run happens at the first scheduled step.
"""

import dataclasses
import time
import warnings

import numpy as np

from cnn_tb import _validate, event_writer, render
from cnn_tb.contract import feature_viz_record, records, tags
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import image_value, plugin_value

DEFAULT_CHANNELS = 16
DEFAULT_LAYERS = 4
DEFAULT_STEPS = 64  # per visualization while training (128 for cnn_tb.feature_visualization)
PRIOR_TRAIN_STEPS = 0.25  # one optimisation step costs about this many training steps (see FeatureViz.prior)


@dataclasses.dataclass(frozen=True)
class FeatureVizOptions:
    """How :class:`cnn_tb.LayerFlow` / :class:`cnn_tb.LayerLogger` log feature visualizations.

    Pass one as ``feature_viz=`` (or a dict of these fields; ``False`` turns
    feature visualization off).

    Args:
        every_n_epochs: visualize after every n-th epoch (step ``n - 1``,
            ``2n - 1``, ...). Default 5.
        at_end: also after the last epoch (``model.fit`` tells when it is; a
            custom loop passes ``final=True`` to :meth:`cnn_tb.LayerLogger.log`).
            Default ``True``.
        layers: map layers to visualize: ``None`` (the first conv layer and the
            last conv layer of each spatial-resolution stage, thinned evenly to
            ``max_layers``) or a list of layer names. Default ``None``.
        max_layers: most layers chosen when ``layers`` is ``None``. Default 4.
        channels: how many channels (the first ones, as the feature maps stored
            for the plugin) per layer. Default 16.
        steps: optimisation steps per visualization. Default 64.
        seed: the seed of every visualization (the same at every step, so the
            images are comparable over time). Default 0.
        max_share: most time spent on feature visualization, as a share of
            the measured training time; ``None``: no limit (every due step
            runs, the cost is still measured and recorded). Default 0.05.

    Raises:
        ValueError / TypeError: naming the field and what was received.
    """

    every_n_epochs: int = 5
    at_end: bool = True
    layers: object = None
    max_layers: int = DEFAULT_LAYERS
    channels: int = DEFAULT_CHANNELS
    steps: int = DEFAULT_STEPS
    seed: int = 0
    max_share: float = 0.05

    def __post_init__(self):
        _validate.positive_int("every_n_epochs", self.every_n_epochs)
        _validate.boolean("at_end", self.at_end)
        _validate.positive_int("max_layers", self.max_layers)
        _validate.positive_int("channels", self.channels)
        _validate.positive_int("steps", self.steps)
        _validate.integer("seed", self.seed, minimum=0)
        if self.max_share is not None:
            _validate.number("max_share", self.max_share, 0.0, 1.0)
        if self.layers is not None:
            items = [self.layers] if isinstance(self.layers, str) else self.layers
            if not isinstance(items, (list, tuple)) or not items or not all(isinstance(n, str) for n in items):
                raise TypeError(f"`layers` must be None or a non-empty list of layer names. Received: layers={self.layers!r}")
            object.__setattr__(self, "layers", tuple(items))

    @classmethod
    def of(cls, value):
        """``value`` (``True``/``None``: defaults, ``False``: off, a dict, or options) as options or None."""
        if value is None or value is True:
            return cls()
        if value is False:
            return None
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ValueError(
                    f"`feature_viz` has unknown options {sorted(unknown)}; known: {[f.name for f in dataclasses.fields(cls)]}. "
                    f"Received: feature_viz={value!r}"
                )
            return cls(**value)
        raise TypeError(
            f"`feature_viz` must be True, False, a dict of options or cnn_tb.FeatureVizOptions. Received: feature_viz={value!r}"
        )

    def describe(self):
        return {f.name: (list(getattr(self, f.name)) if f.name == "layers" and self.layers else getattr(self, f.name))
                for f in dataclasses.fields(self)}


class Schedule:
    """When to visualize: the steps due, kept under ``max_share`` of the training time.

    Feed it the measured training time (:meth:`trained`) and the cost of each
    run (:meth:`spent`); :meth:`decide` says whether a step runs.
    """

    def __init__(self, every_n_epochs=5, at_end=True, max_share=0.05):
        self.every = every_n_epochs
        self.at_end = at_end
        self.max_share = max_share
        self.train_seconds = 0.0  # measured training time so far
        self.train_epochs = 0  # the epochs it covers
        self.spent_seconds = 0.0
        self.estimate = None  # seconds of one run (the last run's)
        self.estimate_compiled = False  # the last run included compiling the functions
        self.runs = []  # steps visualized
        self.skipped = []  # due steps skipped for the budget

    def trained(self, seconds, epochs):
        """Add ``seconds`` of training over ``epochs`` epochs."""
        if seconds is not None and seconds > 0 and epochs > 0:
            self.train_seconds += float(seconds)
            self.train_epochs += int(epochs)

    def spent(self, step, seconds, compiled=False):
        """Add a run at ``step`` that took ``seconds`` (``compiled``: including compilation)."""
        self.spent_seconds += float(seconds)
        self.estimate = float(seconds)
        self.estimate_compiled = bool(compiled)
        self.runs.append(int(step))

    def due(self, step, final=False):
        return step >= 0 and ((step + 1) % self.every == 0 or (final and self.at_end))

    def decide(self, step, final=False, last_step=None, prior=None):
        """``(run, reason)`` for ``step``; ``reason`` says why a due step is skipped.

        ``prior``: the estimated seconds of a run before any was measured
        (``None``: unknown, the first due step runs); after a run that
        included compiling, the smaller of it and that run's time.
        """
        if not self.due(step, final):
            return False, "not due"
        if self.max_share is None:
            return True, "due (no budget)"
        allowed = self.max_share * self.train_seconds
        if self.train_seconds <= 0:
            return self._skip(step, "no training time measured yet")
        estimate = self.estimate if self.estimate is not None else prior
        if self.estimate_compiled and prior is not None:
            estimate = min(estimate, prior)
        if estimate is None:
            return True, "first run"
        if self.spent_seconds + estimate > allowed:
            return self._skip(step, "over budget")
        if not final and self.at_end and last_step is not None and last_step > step and self.train_epochs:
            per_epoch = self.train_seconds / self.train_epochs
            at_end = self.max_share * (self.train_seconds + (last_step - step) * per_epoch)
            if self.spent_seconds + 2 * estimate > at_end:
                return self._skip(step, "kept for the last epoch")
        return True, "due"

    def _skip(self, step, reason):
        self.skipped.append(int(step))
        return False, reason

    @property
    def share(self):
        """Feature-viz time over the training time so far (None before any training)."""
        return self.spent_seconds / self.train_seconds if self.train_seconds > 0 else None

    def state(self):
        return {
            "share": self.share,
            "spent_seconds": round(self.spent_seconds, 3),
            "train_seconds": round(self.train_seconds, 3),
            "max_share": self.max_share,
            "runs": list(self.runs),
            "skipped": list(self.skipped[-64:]),
            "seconds_per_run": None if self.estimate is None else round(self.estimate, 3),
        }


def choose_layers(infos, options):
    """The map layers to visualize (:class:`~cnn_tb.model.graph.LayerInfo`), network order.

    Raises:
        ValueError: a named layer that is not a map layer of the model.
    """
    from cnn_tb.feature_viz import checks

    if options.layers is not None:
        by = {}
        for name in options.layers:
            info = checks.find_map_layer_in(infos, name)
            by[info.name] = info
        return [i for i in infos if i.name in by]
    maps = [i for i in infos if i.kind == tags.MAP and i.output_shape[-1]]
    convs = [i for i in maps if i.is_conv] or maps
    if not convs:
        return []
    stage_ends = [a for a, b in zip(convs, convs[1:] + [None]) if b is None or b.output_shape[:2] != a.output_shape[:2]]
    chosen = [convs[0]] + [i for i in stage_ends if i is not convs[0]]
    if len(chosen) > options.max_layers:
        n, m = len(chosen), options.max_layers
        chosen = [chosen[round(k * (n - 1) / max(1, m - 1))] for k in range(m)] if m > 1 else chosen[-1:]
    ids = {id(i) for i in chosen}
    return [i for i in convs if id(i) in ids]


def strip_png(images):
    """One PNG of ``images`` [n, H, W, C] in [0, 1], side by side without gaps (the plugin's tiles)."""
    u8 = np.clip(np.rint(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)
    n, h, w, c = u8.shape
    strip = u8.transpose(1, 0, 2, 3).reshape(h, n * w, c)
    return render.encode_png(strip[..., 0] if c == 1 else strip)


def dashboard_grid(images):
    """The Images-dashboard grid of ``images`` [n, H, W, C]: uint8 [H', W', 3], small images enlarged."""
    u8 = np.clip(np.rint(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)
    if u8.shape[-1] == 1:
        u8 = np.repeat(u8, 3, axis=-1)
    zoom = render.auto_scale(u8.shape[1], u8.shape[2], min_size=64, max_factor=4)
    tiles = [render.upscale_nearest(t, zoom) for t in u8]
    return render.tile(tiles, cols=min(len(tiles), 8), pad=2, pad_value=255)


class FeatureViz(Kind):
    """Feature visualizations of a few map layers at scheduled steps (see the module docstring)."""

    name = "feature_viz"
    needs_probes = False

    def attach(self, ctx):
        from cnn_tb import feature_viz
        from cnn_tb.model import graph

        super().attach(ctx)
        self.options = ctx.settings.feature_viz
        self.visualizers = {}
        self.schedule = None
        if self.options is None:
            return
        graph.require_graph_model(ctx.model)
        infos = ctx.infos if ctx.infos is not None else graph.walk(ctx.model)
        preprocess = getattr(ctx.probes, "preprocess", None)
        try:
            for info in choose_layers(infos, self.options):
                count = min(self.options.channels, int(info.output_shape[-1]))
                self.visualizers[info.name] = feature_viz.visualizer(ctx.model, info.name, range(count), preprocess=preprocess)
        except TypeError as e:
            if preprocess is None or "preprocess" not in str(e):
                raise
            # the probes' preprocess works on numpy arrays only: it cannot run inside the
            # compiled step. Everything else is logged as before.
            warnings.warn(f"cnn_tb: no feature visualizations for this run: {e}", RuntimeWarning, stacklevel=2)
            self.visualizers = {}
        if not self.visualizers:
            return
        self.schedule = Schedule(self.options.every_n_epochs, self.options.at_end, self.options.max_share)
        self._publish()

    def prior(self, step):
        """Seconds a run is expected to take before one was measured, or None when unknown.

        One optimisation step is a forward and backward pass of ``channels``
        images through part of the network, measured at about a sixth of a
        training step of the seed CNN (a batch of 32 through the whole model,
        forward, backward and the weight update; benchmarks/feature_viz.py).
        A run is estimated at ``steps x layers x PRIOR_TRAIN_STEPS`` (0.25)
        training steps, whose time is the measured training time over the
        batches; the first run's compilation makes up the rest.
        """
        batches = (step.steps_per_epoch or 0) * self.schedule.train_epochs
        if not batches or self.schedule.train_seconds <= 0:
            return None
        return PRIOR_TRAIN_STEPS * self.options.steps * len(self.visualizers) * self.schedule.train_seconds / batches

    def _publish(self):
        """Put the configuration and cost into the run record (written again by the flow kind)."""
        state = dict(self.options.describe(), layers=list(self.visualizers), cost=self.schedule.state())
        self.ctx.run_settings["feature_viz"] = state
        self.ctx.run_record_version += 1

    def prepare(self, step):
        """Decide, and run the due visualizations on the model as it is at ``step``."""
        if self.schedule is None:
            return
        self.schedule.trained(step.train_seconds, step.train_epochs)
        run, reason = self.schedule.decide(step.step, step.final, step.last_step, self.prior(step))
        if not run:
            # the run record is written again after every visualization, and at the
            # last step when one was skipped after earlier ones (so it ends with the
            # whole schedule); a run that never visualized keeps its first run record
            if step.final and reason != "not due" and self.schedule.runs:
                self._publish()
            return
        compiles = any(viz._fn is None for viz in self.visualizers.values())
        start = time.perf_counter()
        try:
            results = [viz.run(self.options.steps, self.options.seed) for viz in self.visualizers.values()]
        except Exception as e:  # noqa: BLE001 - the step's other summaries must still be written
            warnings.warn(
                f"cnn_tb: feature visualization failed at step {step.step} ({type(e).__name__}: {e}); it is "
                "turned off for this run, everything else is still logged.",
                RuntimeWarning,
                stacklevel=2,
            )
            self.schedule = None
            self.ctx.run_settings["feature_viz"] = dict(self.ctx.run_settings.get("feature_viz", {}), failed=str(e)[:500])
            self.ctx.run_record_version += 1
            return
        seconds = time.perf_counter() - start
        self.schedule.spent(step.step, seconds, compiled=compiles)
        step.prepared[self.name] = (results, seconds, self.schedule.state())
        self._publish()

    def values(self, step):
        if self.name not in step.prepared:
            return []
        results, seconds, state = step.prepared[self.name]
        out, blobs = [], []
        for res in results:
            png = strip_png(res.images)
            blobs.append(png)
            grid = dashboard_grid(res.images)
            out.append(
                image_value(
                    f"{tags.TAGS['feature_viz']}/{res.layer}",
                    [render.encode_png(grid)],
                    grid.shape,
                    f"What each of channels {res.channels[0]}..{res.channels[-1]} of {res.layer} responds to: the "
                    f"input optimised to raise its mean activation ({res.steps} steps, seed {res.seed}), left to right",
                )
            )
        path = f"{tags.PACK_DIR}/{self.ctx.session}/{step.step}{tags.FEATURE_VIZ_SUFFIX}"
        spans = event_writer.write_pack_file(self.ctx.run_dir, path, blobs)
        record = feature_viz_record.build_feature_viz_record(
            file=path,
            steps=self.options.steps,
            seed=self.options.seed,
            seconds=seconds,
            layers=[
                feature_viz_record.feature_viz_layer(
                    name=res.layer,
                    channels=list(res.channels),
                    image_shape=list(res.images.shape[1:]),
                    span=span,
                    objective=[float(v) for v in res.objective],
                )
                for res, span in zip(results, spans)
            ],
            cost=feature_viz_record.feature_viz_cost(**{k: state[k] for k in ("share", "spent_seconds", "train_seconds", "max_share")}),
        )
        out.append(plugin_value(tags.FEATURE_VIZ_TAG, records.encode_json(record), "cnn_tb feature visualizations"))
        return out
