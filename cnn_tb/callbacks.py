"""Keras callbacks: thin wrappers over :class:`cnn_tb.LayerLogger`.

Each callback logs the untrained model (step -1) when training starts from
epoch 0, then the model after every ``every_n_epochs``-th epoch (and the last
one) at the Keras epoch index, the step ``keras.callbacks.TensorBoard`` uses
for ``epoch_loss``. Only epoch-level hooks are overridden, so Keras keeps its
asynchronous batch dispatch.
"""

import keras

from cnn_tb import _validate
from cnn_tb.layer_logger import LayerLogger
from cnn_tb.summaries import ALL_KINDS


class _LayerCallback(keras.callbacks.Callback):
    _kinds = ALL_KINDS

    def __init__(self, log_dir, probes=None, *, every_n_epochs=1, log_untrained=True, **options):
        super().__init__()
        self.every_n_epochs = _validate.positive_int("every_n_epochs", every_n_epochs)
        _validate.boolean("log_untrained", log_untrained)
        self.log_untrained = log_untrained
        options.setdefault("background", True)
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
        final = total is not None and epoch + 1 == total
        if (epoch + 1) % self.every_n_epochs == 0 or final:
            self.logger.log(epoch, logs, final=final, last_step=None if total is None else total - 1,
                            steps_per_epoch=(self.params or {}).get("steps"), pool=True if final else None)

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
            ``budget_bytes``, ``image_probes``, ``histograms``, ``feature_viz``
            (``True``: every 5 epochs and at the end, at most 5% of the
            training time; ``False``, a dict or :class:`cnn_tb.FeatureVizOptions`),
            ``run_name``; with a held-out pool: ``pool`` (``cnn_tb.Probes`` with
            labels, an ``(images, labels)`` pair or a ``tf.data.Dataset``),
            ``pool_every_n_epochs`` (1; the last epoch always),
            ``embedding_layers`` (the layer feeding the output),
            ``pool_examples`` (6); ``background`` (``True`` here: after the
            probes' pass the step is finished and written on a background
            thread while the next epoch trains; ``on_train_end`` waits for it).

    Raises:
        ValueError / TypeError: bad arguments (here), or a model / probes that
            do not fit (when Keras calls ``set_model``, before training).
"""


def _documented(summary, example, probes_default=""):
    """Class decorator: the callback's docstring from its summary, the shared
    argument list and a pasteable example."""

    def decorate(cls):
        cls.__doc__ = f"{summary}\n" + _COMMON_ARGS.format(probes_default=probes_default) + (
            f"\n    Example:\n        >>> {example}\n"
        )
        return cls

    return decorate


@_documented(
    """Everything cnn_tb logs, from ONE forward (+ one backward) pass per epoch.

    Feature-map grids, channel-mean strips, kernel grids, activation statistics
    and histograms, max-activation and Grad-CAM heatmaps, predictions, feature
    visualizations (every 5 epochs and at the end, within 5% of the training
    time), and the flow records that the cnn_tb TensorBoard plugin ("CNN Flow"
    tab) shows.""",
    """probes = cnn_tb.Probes(x_test[:8], labels=y_test[:8], class_names=CLASSES)
        >>> model.fit(x, y, epochs=20, callbacks=[
        ...     keras.callbacks.TensorBoard(log_dir),
        ...     cnn_tb.LayerFlow(log_dir, probes),
        ... ])""",
)
class LayerFlow(_LayerCallback):
    _kinds = ALL_KINDS


@_documented(
    "Feature-map grids (one per layer and probe) and channel-mean strips (Images).",
    'model.fit(x, y, callbacks=[cnn_tb.FeatureMaps("logs", x_test[:4])])',
)
class FeatureMaps(_LayerCallback):
    _kinds = ("feature_maps",)


@_documented(
    """Kernel grids of every conv layer (Images) and how much they moved (Scalars).

    Needs no probes and works on subclassed models too.""",
    'model.fit(x, y, callbacks=[cnn_tb.KernelGrids("logs")])',
    probes_default=" Not used. Default ``None``.",
)
class KernelGrids(_LayerCallback):
    _kinds = ("kernels",)


@_documented(
    "Per-layer activation statistics (Scalars) and histograms (Histograms).",
    'model.fit(x, y, callbacks=[cnn_tb.ActivationStats("logs", probes)])',
)
class ActivationStats(_LayerCallback):
    _kinds = ("stats",)


@_documented(
    "Max-activation and Grad-CAM heatmaps over each probe (Images).",
    'model.fit(x, y, callbacks=[cnn_tb.Heatmaps("logs", probes)])',
)
class Heatmaps(_LayerCallback):
    _kinds = ("heatmaps",)
