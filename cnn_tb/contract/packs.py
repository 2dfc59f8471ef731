"""Packs: the binary format of the ``cnn_tb/activations`` and ``cnn_tb/kernels`` blobs.

Pack format (version 1)
-----------------------
A stored pack is ``zlib.compress(raw)``; the plugin serves ``raw`` (or a
subset of its arrays, see :func:`subset`). ``raw`` is::

    bytes 0..3    MAGIC (b"CTB1")
    bytes 4..7    uint32 little-endian H: length of the header
    bytes 8..8+H  UTF-8 JSON header {"arrays": [entry, ...], ...}
    then          the arrays' bytes, C order, at entry["offset"] from the
                  start of this body

with ``entry = {"name", "dtype": "uint8"|"float32", "shape": [..],
"offset": int, "nbytes": int, "lo": float|[float], "hi": float|[float],
"meta": {...}}``. A uint8 value ``q`` decodes to ``lo + q / 255 * (hi - lo)``
(``lo``/``hi`` lists run along the last axis: one pair per channel).

Activation packs (one per probe and step) hold, for every logged layer::

    "<layer>/maps"    uint8 [h, w, c]  per-channel lo/hi   (map layers)
    "<layer>/mean"    uint8 [h, w]     channel-mean map    (map layers)
    "<layer>/max"     uint8 [h, w]     channel-max map     (map layers)
    "<layer>/vector"  uint8 [d]        layer lo/hi         (vector layers)
    "<layer>/gradcam"      uint8 [h, w] in [0, 1]   (conv layers, predicted class)
    "<layer>/gradcam_true" uint8 [h, w] in [0, 1]   (conv layers, true class,
                                                      only when it differs)

``mean`` and ``max`` are computed over ALL channels before any channel cap;
``maps`` keeps the channels listed in ``meta["channels"]``,
``meta["full_shape"]`` is the layer's real [H, W, C]. When the byte budget
forces it, maps are average-pooled spatially (``meta["pool"]`` = factor), and a
layer of a very deep model may have no ``maps`` array at all (see
:mod:`cnn_tb.summaries.flow_budget`). Non-finite input values are stored as
``lo`` and counted in ``meta["nonfinite"]``.

The kernel pack (one per step) holds ``"<layer>/kernel"`` arrays
[kh, kw, c_in, c_out] (capped), symmetric quantization (``lo == -hi``),
``meta["full_shape"]``, ``meta["layer_class"]``.

The pool pack (one per pool step, :mod:`cnn_tb.pool`) holds, for N pool images::

    "<layer>/nearest"   uint8 [N] (lo 0, hi 255: the class itself), or float32
                        when K > 255: each image's nearest class mean at the
                        layer (leave-one-out; 255 / -1: undefined)
    "<layer>/margin"    uint8 [N], lo -1, hi 1: (d_other - d_own) / (d_other + d_own)
    "<layer>/examples"  float32 [channels, k, 6]: per stored channel its top-k
                        pool images, rows (image, value, y0, x0, y1, x1), the
                        crop box half-open in pool-image pixels;
                        meta["channels"] lists the channels
    "/pred"             uint8 [N] (or float32 when K > 255): predicted class
    "/confidence"       uint8 [N], lo 0, hi 1: its probability

(``"/..."``: arrays of the whole pool, whose layer part is empty.)
"""

import json
import struct
import warnings
import zlib

import numpy as np

from cnn_tb.contract.tags import FormatError, NewerVersionError

MAGIC = b"CTB1"
DTYPES = {"uint8": 1, "float32": 4}  # dtype name -> item size
# Array kinds of an activations pack (the suffix after the last "/").
ACTIVATION_KINDS = ("maps", "mean", "max", "vector", "gradcam", "gradcam_true")
# Array kinds of a pool pack.
POOL_KINDS = ("nearest", "margin", "examples", "pred", "confidence")


def array_name(layer, kind):
    """``"<layer>/<kind>"``."""
    return f"{layer}/{kind}"


def split_array_name(name):
    """``("<layer>", "<kind>")`` for a pack array name ``"<layer>/<kind>"``."""
    layer, _, kind = name.rpartition("/")
    return layer, kind


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
    span = hi.astype(np.float64) - lo  # float64: a span beyond the float32 range stays finite
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite x: replaced below
        q = (x - lo.astype(np.float64)) * scale + 0.5
    if bad.any():
        q = np.where(finite, q, 0.0)
    q = np.clip(q, 0, 255).astype(np.uint8)
    shape = (n, x.shape[-1]) if per_channel else (n,)
    return q, lo.reshape(shape), hi.reshape(shape), bad.astype(np.int64)


def quantize_symmetric(x):
    """uint8 with ``lo == -hi == -max|x|`` (0 maps to 127.5); ``(q, a, nonfinite)``."""
    x = np.asarray(x, dtype=np.float32)
    finite = np.isfinite(x)
    a = float(np.max(np.abs(x[finite]))) if finite.any() else 0.0
    scale = 127.5 / a if a > 0 else 0.0
    q = np.clip(np.rint(np.where(finite, x, 0.0) * scale + 127.5), 0, 255).astype(np.uint8)
    return q, a, int(x.size - finite.sum())


def dequantize(q, lo, hi):
    """Inverse of :func:`quantize` (up to half a quantization step)."""
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    return (lo + q.astype(np.float64) / 255.0 * (hi - lo)).astype(np.float32)


# ------------------------------------------------------------------ encoding


_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}  # native byte order


def _raw(entries, chunks, extra=None):
    header = dict(extra or {})
    header["arrays"] = entries
    hbytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([MAGIC, struct.pack("<I", len(hbytes)), hbytes] + chunks)


