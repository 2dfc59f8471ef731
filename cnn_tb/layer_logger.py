"""The work behind every cnn_tb callback, callable from any training loop.

One :class:`LayerLogger` owns one model, one probe set and one run directory.
Each :meth:`LayerLogger.log` call makes ONE forward pass of the probes (and one
backward pass when Grad-CAM is on), hands it to every requested kind of
summary (:mod:`cnn_tb.summaries`) and writes what they return in one write,
flushed. With ``background=True`` (the callbacks' default) only the pass and
the reads of the model happen inside ``log``; the pictures, packs and the event
are made on a background thread while training goes on.
"""

import os
import time
import warnings
import weakref

from cnn_tb import _timing, _validate, event_writer
from cnn_tb._distribute import is_chief
from cnn_tb._failures import MAX_FAILURES, FailureCounter
from cnn_tb.context import inspect
from cnn_tb.contract import tags
from cnn_tb.model import backend, selection
from cnn_tb.model import kernels as kernels_lib
from cnn_tb.pool import logger as pool_lib
from cnn_tb.probes import Probes
from cnn_tb.step import StepRunner
from cnn_tb.summaries import ALL_KINDS, KINDS
from cnn_tb.summaries.base import Settings
from cnn_tb.summaries.feature_viz import FeatureViz, FeatureVizOptions
from cnn_tb.summaries.flow_budget import DEFAULT_BUDGET_BYTES


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
        background: ``log`` returns once the probes' pass, the kernels, the
            feature visualizations and a snapshot of the weights for the pool
            are done (what reads the model); the step's statistics, pictures,
            packs, the pool's pass (on that snapshot) and analyses and the event
            are made and written on a background thread while training goes on. The
            next ``log``, :meth:`wait` and :meth:`close` wait for it; a step
            that fails there is reported (a warning) by the next of them.
            Default ``False`` (``log`` returns once the step is written); the
            Keras callbacks default to ``True``.

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
        background=False,
    ):
        self.log_dir, self.run_dir = _run_dir(log_dir, run_name)
        self.run_name = run_name
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
        self._pool_logger = pool_lib.from_options(
            pool, probes, self.needs_forward, pool_every_n_epochs, embedding_layers, pool_examples
        )
        selection.validate_layers_arg(layers)
        selection.validate_layers_arg(dashboard_layers, "dashboard_layers")
        self.layers = layers
        self.dashboard_layers = dashboard_layers
        self.model = None
        self._steps = None  # the StepRunner of the attached model
        self._failures = FailureCounter("cnn_tb stops logging for this run.", limit=MAX_FAILURES)
        self.background = _validate.boolean("background", background)
        self.last_timings = {}
        self._pending = None  # (step, future, seconds log() took) of the step being finished in the background
        self._last_end = None  # when the previous log() ended, and its step: the training time between
        self._last_step = None

    def attach(self, model):
        """Check the model and probes, and prepare the capture. Raises on bad input."""
        self.wait()  # a step of the model attached before is finished first
        self.ctx = inspect(model, self.probes, self.layers, self.dashboard_layers, self.settings, self._kinds)
        self.ctx.run_dir, self.ctx.session = self.run_dir, event_writer.session_id()
        self.model = model
        for kind in self._kinds:
            kind.attach(self.ctx)
        pool_logger = self.pool_logger  # None once switched off by failures
        if pool_logger is not None:
            pool_logger.attach(self.ctx)
        old = self._steps  # a model attached before: its event file is kept
        self._steps = StepRunner(self.ctx, self._kinds, pool_logger, writer=old.writer if old else None)
        if "kernels" in self.kinds:
            for info in self.ctx.conv_infos:
                reason = kernels_lib.unsupported_reason(info.layer)
                if reason:
                    warnings.warn(f"cnn_tb: kernels of layer {info.name!r} are not drawn: {reason}.", stacklevel=2)
        self._failures.reset()
        self._last_end = self._last_step = None
        if is_chief():
            event_writer.check_writable(self.run_dir, self.log_dir)
        return self

    @property
    def pool_logger(self):
        """The :class:`~cnn_tb.pool.logger.PoolLogger` of ``pool=`` (None without one, or once it failed 3 steps in a row)."""
        return self._steps.pool_logger if self._steps is not None else self._pool_logger

    @property
    def capture(self):
        """The probes' :class:`~cnn_tb.model.capture.Capture` once attached (None when no kind needs it)."""
        return self._steps.capture if self._steps is not None else None

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
            True when the step was written; with ``background=True``, when the
            step's pass succeeded and the rest was handed to the background
            thread (a failure there warns at the next ``log``, ``wait`` or
            ``close``). ``last_timings`` then holds the phases of the last step
            finished, ``log_call`` the seconds ``log`` took.
        """
        if self.model is None:
            raise RuntimeError("LayerLogger.log() called before attach(model).")
        self.wait()
        defer = self.background and self._steps.first and not backend.distributed(self.model)
        if self._failures.stopped or not is_chief():
            return False
        now = time.perf_counter()
        trained = (None, 0)
        if self._last_end is not None and self._last_step is not None and int(step) > self._last_step:
            trained = (now - self._last_end, int(step) - self._last_step)
        options = dict(final=bool(final), last_step=last_step, trained=trained, steps_per_epoch=steps_per_epoch,
                       pool=pool)
        logs = dict(logs or {})
        try:
            if defer:
                # The first step (the untrained model: JAX compiles for seconds,
                # TensorFlow runs eagerly and then starts compiling) runs wholly in
                # the background on a snapshot of the weights: training starts at
                # once instead of waiting for it. Only the first: eager passes in
                # the background would slow the compilation they wait for.
                future = _timing.steps().submit(self._steps.deferred, backend.snapshot(self.model), int(step), logs,
                                                **options)
            elif self.background:
                future = _timing.steps().submit(self._steps.finish, self._steps.prepare(int(step), logs, **options))
            else:
                self.last_timings = dict(self._steps.run(int(step), logs, **options),
                                         log_call=time.perf_counter() - now)
            if self.background:
                self._pending = (int(step), future, time.perf_counter() - now)
        except Exception as e:  # noqa: BLE001 - logging must never stop training
            return self._failed(step, e)
        finally:
            self._show_messages()
            self._last_end, self._last_step = time.perf_counter(), int(step)
        if not self.background:
            self._failures.succeeded()
        return True

    def _failed(self, step, e):
        msg = self._failures.failed(
            f"cnn_tb: logging step {step} failed and was skipped ({type(e).__name__}: {e}); training continues."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return False

    def _show_messages(self):
        steps = self._steps
        while steps is not None and steps.messages:
            warnings.warn(steps.messages.pop(0), RuntimeWarning, stacklevel=3)

    def wait(self):
        """Wait for the step being finished in the background (``background=True``): at
        most one, since every ``log`` waits for the one before.

        Returns:
            False when it failed (with a warning), else True.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            return True
        step, future, log_call = pending
        try:
            self.last_timings = dict(future.result(), log_call=log_call)
        except Exception as e:  # noqa: BLE001 - logging must never stop training
            return self._failed(step, e)
        finally:
            self._show_messages()
        self._failures.succeeded()
        return True

    def close(self):
        """Wait for a step being finished in the background, flush and release the event file."""
        self.wait()
        if self._steps is not None:
            self._steps.close()
            self._show_messages()


def _run_dir(log_dir, run_name):
    """``(log_dir, run directory)`` as paths (local or ``scheme://`` URLs).

    Raises:
        ValueError: an empty log_dir, or a run name that is not a plain directory name.
    """
    if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
        raise ValueError(f"`log_dir` must be a non-empty path. Received: log_dir={log_dir!r}")
    if not isinstance(run_name, str) or not run_name or "/" in run_name or run_name in (".", ".."):
        raise ValueError(f"`run_name` must be a plain directory name. Received: run_name={run_name!r}")
    log_dir = os.fspath(log_dir)
    if "://" in log_dir:
        return log_dir, log_dir.rstrip("/") + "/" + run_name
    return log_dir, os.path.join(log_dir, run_name)


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
