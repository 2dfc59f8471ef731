"""Where cnn_tb's data goes: run, steps, tags, format version, plugin metadata.

Where the data goes
-------------------
Everything cnn_tb writes for a training run goes into ONE TensorBoard run, the
subdirectory ``RUN_NAME`` (``"cnn_tb"``) of the ``log_dir`` given to the
callbacks. It sits beside the ``train/`` and ``validation/`` runs that
``keras.callbacks.TensorBoard(log_dir)`` writes.

Steps
-----
``step`` is the Keras epoch index used by ``keras.callbacks.TensorBoard``: the
data at step ``e`` shows the model after the epoch Keras logs as
``epoch_loss`` at step ``e`` (step 0 = after the first epoch). Step
``UNTRAINED_STEP`` (-1) holds the model before any training. A custom training
loop that calls :func:`cnn_tb.log_layers` chooses its own steps.

Plugin tags (``plugin_name == PLUGIN_NAME``)
--------------------------------------------
Every summary carries ``SummaryMetadata.plugin_data.content`` = UTF-8 JSON
``{"version": FORMAT_VERSION, "kind": <kind>}`` and has ``data_class`` set.

* ``cnn_tb/run`` (tensor, string scalar): the run record, JSON, written at the
  first step logged by each training session (:mod:`~cnn_tb.contract.records`),
  and again at a later step when its ``settings`` change (the feature
  visualizations' schedule and cost); a reader keeps the latest.
* ``cnn_tb/probes`` (blob sequence, the step of each session's first
  ``cnn_tb/run``): blob ``i`` is the PNG of probe ``i`` as the model sees it
  (uint8).
* ``cnn_tb/epoch`` (tensor, string scalar): the epoch record, JSON, every
  logged step. Written LAST for its step, after that step's activations and
  kernels, and the writer is flushed after it: a reader treats a step as
  complete only when its epoch record exists.
* ``cnn_tb/packs`` (tensor, string scalar, every logged step, format 2): the
  pack index record (:mod:`~cnn_tb.contract.records`): where, in a pack file
  beside the event files, the packs (:mod:`~cnn_tb.contract.packs`) of the
  step are: one per probe, and the kernel pack. The packs are the big part of
  a step; kept out of the event stream, they stay out of TensorBoard's memory,
  which keeps every step of the small records.
* ``cnn_tb/pool_run`` (tensor, string scalar, format 2, only with ``pool=``):
  the pool run record (:mod:`~cnn_tb.contract.records`), written at the first
  pool step of each session: the held-out pool's labels, class names, sprite,
  layers, dataset-example channels and receptive fields.
* ``cnn_tb/pool`` (tensor, string scalar, format 2, every pool step, before
  the epoch record): the pool record: accuracy, class separation per layer,
  confusion matrix, most confused pairs, and where the step's pool pack
  (:mod:`~cnn_tb.contract.packs`) is. Readers that do not know these two tags
  ignore them.
* ``cnn_tb/activations`` and ``cnn_tb/kernels`` (blob sequences, format 1:
  written by cnn_tb before the pack files; still read): blob ``i`` of
  ``cnn_tb/activations`` is the pack of probe ``i``, the one blob of
  ``cnn_tb/kernels`` the kernel pack.

* ``cnn_tb/feature_viz`` (tensor, string scalar, only at the steps where the
  feature visualizations were computed, before the epoch record): the feature
  visualization record (:mod:`~cnn_tb.contract.records`): for each visualized
  layer its channels, the objective each reached, and where in a pack file
  (``<run>/packs/<session>/<step>.fviz``) the PNG strip of its images is: one
  tile per channel, left to right, each the size of the model's input.

Pack files
----------
``<run>/packs/<session>/<step>.packs`` (``<session>`` is unique to the writing
process and run, so a resumed run never overwrites a file): the compressed
packs of one step, one after the other, at the offsets the index gives.
``<run>/pool/<session>/``: the pool's sprite (``sprite.png``), its pack per
pool step (``<step>.pool``) and the Projector's files (``projector/``; see
:mod:`cnn_tb.pool.projector`, which also writes ``<run>/projector_config.pbtxt``).

Built-in dashboard tags
-----------------------
Written with the standard TensorBoard summary plugins; see ``TAGS``. Every
tag starts with its kind, then the layer name.
"""

import json

PLUGIN_NAME = "cnn_tb"
RUN_NAME = "cnn_tb"
FORMAT_VERSION = 2  # 2: packs in pack files (cnn_tb/packs); 1: packs as blob sequences
UNTRAINED_STEP = -1