def encode_raw(arrays):
    """Uncompressed pack bytes of ``arrays``.

    Args:
        arrays: list of ``(name, array, lo, hi, meta)``; ``array`` is uint8 or
            float32; ``lo``/``hi`` (finite) may be ``None`` for float32 arrays.
    """
    entries, chunks, offset = [], [], 0
    for name, array, lo, hi, meta in arrays:
        array = np.ascontiguousarray(array)
        # dtype.name is slow and a step encodes thousands of arrays: look the common ones up
        dtype = _DTYPE_NAMES.get(array.dtype) or (array.dtype.name if array.dtype.name in DTYPES else None)
        if dtype is None:
            raise TypeError(f"pack arrays must be uint8 or float32, got {array.dtype} for {name}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        entries.append(
            {
                "name": name,
                "dtype": dtype,
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
    return _raw(entries, chunks)


def encode_pack(arrays, level=6):
    """The stored (zlib-compressed) pack of ``arrays``; see :func:`encode_raw`."""
    return zlib.compress(encode_raw(arrays), level)


# ------------------------------------------------------------------ decoding


def decompress(blob):
    """The raw pack bytes of a stored pack.

    Raises:
        NewerVersionError: the pack has a newer magic (``CTB2`` ...).
        FormatError: not zlib data, or not a pack.
    """
    try:
        raw = zlib.decompress(bytes(blob))
    except zlib.error as e:
        raise FormatError(f"pack is not zlib data ({len(blob)} bytes): {e}") from e
    if raw[:4] != MAGIC:
        if raw[:3] == MAGIC[:3] and raw[3:4].isdigit():
            raise NewerVersionError(f"pack magic {raw[:4]!r} is newer than {MAGIC!r}")
        raise FormatError(f"pack has bad magic {raw[:4]!r}")
    return raw


def _no_constant(name):
    raise ValueError(f"{name} is not allowed in a pack header")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_bound(x):
    if isinstance(x, list):
        return all(_is_bound(v) for v in x)
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _entry_ok(e, body_len):
    """Every field of a pack entry has its documented type and the bytes are there."""
    if not isinstance(e, dict) or not isinstance(e["shape"], list) or not all(_is_int(d) and d >= 0 for d in e["shape"]):
        return False
    count = 1
    for d in e["shape"]:
        count *= d
    return (
        isinstance(e["name"], str)
        and _is_int(e["nbytes"])
        and _is_int(e["offset"])
        and count * DTYPES[e["dtype"]] == e["nbytes"]
        and 0 <= e["offset"]
        and e["offset"] + e["nbytes"] <= body_len
        and _is_bound(e["lo"])
        and _is_bound(e["hi"])
        and isinstance(e["meta"], dict)
    )


def parse_raw(raw, what="pack"):
    """Check raw pack bytes; returns ``(header, body_offset)``.

    ``header["arrays"]`` lists the entries; other header keys (a served
    subset's ``step`` and ``probe``) are kept.

    Every entry is checked (name, dtype, shape against nbytes, bounds), so a
    reader can slice the body without further checks.

    Raises:
        FormatError: truncated, corrupt or foreign data.
    """
    if len(raw) < 8 or raw[:4] != MAGIC:
        raise FormatError(f"{what}: not a pack or truncated")
    (hlen,) = struct.unpack("<I", raw[4:8])
    if 8 + hlen > len(raw):
        raise FormatError(f"{what}: pack header is truncated")
    try:
        header = json.loads(raw[8 : 8 + hlen].decode("utf-8"), parse_constant=_no_constant)
        entries = header["arrays"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise FormatError(f"{what}: pack header is not valid JSON") from e
    if not isinstance(header, dict) or not isinstance(entries, list):
        raise FormatError(f"{what}: pack header has no array list")
    body = 8 + hlen
    for e in entries:
        try:
            ok = _entry_ok(e, len(raw) - body)
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise FormatError(f"{what}: bad or truncated pack entry {str(e)[:80]!r}")
    return header, body


def parse(blob, what="pack"):
    """Decompress and check a stored pack: ``(raw, entries, body_offset)``."""
    raw = decompress(blob)
    header, body = parse_raw(raw, what)
    return raw, header["arrays"], body


def decode_raw(raw):
    """Decode raw pack bytes into ``{name: (array, entry)}`` (arrays are views)."""
    header, body = parse_raw(raw)
    out = {}
    for e in header["arrays"]:
        dtype = np.dtype(e["dtype"]).newbyteorder("<")
        arr = np.frombuffer(raw, dtype=dtype, count=e["nbytes"] // dtype.itemsize, offset=body + e["offset"])
        out[e["name"]] = (arr.reshape(e["shape"]), e)
    return out


def decode_pack(blob):
    """Decode a stored pack into ``{name: (array, entry)}``.

    ``array`` is the stored array (uint8 or float32); :func:`value` gives the
    dequantized floats.
    """
    return decode_raw(decompress(blob))


def value(pack, name):
    """Dequantized float32 array ``name`` of a decoded pack."""
    arr, entry = pack[name]
    if arr.dtype == np.uint8:
        return dequantize(arr, entry["lo"], entry["hi"])
    return arr.astype(np.float32)


def subset(raw, entries, body, names=None, extra=None):
    """Raw pack bytes holding the arrays of ``entries`` named in ``names``.

    ``names=None`` keeps every array (and returns ``raw`` itself when
    ``extra`` is empty). ``extra`` adds keys to the JSON header.
    """
    if names is None and not extra:
        return raw
    out, chunks, offset = [], [], 0
    for e in entries:
        if names is not None and e["name"] not in names:
            continue
        start = body + e["offset"]
        chunks.append(raw[start : start + e["nbytes"]])
        out.append(dict(e, offset=offset))
        offset += e["nbytes"]
    return _raw(out, chunks, extra)
