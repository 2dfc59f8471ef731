"""The work behind every cnn_tb callback, callable from any training loop.

One :class:`LayerLogger` owns one model, one probe set and one run directory.
Each :meth:`LayerLogger.log` call makes ONE forward pass of the probes (and one
backward pass when Grad-CAM is on), hands it to every requested kind of
summary (:mod:`cnn_tb.summaries`) and writes what they return as one event,
flushed.
"""

import concurrent.futures
import os
import time
import warnings
import weakref

from cnn_tb import event_writer
from cnn_tb._distribute import is_chief
from cnn_tb.contract import tags
from cnn_tb.model import capture as capture_lib
from cnn_tb.model import graph, reduce
from cnn_tb.model import kernels as kernels_lib
from cnn_tb.pool import logger as pool_lib
from cnn_tb.probes import Probes
from cnn_tb.summaries import ALL_KINDS, KINDS
from cnn_tb.summaries.base import ModelContext, Settings, Step
from cnn_tb.summaries.feature_viz import FeatureViz, FeatureVizOptions
from cnn_tb.summaries.flow_budget import DEFAULT_BUDGET_BYTES

MAX_FAILURES = 3  # failed steps in a row after which a logger stops logging


class LayerLogger:
    """Logs what every layer of a model does to the probes, one step at a time.

    Use it directly in a custom training loop; the Keras callbacks are thin
    wrappers over it.

    Args:
        log_dir: the TensorBoard log directory (local or any ``tf.io.gfile``
            path such as ``gs://...``). Data goes to ``<log_dir>/cnn_tb``.
        probes: a :class:`cnn_tb.Probes` (or an image array). Needed for every
            kind but ``"kernels"``. Default ``None``.
        kinds: which summaries to write, a subset of ``ALL_KINDS``
            (``"feature_maps"``, ``"kernels"``, ``"stats"``, ``"heatmaps"``,
            ``"predictions"``, ``"feature_viz"``, ``"flow"``). Default: all.
        layers: which layers to log: ``None`` (every layer whose output is an
            image-shaped map or a vector, except dropout/noise/reshape layers),
            a list of layer names and/or layer classes, or a predicate
            ``fn(layer) -> bool``. Default ``None``.
        dashboard_layers: which logged layers also get Images-dashboard
            pictures, ``activation_stats`` scalars and histograms (the CNN Flow
            tab always shows every logged layer): ``None`` (every layer when at
            most 24 are logged, else a representative subset of at most 16: the
            last layer of each spatial-resolution stage, the first and last
            conv, the output), ``"all"``, names and/or classes, or a predicate.
            Default ``None``.
        max_channels: most channels drawn per feature-map grid and stored per
            layer for the plugin. Default 32.
        cmap: colormap of feature maps. Default ``"viridis"``.
        kernel_cmap: diverging colormap of kernels (centred on zero). Default
            ``"RdBu_r"``.
        heatmap_cmap: colormap of heatmap overlays. Default ``"jet"``.
        budget_bytes: most bytes of (uncompressed) activations stored per probe
            per step for the plugin; see :mod:`cnn_tb.summaries.flow_budget`.
            Default 64 KiB.
        image_probes: how many probes (the first ones) get Images-dashboard
            pictures (feature maps, transformation strips, heatmaps); ``None``
            = all. The plugin's flow records always hold every probe. Default
            2, which keeps the seed CNN with 8 probes under 1 MB and about 2%
            of a 5,000-image epoch; each more probe adds about 120 KB and 10 ms.
        histograms: write activation histograms. Default ``True``.
        feature_viz: feature visualizations of a few layers on a schedule
            that keeps their cost under 5% of the training time
            (:mod:`cnn_tb.summaries.feature_viz`): ``True`` (every 5 epochs
            and at the end, up to 4 layers, 16 channels each, 64 steps),
            ``False`` (off), a dict of :class:`cnn_tb.FeatureVizOptions`
            fields, or such options. Default ``True``.
        run_name: the run subdirectory. Default ``"cnn_tb"``.
        pool: an optional held-out pool of labelled images, run through the
            model at every pool step for class separation per layer, a
            confusion matrix, right-vs-wrong, dataset examples per channel and
            Projector embeddings (:mod:`cnn_tb.pool`): a :class:`cnn_tb.Probes`
            with labels, an ``(images, labels)`` pair or a ``tf.data.Dataset``
            of ``(image, label)`` pairs (the last two take the probes'
            ``class_names`` and ``preprocess``). Default ``None`` (no pool).
        pool_every_n_epochs: pool steps are the untrained model (step -1),
            every step ``s`` with ``(s + 1) % n == 0`` and, with the callbacks,
            the last epoch. Default 1.
        embedding_layers: layer names whose pool embeddings go to TensorBoard's
            Projector. Default ``None``: the layer feeding the output layer.
        pool_examples: dataset examples (top pool images) per stored channel.
            Default 6.

    Raises:
        ValueError / TypeError: for bad arguments, naming the argument and the
            value received.

    Example:
        >>> logger = cnn_tb.LayerLogger(log_dir, probes)
        >>> logger.attach(model)
        >>> for epoch in range(epochs):
        ...     train_one_epoch()
        ...     logger.log(step=epoch)
        >>> logger.close()
    """

    def __init__(
        self,
        log_dir,
        probes=None,
        *,
        kinds=ALL_KINDS,
        layers=None,
        dashboard_layers=None,
        max_channels=32,
        cmap="viridis",
        kernel_cmap="RdBu_r",
        heatmap_cmap="jet",
        budget_bytes=DEFAULT_BUDGET_BYTES,
        image_probes=2,
        histograms=True,
        feature_viz=True,
        run_name=tags.RUN_NAME,
        pool=None,
        pool_every_n_epochs=1,
        embedding_layers=None,
        pool_examples=pool_lib.DEFAULT_TOP_K,
    ):
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(f"`log_dir` must be a non-empty path. Received: log_dir={log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"`kinds` must be a non-empty subset of {ALL_KINDS}. Received: kinds={kinds!r}")
        feature_viz = FeatureVizOptions.of(feature_viz)
        if feature_viz is None:
            kinds = tuple(k for k in kinds if k != FeatureViz.name)
            if not kinds:
                raise ValueError("`feature_viz=False` leaves nothing to log: kinds=('feature_viz',).")
        self.kinds = frozenset(kinds)
        self.settings = Settings(
            max_channels=max_channels,
            cmap=cmap,
            kernel_cmap=kernel_cmap,
            heatmap_cmap=heatmap_cmap,
            budget_bytes=budget_bytes,
            image_probes=image_probes,
            histograms=bool(histograms),
            feature_viz=feature_viz,
        )
        # every kind, in the order of KINDS (the flow kind's epoch record last)
        self._kinds = [cls(self.settings) for name, cls in KINDS.items() if name in self.kinds]
        self.needs_forward = any(k.needs_probes for k in self._kinds)
        if probes is not None and not isinstance(probes, Probes):
            probes = Probes(probes)
        if probes is None and self.needs_forward:
            raise ValueError(
                f"`probes` are needed to log {sorted(k.name for k in self._kinds if k.needs_probes)}. "
                "Received: probes=None. Pass cnn_tb.Probes(images, labels=...)."
            )
        self.probes = probes
        self.pool_logger = _pool_logger(pool, probes, self.needs_forward, pool_every_n_epochs, embedding_layers, pool_examples)
        graph.validate_layers_arg(layers)
        graph.validate_layers_arg(dashboard_layers, "dashboard_layers")
        self.layers = layers
        self.dashboard_layers = dashboard_layers
        if not isinstance(run_name, str) or not run_name or "/" in run_name or run_name in (".", ".."):
            raise ValueError(f"`run_name` must be a plain directory name. Received: run_name={run_name!r}")
        self.run_name = run_name
        if "://" in self.log_dir:
            self.run_dir = self.log_dir.rstrip("/") + "/" + run_name
        else:
            self.run_dir = os.path.join(self.log_dir, run_name)
        self.model = None
        self._writer = None
        self._failures = 0
        self._disabled = False
        self.last_timings = {}
        self._last_end = None  # when the previous log() ended, and its step: the training time between
        self._last_step = None

    def attach(self, model):
        """Check the model and probes, and prepare the capture. Raises on bad input."""
        self.ctx = inspect(model, self.probes, self.layers, self.dashboard_layers, self.settings, self._kinds)
        self.ctx.run_dir, self.ctx.session = self.run_dir, event_writer.session_id()
        self.model = model
        needs_kernels = any(k.needs_kernels for k in self._kinds)
        kernel_layers = {i.name: i.layer for i in self.ctx.kernel_infos} if needs_kernels else {}
        self._kernels = kernels_lib.KernelTracker(kernel_layers)
        for kind in self._kinds:
            kind.attach(self.ctx)
        if self.pool_logger is not None:
            self.pool_logger.attach(self.ctx)
        self._pool_failures = 0
        self.capture = None
        if self.needs_forward:
            self.capture = capture_lib.Capture(
                model, [i.name for i in self.ctx.selected], self.ctx.gradcam_layers, device_fn=self._device
            )
        if "kernels" in self.kinds:
            for info in self.ctx.conv_infos:
                reason = kernels_lib.unsupported_reason(info.layer)
                if reason:
                    warnings.warn(f"cnn_tb: kernels of layer {info.name!r} are not drawn: {reason}.", stacklevel=2)
        self._failures = 0
        self._disabled = False
        self._last_end = self._last_step = None
        if is_chief():
            event_writer.check_writable(self.run_dir, self.log_dir)
        return self

    def _device(self, t):
        """What crosses to the host after a pass: the statistics and each kind's reductions."""
        out = {k.name: k.device(t) for k in self._kinds if k.device is not None}
        if any(k.needs_stats for k in self._kinds):
            out["layer_stats"] = reduce.layer_stats(t, [i.name for i in self.ctx.selected])
        if any(k.needs_histograms for k in self._kinds):
            out["layer_histograms"] = reduce.histograms(t, [i.name for i in self.ctx.selected])
        return out

    def log(self, step, logs=None, *, final=False, last_step=None, steps_per_epoch=None, pool=None):
        """Log everything for ``step``. Never raises: a failure warns and is skipped.

        The time since the previous call ended counts as training time (the
        feature visualizations' budget is a share of it).

        Args:
            step: the step (see :mod:`cnn_tb.contract.tags`: Keras epoch index,
                -1 for the untrained model).
            logs: optional ``{metric: value}`` (Keras' epoch logs) stored with
                the flow record.
            final: True at the last step of the training (feature
                visualizations are made at the end). Default ``False``.
            last_step: the training's last step, when known (the feature
                visualization schedule keeps enough budget for it). Default
                ``None``.
            steps_per_epoch: training steps (batches) per epoch, when known:
                the feature visualizations' first cost estimate derives from
                the time of one. Default ``None``.
            pool: with a ``pool=``: ``True`` / ``False`` runs / skips the pool
                at this step; ``None`` (default) follows ``pool_every_n_epochs``.

        Returns:
            True when the step was written.
        """
        if self.model is None:
            raise RuntimeError("LayerLogger.log() called before attach(model).")
        if self._disabled or not is_chief():
            return False
        now = time.perf_counter()
        trained = (None, 0)
        if self._last_end is not None and self._last_step is not None and int(step) > self._last_step:
            trained = (now - self._last_end, int(step) - self._last_step)
        try:
            self._log(int(step), logs or {}, final=bool(final), last_step=last_step, trained=trained,
                      steps_per_epoch=steps_per_epoch, pool=pool)
        except Exception as e:  # noqa: BLE001 - logging must never stop training
            self._failures += 1
            msg = f"cnn_tb: logging step {step} failed and was skipped ({type(e).__name__}: {e}); training continues."
            if self._failures >= MAX_FAILURES:
                self._disabled = True
                msg += f" {self._failures} failures in a row: cnn_tb stops logging for this run."
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            return False
        finally:
            self._last_end, self._last_step = time.perf_counter(), int(step)
        self._failures = 0
        return True

    def _log(self, step, logs, final=False, last_step=None, trained=(None, 0), steps_per_epoch=None, pool=None):
        clock = _Clock()
        result = self.capture.run(self.probes.model_inputs(), self.probes.labels) if self.capture else None
        clock.lap("forward_backward")
        data = Step(step, logs, result, *self._kernels.read(), selected=self.ctx.selected, final=final,
                    last_step=last_step, train_seconds=trained[0], train_epochs=trained[1],
                    steps_per_epoch=steps_per_epoch)
        clock.lap("kernels")
        # Pictures are rendered and encoded on a second thread while this one
        # computes statistics and packs the flow records: training is paused
        # during the callback, and numpy, zlib and Pillow release the GIL.
        pictures = _pool().submit(_timed, lambda: [v for k in self._kinds for v in k.pictures(data)])
        if any(k.needs_stats for k in self._kinds):
            data.stats  # noqa: B018 - computed here, timed on its own
        clock.lap("statistics")
        values = [v for k in self._kinds for v in k.values(data)]
        clock.lap("encoding")
        pool_values = self._log_pool(step, pool, clock)
        picture_values, clock.timings["rendering"] = pictures.result()
        clock.lap("waiting_for_rendering")
        if self._writer is None:
            self._writer = event_writer.acquire(self.run_dir)
        try:
            self._writer.write(step, picture_values + pool_values + values)  # the epoch record stays last
            self._writer.flush()
        except Exception:
            # A full disk or a vanished directory: drop this file (what was
            # flushed before stays readable) and start a new one next step.
            writer, self._writer = self._writer, None
            event_writer.discard(writer)
            raise
        clock.lap("writing")
        self.last_timings = clock.done()

    def _log_pool(self, step, force, clock):
        """The pool's values at a pool step; a failure warns and leaves the pool out
        of this step (after 3 in a row the pool is switched off for the run)."""
        if self.pool_logger is None or not self.pool_logger.due(step, force):
            return []
        try:
            values = self.pool_logger.values(self.pool_logger.run(step))
        except Exception as e:  # noqa: BLE001 - an optional extra never stops logging
            self._pool_failures += 1
            msg = f"cnn_tb: the held-out pool failed at step {step} and was left out ({type(e).__name__}: {e})."
            if self._pool_failures >= MAX_FAILURES:
                self.pool_logger = None
                msg += f" {self._pool_failures} failures in a row: the pool is switched off for this run."
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            return []
        self._pool_failures = 0
        clock.lap("pool")
        return values

    def close(self):
        """Flush and release the event file."""
        if self._writer is not None:
            try:
                self._writer.flush()
            except Exception as e:  # noqa: BLE001
                warnings.warn(f"cnn_tb: could not flush {self.run_dir!r}: {e}", RuntimeWarning, stacklevel=2)
            event_writer.release(self._writer)
            self._writer = None


def inspect(model, probes, layers, dashboard_layers, settings, kinds):
    """Check ``model`` against the probes and kinds; the :class:`ModelContext` they share.

    Raises:
        ValueError / TypeError: a model, layer selection or probe set that does not fit.
    """
    names = tuple(k.name for k in kinds)
    needs_forward = any(k.needs_probes for k in kinds)
    if not needs_forward:
        convs = [l for l in graph.all_layers(model) if kernels_lib.is_conv(l)]
        conv_infos = [graph.LayerInfo.of_layer(l) for l in convs]
        kernel_infos = [i for i in conv_infos if not kernels_lib.unsupported_reason(i.layer)]
        shown = [i.name for i in graph.dashboard(kernel_infos, dashboard_layers)]
        return ModelContext(model, probes, None, [], conv_infos, kernel_infos, [], None, settings, names, shown)
    graph.require_graph_model(model)
    infos = graph.walk(model)
    selected = graph.select(infos, layers)
    if not any(i.kind == tags.MAP for i in selected):
        all_maps = [i.name for i in infos if i.kind == tags.MAP]
        if not all_maps:
            raise ValueError(
                f"Model {model.name!r} has no layer with an image-shaped output (H, W, C): cnn_tb shows "
                f"what convolutional layers do. Layers: {[(i.name, i.class_name, i.output_shape) for i in infos]}"
            )
        raise ValueError(
            f"None of the selected layers has an image-shaped output (H, W, C). "
            f"Layers with one: {all_maps}. Received: layers={layers!r}"
        )
    probes.check_against_model(tuple(graph.model_input(model).shape[1:]), graph.model_output(model).shape[-1])
    conv_infos = [i for i in infos if i.is_conv]
    kernel_infos = [i for i in conv_infos if not kernels_lib.unsupported_reason(i.layer)]
    gradcam_layers = []
    if any(k.wants_gradcam for k in kinds):
        gradcam_layers = [i.name for i in selected if i.is_conv and i.parent is None and i.kind == tags.MAP]
    shown = [i.name for i in graph.dashboard(selected, dashboard_layers)]
    return ModelContext(
        model, probes, infos, selected, conv_infos, kernel_infos, gradcam_layers, graph.output_kind(model), settings,
        names, shown,
    )


def _pool_logger(pool, probes, needs_forward, every_n_epochs, embedding_layers, top_k):
    """The :class:`~cnn_tb.pool.logger.PoolLogger` of the ``pool=`` options (None without a pool).

    Raises:
        ValueError / TypeError: naming the option and what was received.
    """
    from cnn_tb import _validate
    from cnn_tb.pool import as_pool

    every_n_epochs = _validate.positive_int("pool_every_n_epochs", every_n_epochs)
    top_k = _validate.positive_int("pool_examples", top_k)
    if embedding_layers is not None:
        items = [embedding_layers] if isinstance(embedding_layers, str) else embedding_layers
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(n, str) for n in items):
            raise TypeError(
                "`embedding_layers` must be None or a non-empty list of layer names. "
                f"Received: embedding_layers={embedding_layers!r}"
            )
        embedding_layers = list(items)
    if pool is None:
        return None
    if not needs_forward:
        raise ValueError("`pool` needs a kind that runs the model (not only \"kernels\"). Received: pool with kinds=('kernels',)")
    pool = as_pool(pool, probes.class_names, probes.preprocess)
    return pool_lib.PoolLogger(pool, every_n_epochs, embedding_layers, top_k)


