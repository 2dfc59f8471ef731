"""Keras callbacks: thin wrappers over :class:`cnn_tb.LayerLogger`.

Each callback logs the untrained model (step -1) when training starts from
epoch 0, then the model after every ``every_n_epochs``-th epoch (and the last
one) at the Keras epoch index, the step ``keras.callbacks.TensorBoard`` uses
for ``epoch_loss``. Only epoch-level hooks are overridden, so Keras keeps its
asynchronous batch dispatch.
"""

import keras

from cnn_tb.layer_logger import ALL_KINDS, LayerLogger, _check_positive_int


class _LayerCallback(keras.callbacks.Callback):
    _kinds = ALL_KINDS

    def __init__(self, log_dir, probes=None, *, every_n_epochs=1, log_untrained=True, **options):
        super().__init__()
        _check_positive_int("every_n_epochs", every_n_epochs)
        if not isinstance(log_untrained, bool):
            raise ValueError(f"`log_untrained` must be True or False. Received: log_untrained={log_untrained!r}")
        self.every_n_epochs = int(every_n_epochs)
        self.log_untrained = log_untrained
        self.logger = LayerLogger(log_dir, probes, kinds=self._kinds, **options)
        self._attached_to = None
        self._started = False

    def set_model(self, model):
        super().set_model(model)
        # Check model, layers and probes now, before any training happens.
        self._attach(model)

    def _attach(self, model):
        if self._attached_to is not model:
            self.logger.attach(model)
            self._attached_to = model

    def on_train_begin(self, logs=None):
        self._attach(self.model)
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self._started = True
            # A resumed run (initial_epoch > 0) already logged its start.
            if epoch == 0 and self.log_untrained:
                self.logger.log(-1)

    def on_epoch_end(self, epoch, logs=None):
        total = (self.params or {}).get("epochs")
        if (epoch + 1) % self.every_n_epochs == 0 or (total is not None and epoch + 1 == total):
            self.logger.log(epoch, logs)

    def on_train_end(self, logs=None):
        self.logger.close()


_COMMON_ARGS = """
    Args:
        log_dir: TensorBoard log directory (local or ``gs://...``); cnn_tb writes
            to its ``cnn_tb`` subdirectory, beside ``train/`` and ``validation/``.
        probes: :class:`cnn_tb.Probes` (or an image array).{probes_default}
        every_n_epochs: log after every n-th epoch (and after the last). Default 1.
        log_untrained: also log the model before training, at step -1, when
            training starts at epoch 0. Default ``True``.
        **options: :class:`cnn_tb.LayerLogger` options: ``layers`` (names,
            layer classes or a predicate; default: every map or vector layer
            but dropout/reshape), ``max_channels`` (32), ``cmap``
            ("viridis"), ``kernel_cmap`` ("RdBu_r"), ``heatmap_cmap`` ("jet"),
            ``budget_bytes``, ``image_probes``, ``histograms``, ``run_name``.

    Raises:
        ValueError / TypeError: bad arguments (here), or a model / probes that
            do not fit (when Keras calls ``set_model``, before training).
"""


class LayerFlow(_LayerCallback):
    __doc__ = (
        """Everything cnn_tb logs, from ONE forward (+ one backward) pass per epoch.

    Feature-map grids, channel-mean strips, kernel grids, activation statistics
    and histograms, max-activation and Grad-CAM heatmaps, predictions, and the
    flow records that the cnn_tb TensorBoard plugin ("CNN Flow" tab) shows.
"""
        + _COMMON_ARGS.format(probes_default="")
        + """
    Example:
        >>> probes = cnn_tb.Probes(x_test[:8], labels=y_test[:8], class_names=CLASSES)
        >>> model.fit(x, y, epochs=20, callbacks=[
        ...     keras.callbacks.TensorBoard(log_dir),
        ...     cnn_tb.LayerFlow(log_dir, probes),
        ... ])
"""
    )

    _kinds = ALL_KINDS


class FeatureMaps(_LayerCallback):
    __doc__ = (
        """Feature-map grids (one per layer and probe) and channel-mean strips (Images).
"""
        + _COMMON_ARGS.format(probes_default="")
        + """
    Example:
        >>> model.fit(x, y, callbacks=[cnn_tb.FeatureMaps("logs", x_test[:4])])
"""
    )

    _kinds = ("feature_maps",)


class KernelGrids(_LayerCallback):
    __doc__ = (
        """Kernel grids of every conv layer (Images) and how much they moved (Scalars).

    Needs no probes and works on subclassed models too.
"""
        + _COMMON_ARGS.format(probes_default=" Not used. Default ``None``.")
        + """
    Example:
        >>> model.fit(x, y, callbacks=[cnn_tb.KernelGrids("logs")])
"""
    )

    _kinds = ("kernels",)

    def __init__(self, log_dir, probes=None, **kwargs):
        super().__init__(log_dir, probes, **kwargs)


class ActivationStats(_LayerCallback):
    __doc__ = (
        """Per-layer activation statistics (Scalars) and histograms (Histograms).
"""
        + _COMMON_ARGS.format(probes_default="")
        + """
    Example:
        >>> model.fit(x, y, callbacks=[cnn_tb.ActivationStats("logs", probes)])
"""
    )

    _kinds = ("stats",)


class Heatmaps(_LayerCallback):
    __doc__ = (
        """Max-activation and Grad-CAM heatmaps over each probe (Images).
"""
        + _COMMON_ARGS.format(probes_default="")
        + """
    Example:
        >>> model.fit(x, y, callbacks=[cnn_tb.Heatmaps("logs", probes)])
"""
    )

    _kinds = ("heatmaps",)
