"""The data contract between cnn_tb's writers and its TensorBoard plugin.

This module is imported by both sides (the Keras callbacks that write, the
TensorBoard plugin that reads) and by nothing else they share. It depends on
numpy and the standard library only: no TensorFlow, so the plugin stays light.

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

Built-in dashboard tags (written with the standard TensorBoard summary plugins)
------------------------------------------------------------------------------
See ``TAGS`` below; every tag starts with its kind, then the layer name.

Plugin tags (``plugin_name == PLUGIN_NAME``)
--------------------------------------------
Every summary carries ``SummaryMetadata.plugin_data.content`` = UTF-8 JSON
``{"version": FORMAT_VERSION, "kind": <kind>}`` and has ``data_class`` set.

``cnn_tb/run`` (tensor, string scalar, JSON): written at the first step logged
    by each training session. Describes the model graph and the probes::

        {"version": 1, "model_name": str, "input_shape": [H, W, C],
         "layers": [{"name": str, "class": str, "output_shape": [..],
                     "params": int, "inbound": [layer names],
                     "kind": "input" | "map" | "vector" | "other",
                     "logged": bool, "activation": str | null,
                     "is_conv": bool, "kernel_shape": [..] | null,
                     "parent": str | null}],          # network order
         "output_layer": str, "output_kind": "softmax"|"sigmoid"|"logits",
         "probes": {"count": N, "labels": [int] | null,
                    "class_names": [str] | null, "image_shape": [H, W, C]},
         "settings": {...}, "cnn_tb_version": str}

``cnn_tb/probes`` (blob sequence, N blobs, same step as ``cnn_tb/run``):
    blob ``i`` is the PNG of probe ``i`` as the model sees it (uint8).

``cnn_tb/epoch`` (tensor, string scalar, JSON, every logged step). It is
    written LAST for its step, after that step's activations and kernels, and
    the writer is flushed after it: a reader treats a step as complete only
    when its ``cnn_tb/epoch`` record exists, so it never shows a half-written
    epoch::

        {"version": 1, "step": int, "epochs_completed": int,
         "wall_time": float, "logs": {metric: float},
         "layers": {layer: {"mean", "std", "min", "max", "zero_frac",
                            "neg_frac", "dead_frac": float | null,
                            "nonfinite": int}},
         "kernel_change": {layer: float | null},
         "predictions": [{"pred": int, "true": int | null, "confidence": float,
                          "probs": [float] | null,   # null when > 100 classes
                          "top": [[class, prob], ...]}],
         "nonfinite": bool,            # any NaN/Inf activation or kernel
         "nonfinite_weights": [layer]}  # conv layers with NaN/Inf kernels

``cnn_tb/activations`` (blob sequence, N blobs per logged step): blob ``i`` is
    the *pack* (below) of probe ``i``. For every logged layer it holds::

        "<layer>/maps"    uint8 [h, w, c]  per-channel lo/hi   (map layers)
        "<layer>/mean"    uint8 [h, w]     channel-mean map    (map layers)
        "<layer>/max"     uint8 [h, w]     channel-max map     (map layers)
        "<layer>/vector"  uint8 [d]        layer lo/hi         (vector layers)
        "<layer>/gradcam"      uint8 [h, w] in [0, 1]   (conv layers, predicted class)
        "<layer>/gradcam_true" uint8 [h, w] in [0, 1]   (conv layers, true class,
                                                          only when it differs)

    ``mean`` and ``max`` are computed over ALL channels before any channel cap;
    ``maps`` keeps the channels listed in the array's ``meta["channels"]``,
    ``meta["full_shape"]`` is the layer's real [H, W, C]. When the budget
    (``settings.budget_bytes`` in ``cnn_tb/run``) forces it, maps are
    average-pooled spatially (``meta["pool"]`` = factor), and a layer of a very
    deep model may have no ``maps`` array at all (its ``mean``/``max`` stay;
    see :mod:`cnn_tb.flow_records` for the order in which things shrink). Non-finite input
    values are stored as ``lo`` and counted in ``meta["nonfinite"]``.

``cnn_tb/kernels`` (blob sequence, 1 blob per logged step): a pack with
    ``"<layer>/kernel"`` int8-as-uint8 arrays [kh, kw, c_in, c_out] (capped),
    symmetric quantization (``lo == -hi``), ``meta["full_shape"]``,
    ``meta["layer_class"]``.

Pack format (version 1)
-----------------------
A pack is ``zlib.compress(raw)`` where ``raw`` is::

    bytes 0..3    b"CTB1"
    bytes 4..7    uint32 little-endian H: length of the header
    bytes 8..8+H  UTF-8 JSON header {"arrays": [entry, ...]}
    then          the arrays' bytes, C order, at entry["offset"] from the
                  start of this body

with ``entry = {"name", "dtype": "uint8"|"float32", "shape": [..],
"offset": int, "nbytes": int, "lo": float|[float], "hi": float|[float],
"meta": {...}}``. A uint8 value ``q`` decodes to ``lo + q / 255 * (hi - lo)``
(``lo``/``hi`` lists run along the last axis).
"""