class _Clock:
    """Seconds spent in each phase of a step (``LayerLogger.last_timings``)."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.timings = {}

    def lap(self, name):
        now = time.perf_counter()
        self.timings[name] = now - self.last
        self.last = now

    def done(self):
        self.timings["total"] = time.perf_counter() - self.start
        return self.timings


_executor = []


def _pool():
    """One worker thread, shared by every logger in the process, started lazily."""
    if not _executor:
        _executor.append(concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnn_tb"))
    return _executor[0]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


_loggers = weakref.WeakKeyDictionary()


def log_layers(model, probes, log_dir, step, logs=None, **options):
    """Log every layer of ``model`` for ``probes`` at ``step``: for custom training loops.

    The first call for a (model, probes, log_dir, options) builds a
    :class:`LayerLogger` (checking everything, raising on bad input); later
    calls reuse it, so calling this once per epoch costs one forward pass.

    Args:
        model: a Functional or Sequential keras model.
        probes: :class:`cnn_tb.Probes` (or an image array).
        log_dir: TensorBoard log directory; data goes to ``<log_dir>/cnn_tb``.
        step: the step to log at (-1 for the untrained model, then epoch index).
        logs: optional metrics to store with the step.
        **options: :class:`LayerLogger` options (``kinds``, ``layers``,
            ``max_channels``, ``cmap``, ...).

    Returns:
        True when the step was written (False when it failed with a warning).

    Example:
        >>> for epoch in range(10):
        ...     train_one_epoch(model)
        ...     cnn_tb.log_layers(model, probes, "logs", step=epoch)
    """
    per_model = _loggers.setdefault(model, {})
    pool = options.get("pool")
    pool_key = tuple(map(id, pool)) if isinstance(pool, (tuple, list)) else id(pool)
    key = (os.fspath(log_dir), id(probes), pool_key, repr(sorted((k, v) for k, v in options.items() if k != "pool")))
    logger = per_model.get(key)
    # id() of a garbage-collected Probes can be reused by a new one: check identity too.
    if logger is None or logger.probes is not probes and isinstance(probes, Probes):
        logger = LayerLogger(log_dir, probes, **options).attach(model)
        per_model[key] = logger
    return logger.log(step, logs)