RUN_TAG = "cnn_tb/run"
PROBES_TAG = "cnn_tb/probes"
EPOCH_TAG = "cnn_tb/epoch"
ACTIVATIONS_TAG = "cnn_tb/activations"
KERNELS_TAG = "cnn_tb/kernels"
PACKS_TAG = "cnn_tb/packs"
FEATURE_VIZ_TAG = "cnn_tb/feature_viz"
PACK_DIR = "packs"  # pack files live under <run>/packs/
FEATURE_VIZ_SUFFIX = ".fviz"  # <run>/packs/<session>/<step>.fviz: the feature visualization strips
POOL_RUN_TAG = "cnn_tb/pool_run"
POOL_TAG = "cnn_tb/pool"
POOL_DIR = "pool"  # the pool's files live under <run>/pool/<session>/

# kind recorded in plugin_data.content for each plugin tag
TAG_KINDS = {
    RUN_TAG: "run",
    PROBES_TAG: "probes",
    EPOCH_TAG: "epoch",
    ACTIVATIONS_TAG: "activations",
    KERNELS_TAG: "kernels",
    PACKS_TAG: "packs",
    FEATURE_VIZ_TAG: "feature_viz",
    POOL_RUN_TAG: "pool_run",
    POOL_TAG: "pool",
}
BLOB_TAGS = frozenset({PROBES_TAG, ACTIVATIONS_TAG, KERNELS_TAG})

# Tag prefixes for the built-in dashboards: "<prefix>/<layer>[/<stat>]".
TAGS = {
    "feature_maps": "feature_maps",  # Images: channel grid, one image per probe
    "channel_mean": "transformation/channel_mean",  # Images: one strip per probe
    "kernels": "kernels",  # Images: kernel grid per conv layer
    "max_activation": "heatmaps/max_activation",  # Images: overlay per probe
    "gradcam": "heatmaps/gradcam",  # Images: overlay per probe
    "activation_stats": "activation_stats",  # Scalars: <layer>/<stat>
    "activation_hist": "activation_histograms",  # Histograms
    "kernel_change": "kernel_change",  # Scalars: relative L2 change
    "probe_accuracy": "predictions/probe_accuracy",  # Scalar
    "predictions": "predictions/table",  # Text: markdown table
    "feature_viz": "feature_viz",  # Images: one tile per channel, what excites it
    "class_separation": "class_separation",  # Scalars: <layer>, pool epochs only
    "confusion_matrix": "predictions/confusion_matrix",  # Images: pool epochs only
    "pool_accuracy": "predictions/pool_accuracy",  # Scalar: pool epochs only
}

# Statistics of a layer over all probes (Scalars and the epoch record).
STAT_NAMES = ("mean", "std", "min", "max", "zero_frac", "neg_frac", "dead_frac")

# What a layer of the run record is.
LAYER_KINDS = ("input", "map", "vector", "other")
INPUT, MAP, VECTOR, OTHER = LAYER_KINDS
# What the model's output holds.
OUTPUT_KINDS = ("softmax", "sigmoid", "logits")


class FormatError(ValueError):
    """A record that cannot be decoded (truncated, corrupt, or foreign)."""


class NewerVersionError(FormatError):
    """A record written by a newer cnn_tb than this reader knows."""


def plugin_content(tag):
    """The bytes stored in ``plugin_data.content`` for a plugin tag."""
    return json.dumps({"version": FORMAT_VERSION, "kind": TAG_KINDS[tag]}).encode()


def create_summary_metadata(tag, description=""):
    """A ``SummaryMetadata`` proto for one of the plugin tags above."""
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=plugin_content(tag)
        ),
        data_class=(
            summary_pb2.DATA_CLASS_BLOB_SEQUENCE if tag in BLOB_TAGS else summary_pb2.DATA_CLASS_TENSOR
        ),
    )


def parse_plugin_content(content):
    """Parse ``plugin_data.content``; returns ``{"version", "kind"}``.

    Raises:
        NewerVersionError: the record is of a format newer than this reader.
        FormatError: the content is not cnn_tb metadata.
    """
    try:
        meta = json.loads(bytes(content).decode("utf-8"))
        version = int(meta["version"])
        kind = str(meta["kind"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError) as e:
        raise FormatError(f"not cnn_tb plugin metadata: {bytes(content)[:40]!r}") from e
    check_version(version, "plugin metadata")
    return {"version": version, "kind": kind}


def check_version(version, what):
    """Raise :class:`NewerVersionError` when ``version`` is newer than this reader."""
    if version > FORMAT_VERSION:
        raise NewerVersionError(f"{what} has format version {version}, newer than {FORMAT_VERSION}")