import json
import struct
import warnings
import zlib

import numpy as np

PLUGIN_NAME = "cnn_tb"
RUN_NAME = "cnn_tb"
FORMAT_VERSION = 1
UNTRAINED_STEP = -1

RUN_TAG = "cnn_tb/run"
PROBES_TAG = "cnn_tb/probes"
EPOCH_TAG = "cnn_tb/epoch"
ACTIVATIONS_TAG = "cnn_tb/activations"
KERNELS_TAG = "cnn_tb/kernels"

# kind recorded in plugin_data.content for each plugin tag
TAG_KINDS = {
    RUN_TAG: "run",
    PROBES_TAG: "probes",
    EPOCH_TAG: "epoch",
    ACTIVATIONS_TAG: "activations",
    KERNELS_TAG: "kernels",
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
}

STAT_NAMES = ("mean", "std", "min", "max", "zero_frac", "neg_frac", "dead_frac")

_MAGIC = b"CTB1"


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
            summary_pb2.DATA_CLASS_BLOB_SEQUENCE
            if tag in BLOB_TAGS
            else summary_pb2.DATA_CLASS_TENSOR
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
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise FormatError(f"not cnn_tb plugin metadata: {bytes(content)[:40]!r}") from e
    if version > FORMAT_VERSION:
        raise NewerVersionError(
            f"format version {version} is newer than this cnn_tb reads ({FORMAT_VERSION})"
        )
    return {"version": version, "kind": kind}


def encode_json(obj):
    """JSON document bytes for the run / epoch tensors (NaN becomes null)."""
    return json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False).encode()


def decode_json(data, what="record"):
    """Parse a run / epoch JSON document, checking its version."""
    if isinstance(data, np.ndarray):
        data = data.item()
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise FormatError(f"{what} is not valid JSON") from e
    if not isinstance(obj, dict) or "version" not in obj:
        raise FormatError(f"{what} has no version")
    if int(obj["version"]) > FORMAT_VERSION:
        raise NewerVersionError(
            f"{what} has format version {obj['version']}, newer than {FORMAT_VERSION}"
        )
    return obj


def _finite(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj


# ---------------------------------------------------------------- quantization


def quantize(x, axis=None):
    """Quantize float ``x`` to uint8 with min/max scaling.

    Args:
        x: float array. Non-finite values are stored as ``lo``.
        axis: ``None`` for one lo/hi over the whole array, ``-1`` for one per
            entry of the last axis (per channel).

    Returns:
        ``(q, lo, hi, nonfinite)``: uint8 array, lo and hi (float or list of
        floats), and the count of non-finite values.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return np.zeros(x.shape, np.uint8), 0.0, 0.0, 0
    q, lo, hi, bad = quantize_rows(x[np.newaxis], per_channel=axis is not None)
    if axis is None:
        return q[0], float(lo[0]), float(hi[0]), int(bad[0])
    return q[0], lo[0].tolist(), hi[0].tolist(), int(bad[0])


def quantize_rows(x, per_channel=False):
    """:func:`quantize` applied to each entry of the first axis (one probe each).

    Args:
        x: float array ``[N, ...]`` (one entry per probe).
        per_channel: one lo/hi per entry of the last axis, too.

    Returns:
        ``(q, lo, hi, nonfinite)``: uint8 ``[N, ...]``; lo and hi ``[N]`` or
        ``[N, C]``; non-finite counts ``[N]``.
    """
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    axes = tuple(range(1, x.ndim - 1)) if per_channel else tuple(range(1, x.ndim))
    finite = np.isfinite(x)
    bad = (~finite).reshape(n, -1).sum(axis=1)
    if bad.any():
        xf = np.where(finite, x, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            lo = np.nanmin(xf, axis=axes, keepdims=True)
            hi = np.nanmax(xf, axis=axes, keepdims=True)
    else:
        lo = x.min(axis=axes, keepdims=True)
        hi = x.max(axis=axes, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0).astype(np.float32)
    hi = np.where(np.isfinite(hi), hi, lo).astype(np.float32)
    span = hi - lo
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
    q = (x - lo) * scale + np.float32(0.5)
    if bad.any():
        q = np.where(finite, q, 0.0)
    q = np.clip(q, 0, 255).astype(np.uint8)
    shape = (n, x.shape[-1]) if per_channel else (n,)
    return q, lo.reshape(shape), hi.reshape(shape), bad.astype(np.int64)


def dequantize(q, lo, hi):
    """Inverse of :func:`quantize` (up to half a quantization step)."""
    lo = np.asarray(lo, np.float32)
    hi = np.asarray(hi, np.float32)
    return lo + q.astype(np.float32) / np.float32(255.0) * (hi - lo)


# ----------------------------------------------------------------------- packs


def encode_pack(arrays, level=6):
    """Encode arrays into a compressed pack.

    Args:
        arrays: list of ``(name, array, lo, hi, meta)``; ``array`` is uint8 or
            float32; ``lo``/``hi`` may be ``None`` for float32 arrays.
        level: zlib compression level.

    Returns:
        bytes of the compressed pack.
    """
    entries, chunks, offset = [], [], 0
    for name, array, lo, hi, meta in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype not in (np.uint8, np.float32):
            raise TypeError(f"pack arrays must be uint8 or float32, got {array.dtype} for {name}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        entries.append(
            {
                "name": name,
                "dtype": array.dtype.name,
                "shape": list(array.shape),
                "offset": offset,
                "nbytes": len(data),
                "lo": lo,
                "hi": hi,
                "meta": meta or {},
            }
        )
        chunks.append(data)
        offset += len(data)
    # lo/hi are finite by construction (see quantize): plain JSON is enough
    header = json.dumps({"arrays": entries}, separators=(",", ":")).encode()
    raw = b"".join([_MAGIC, struct.pack("<I", len(header)), header] + chunks)
    return zlib.compress(raw, level)


def decompress_pack(blob):
    """The uncompressed pack bytes (magic, header length, header, body)."""
    try:
        raw = zlib.decompress(bytes(blob))
    except zlib.error as e:
        raise FormatError(f"pack is not zlib data ({len(blob)} bytes): {e}") from e
    if raw[:4] != _MAGIC:
        if raw[:3] == b"CTB" and raw[3:4].isdigit():
            raise NewerVersionError(f"pack magic {raw[:4]!r} is newer than {_MAGIC!r}")
        raise FormatError(f"pack has bad magic {raw[:4]!r}")
    return raw


def read_pack_header(raw):
    """``(header_dict, body_offset)`` of uncompressed pack bytes."""
    if len(raw) < 8:
        raise FormatError("pack is truncated")
    (hlen,) = struct.unpack("<I", raw[4:8])
    if 8 + hlen > len(raw):
        raise FormatError("pack header is truncated")
    try:
        header = json.loads(raw[8 : 8 + hlen].decode("utf-8"))
        entries = header["arrays"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise FormatError("pack header is not valid JSON") from e
    body = 8 + hlen
    for e in entries:
        if body + e["offset"] + e["nbytes"] > len(raw):
            raise FormatError(f"pack array {e['name']!r} is truncated")
    return header, body


def decode_pack(blob):
    """Decode a pack into ``{name: (array, entry)}``.

    ``array`` is the stored array (uint8 or float32); use :func:`dequantize`
    with ``entry["lo"]``, ``entry["hi"]`` for uint8 arrays.
    """
    raw = decompress_pack(blob)
    header, body = read_pack_header(raw)
    out = {}
    for e in header["arrays"]:
        start = body + e["offset"]
        dtype = np.dtype(e["dtype"]).newbyteorder("<")
        arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(e["shape"], dtype=np.int64)), offset=start)
        out[e["name"]] = (arr.reshape(e["shape"]), e)
    return out


def pack_value(pack, name):
    """Dequantized float32 array ``name`` from a decoded pack."""
    arr, entry = pack[name]
    if arr.dtype == np.uint8:
        return dequantize(arr, entry["lo"], entry["hi"])
    return arr.astype(np.float32)
