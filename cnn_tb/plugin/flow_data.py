"""Reading cnn_tb flow records through a TensorBoard data provider.

Everything here is plain Python over ``context.data_provider`` (so it works
with both the Python loader and the Rust data server) and returns JSON-able
values or bytes. The HTTP layer (:mod:`cnn_tb.plugin.plugin`) only parses
requests and maps the exceptions below to status codes.

Cost model: one request never reads a whole run. Epoch records (small JSON
tensors) are decoded once per ``(run, step, wall_time)`` and cached; blob
references are listed per tag and kept for a few seconds (re-listed at once
when a step is missing); one request reads exactly the blob it needs, and the
decompressed pack is kept in a byte-bounded LRU cache. Stale listings are
refreshed in a background thread, so a warm request makes no provider call.
"""

import collections
import gzip
import json
import logging
import math
import struct
import threading
import time

from tensorboard import errors as tb_errors
from tensorboard.data import provider

from cnn_tb import metadata

logger = logging.getLogger("cnn_tb.plugin")

# ``read_*`` calls need a positive ``downsample``: 0 would return nothing.
# With ``--samples_per_plugin=cnn_tb=0`` (the default set by the loader) the
# loaders keep every step, and this bound lets the plugin read all of them.
MAX_DOWNSAMPLE = 1_000_000

# Age (seconds) after which a cached listing of blob references is listed
# again in the background; a step missing from it is listed at once.
BLOB_LISTING_TTL = 5.0
# The same for the run/tag listing used by the data routes (``/runs``,
# ``/run`` and ``/epochs`` always list afresh; an unknown run is re-checked
# at once).
RUN_LISTING_TTL = 2.0

# Array kinds of an activations pack (the suffix after the last "/").
ACTIVATION_KINDS = ("maps", "mean", "max", "vector", "gradcam", "gradcam_true")
LAYER_KINDS = ("input", "map", "vector", "other")
OUTPUT_KINDS = ("softmax", "sigmoid", "logits")

_MAX_NAME = 4096
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class BadRequest(ValueError):
    """Malformed request parameter (HTTP 400)."""


class NotFound(LookupError):
    """Unknown run / probe / step / layer, or unreadable data (HTTP 404)."""


# ----------------------------------------------------------------- warnings

_warned = set()
_warned_lock = threading.Lock()


def warn_once(key, message, *args):
    """Log ``message`` as a warning the first time ``key`` is seen."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


# -------------------------------------------------------------------- cache


class ByteLRU:
    """A thread-safe LRU cache bounded by the total size of its values."""

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._items = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value, nbytes):
        nbytes = int(nbytes)
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (value, nbytes)
            self._size += nbytes
            while self._size > self.max_bytes and self._items:
                _, (_, n) = self._items.popitem(last=False)
                self._size -= n

    @property
    def size(self):
        return self._size

    def __len__(self):
        return len(self._items)


# --------------------------------------------------------- value sanitizing


def _opt_float(x):
    """A finite float rounded to 7 significant digits (float32 precision), or None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.7g}")


def _int(x, default=0):
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    if isinstance(x, float) and math.isfinite(x):
        return int(x)
    return default


def _opt_int(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return int(x)


def _str(x, default=""):
    if isinstance(x, str):
        return x[:_MAX_NAME]
    if x is None:
        return default
    return str(x)[:_MAX_NAME]


def _opt_str(x):
    return None if x is None else _str(x)


def _shape(x):
    if not isinstance(x, (list, tuple)):
        return None
    return [_opt_int(d) for d in x][:16]


def _clean_json(x, depth=0):
    """A JSON-safe copy of ``x`` (finite floats, string keys, bounded depth)."""
    if depth > 8:
        return None
    if isinstance(x, dict):
        return {_str(k): _clean_json(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean_json(v, depth + 1) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return _str(x)


def normalize_run_record(obj):
    """The run description with every field of the contract type-checked.

    Raises:
        metadata.FormatError: ``obj`` is not a usable run record.
    """
    if not isinstance(obj, dict):
        raise metadata.FormatError("run record is not a JSON object")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise metadata.FormatError("run record has no layer list")
    layers, seen = [], set()
    for raw in raw_layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise metadata.FormatError("run record has a layer without a name")
        name = _str(raw["name"])
        if name in seen:
            continue
        seen.add(name)
        kind = raw.get("kind")
        inbound = raw.get("inbound") if isinstance(raw.get("inbound"), list) else []
        layers.append(
            {
                "name": name,
                "class": _str(raw.get("class"), "Layer"),
                "output_shape": _shape(raw.get("output_shape")),
                "params": _int(raw.get("params")),
                "inbound": [_str(i) for i in inbound if isinstance(i, str)],
                "kind": kind if kind in LAYER_KINDS else "other",
                "logged": bool(raw.get("logged")),
                "activation": _opt_str(raw.get("activation")),
                "is_conv": bool(raw.get("is_conv")),
                "kernel_shape": _shape(raw.get("kernel_shape")),
                "parent": _opt_str(raw.get("parent")),
            }
        )
    probes = obj.get("probes") if isinstance(obj.get("probes"), dict) else {}
    labels = probes.get("labels")
    class_names = probes.get("class_names")
    output_kind = obj.get("output_kind")
    output_layer = _str(obj.get("output_layer"), layers[-1]["name"])
    if output_layer not in seen:
        output_layer = layers[-1]["name"]
    return {
        "version": _int(obj.get("version"), 1),
        "model_name": _str(obj.get("model_name"), "model"),
        "input_shape": _shape(obj.get("input_shape")),
        "layers": layers,
        "output_layer": output_layer,
        "output_kind": output_kind if output_kind in OUTPUT_KINDS else "logits",
        "probes": {
            "count": max(0, _int(probes.get("count"))),
            "labels": [_opt_int(v) for v in labels] if isinstance(labels, list) else None,
            "class_names": (
                [_str(v) for v in class_names] if isinstance(class_names, list) else None
            ),
            "image_shape": _shape(probes.get("image_shape")),
        },
        "settings": _clean_json(obj.get("settings")) if isinstance(obj.get("settings"), dict) else {},
        "cnn_tb_version": _str(obj.get("cnn_tb_version"), ""),
    }


def _stats(raw):
    if not isinstance(raw, dict):
        return {}
    out = {s: _opt_float(raw.get(s)) for s in metadata.STAT_NAMES}
    out["nonfinite"] = max(0, _int(raw.get("nonfinite")))
    return out


def _prediction(raw):
    if not isinstance(raw, dict):
        return {"pred": None, "true": None, "confidence": None, "probs": None, "top": []}
    probs = raw.get("probs")
    top = raw.get("top") if isinstance(raw.get("top"), list) else []
    return {
        "pred": _opt_int(raw.get("pred")),
        "true": _opt_int(raw.get("true")),
        "confidence": _opt_float(raw.get("confidence")),
        "probs": [_opt_float(p) for p in probs] if isinstance(probs, list) else None,
        "top": [
            [t[0] if isinstance(t[0], (int, str)) and not isinstance(t[0], bool) else _str(t[0]),
             _opt_float(t[1])]
            for t in top
            if isinstance(t, (list, tuple)) and len(t) >= 2
        ],
    }


def normalize_epoch_record(obj, step):
    """An epoch record with every field of the contract type-checked."""
    if not isinstance(obj, dict):
        raise metadata.FormatError("epoch record is not a JSON object")
    layers = obj.get("layers") if isinstance(obj.get("layers"), dict) else {}
    logs = obj.get("logs") if isinstance(obj.get("logs"), dict) else {}
    change = obj.get("kernel_change") if isinstance(obj.get("kernel_change"), dict) else {}
    preds = obj.get("predictions") if isinstance(obj.get("predictions"), list) else []
    stats = {_str(k): _stats(v) for k, v in layers.items()}
    nonfinite = bool(obj.get("nonfinite")) or any(s.get("nonfinite") for s in stats.values())
    return {
        "step": int(step),
        "epochs_completed": _int(obj.get("epochs_completed"), int(step) + 1),
        "wall_time": _opt_float(obj.get("wall_time")),
        "logs": {_str(k): _opt_float(v) for k, v in logs.items()},
        "layers": stats,
        "kernel_change": {_str(k): _opt_float(v) for k, v in change.items()},
        "predictions": [_prediction(p) for p in preds],
        "nonfinite": nonfinite,
    }


# ------------------------------------------------------------------- packs


def parse_pack(blob, what):
    """Decompress and check a pack; returns ``(raw_bytes, entries, body_offset)``.

    Raises:
        metadata.FormatError: truncated, corrupt or foreign data.
    """
    raw = metadata.decompress_pack(blob)
    header, body = metadata.read_pack_header(raw)
    entries = header.get("arrays") if isinstance(header, dict) else None
    if not isinstance(entries, list):
        raise metadata.FormatError(f"{what}: pack header has no array list")
    for e in entries:
        try:
            itemsize = {"uint8": 1, "float32": 4}[e["dtype"]]
            count = 1
            for d in e["shape"]:
                if not isinstance(d, int) or d < 0:
                    raise ValueError(d)
                count *= d
            if count * itemsize != e["nbytes"] or not isinstance(e["name"], str):
                raise ValueError(e["nbytes"])
            if not isinstance(e["offset"], int) or e["offset"] < 0:
                raise ValueError(e["offset"])
        except (KeyError, TypeError, ValueError) as err:
            raise metadata.FormatError(f"{what}: bad pack entry {str(e)[:80]!r}") from err
    return raw, entries, body


def encode_raw_pack(raw, entries, body, names=None, extra=None):
    """Uncompressed pack bytes holding the arrays of ``entries`` named in ``names``.

    ``names=None`` keeps every array (and returns ``raw`` itself when
    ``extra`` is empty). ``extra`` adds keys to the JSON header.
    """
    if names is None and not extra:
        return raw
    chosen = [e for e in entries if names is None or e["name"] in names]
    out_entries, chunks, offset = [], [], 0
    for e in chosen:
        start = body + e["offset"]
        chunks.append(raw[start : start + e["nbytes"]])
        out_entries.append(dict(e, offset=offset))
        offset += e["nbytes"]
    header = dict(extra or {})
    header["arrays"] = out_entries
    hbytes = json.dumps(_clean_json(header), separators=(",", ":")).encode()
    return b"".join([b"CTB1", struct.pack("<I", len(hbytes)), hbytes] + chunks)


def split_array_name(name):
    """``("<layer>", "<kind>")`` for a pack array name ``"<layer>/<kind>"``."""
    layer, _, kind = name.rpartition("/")
    return layer, kind


# ----------------------------------------------------------------- reader


class FlowReader:
    """Reads flow records of an experiment through a TensorBoard data provider.

    Args:
        data_provider: a ``tensorboard.data.provider.DataProvider``.
        downsample: steps to request per tag (default: all).
        cache_bytes: bound of the decoded-pack cache (default 64 MiB).
    """

    def __init__(self, data_provider, downsample=None, cache_bytes=64 << 20):
        self._dp = data_provider
        self._downsample = downsample if downsample and downsample > 0 else MAX_DOWNSAMPLE
        self._packs = ByteLRU(cache_bytes)
        self._records = ByteLRU(16 << 20)
        self._listings = {}
        self._listings_lock = threading.Lock()
        self._run_listing = {}  # eid -> (monotonic time, list_tensors result)
        self._derived = {}  # (what, eid, run) -> (key, value): run records, epoch payloads
        self._refreshing = set()

    # ---- low-level access -------------------------------------------------

    def _check_tag_content(self, run, tag, plugin_content):
        """True when the tag's plugin metadata is a version this reader knows."""
        try:
            metadata.parse_plugin_content(plugin_content)
            return True
        except metadata.NewerVersionError as e:
            warn_once(("newer", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
        except metadata.FormatError as e:
            warn_once(("foreign", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
        return False

    def _tensor_listing(self, ctx, eid, fresh=False):
        """``list_tensors`` of the plugin.

        ``fresh=False`` returns a cached listing at once (re-listed in the
        background when older than ``RUN_LISTING_TTL``): the data routes only
        need to know that a run exists, and an unknown run is re-checked with
        a fresh listing by :meth:`_require_run`.
        """
        with self._listings_lock:
            cached = self._run_listing.get(eid)
        if not fresh and cached is not None:
            if time.monotonic() - cached[0] >= RUN_LISTING_TTL:
                self._refresh_in_background(
                    ("runs", eid), lambda: self._tensor_listing(ctx, eid, fresh=True)
                )
            return cached[1]
        now = time.monotonic()
        listing = self._dp.list_tensors(ctx, experiment_id=eid, plugin_name=metadata.PLUGIN_NAME)
        with self._listings_lock:
            self._run_listing[eid] = (now, listing)
            if len(self._run_listing) > 64:
                self._run_listing.pop(next(iter(self._run_listing)))
        return listing

    def _derived_get(self, what, eid, run, key):
        with self._listings_lock:
            hit = self._derived.get((what, eid, run))
        return hit[1] if hit is not None and hit[0] == key else None

    def _derived_put(self, what, eid, run, key, value):
        with self._listings_lock:
            self._derived[(what, eid, run)] = (key, value)
            if len(self._derived) > 512:
                self._derived.pop(next(iter(self._derived)))

    def _read_tensor_series(self, ctx, eid, run, tag):
        result = self._dp.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=self._downsample,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return result.get(run, {}).get(tag)

    def _refresh_in_background(self, key, refresh):
        """Run ``refresh()`` in a daemon thread unless one is running for ``key``."""
        with self._listings_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run():
            try:
                refresh()
            except Exception:  # noqa: BLE001 - the next request lists synchronously
                logger.debug("cnn_tb: background listing of %r failed", key, exc_info=True)
            finally:
                with self._listings_lock:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name="cnn_tb-listing", daemon=True).start()

    def _list_blob_series(self, ctx, eid, run, tag):
        listing = self._dp.list_blob_sequences(
            ctx,
            experiment_id=eid,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        series = listing.get(run, {}).get(tag)
        if series is None or not self._check_tag_content(run, tag, series.plugin_content):
            by_step = {}
        else:
            data = self._dp.read_blob_sequences(
                ctx,
                experiment_id=eid,
                plugin_name=metadata.PLUGIN_NAME,
                downsample=self._downsample,
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
            )
            by_step = {d.step: d for d in data.get(run, {}).get(tag, [])}
        with self._listings_lock:
            self._listings[(eid, run, tag)] = (time.monotonic(), by_step)
            if len(self._listings) > 256:
                oldest = min(self._listings, key=lambda k: self._listings[k][0])
                self._listings.pop(oldest, None)
        return by_step

    def _blob_series(self, ctx, eid, run, tag, need_step=None):
        """``{step: BlobSequenceDatum}`` for a blob tag.

        A cached listing that holds ``need_step`` is used at once; when it is
        older than ``BLOB_LISTING_TTL`` it is re-listed in the background (so
        a rewritten step is noticed). When ``need_step`` is missing (a step
        that appeared since), the tag is listed again before answering.
        """
        with self._listings_lock:
            cached = self._listings.get((eid, run, tag))
        if cached is not None and (need_step is None or need_step in cached[1]):
            if time.monotonic() - cached[0] >= BLOB_LISTING_TTL:
                self._refresh_in_background(
                    ("blobs", eid, run, tag), lambda: self._list_blob_series(ctx, eid, run, tag)
                )
            return cached[1]
        return self._list_blob_series(ctx, eid, run, tag)

    def _read_blob(self, ctx, ref):
        return self._dp.read_blob(ctx, blob_key=ref.blob_key)

    def _decoded_records(self, ctx, eid, run, tag, normalize):
        """``[(step, record)]`` of a tensor tag; undecodable records skipped."""
        series = self._read_tensor_series(ctx, eid, run, tag)
        if not series:
            return []
        out = {}
        for datum in series:
            key = (eid, run, tag, datum.step, datum.wall_time)
            rec = self._records.get(key)
            if rec is None:
                try:
                    value = datum.numpy
                    obj = metadata.decode_json(value, what=f"{tag} step {datum.step}")
                    rec = normalize(obj, datum.step)
                except metadata.NewerVersionError as e:
                    warn_once(("newer", run, tag), "cnn_tb: skipping records of %s in run %r: %s", tag, run, e)
                    rec = False
                except (metadata.FormatError, ValueError, TypeError, AttributeError) as e:
                    warn_once(("corrupt", run, tag), "cnn_tb: skipping unreadable %s record(s) in run %r: %s", tag, run, e)
                    rec = False
                self._records.put(key, rec, 256 + len(str(rec)) if rec else 64)
            if rec:
                out[datum.step] = rec  # a later record of the same step wins
        return sorted(out.items())

    def _pack(self, ctx, eid, run, tag, step, index):
        """``(raw, entries, body)`` of blob ``index`` of ``tag`` at ``step``."""
        by_step = self._blob_series(ctx, eid, run, tag, need_step=step)
        datum = by_step.get(step)
        if datum is None:
            raise NotFound(f"no {tag} data for step {step} in run {run!r}")
        if not 0 <= index < len(datum.values):
            raise NotFound(f"no {tag} blob {index} at step {step} in run {run!r}")
        key = (eid, run, tag, step, datum.wall_time, index)
        hit = self._packs.get(key)
        if hit is None:
            blob = self._read_blob(ctx, datum.values[index])
            try:
                hit = parse_pack(blob, f"{tag} step {step} blob {index}")
            except metadata.NewerVersionError as e:
                warn_once(("newer", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
                raise NotFound(f"{tag} at step {step} has a newer format than this cnn_tb reads") from e
            except metadata.FormatError as e:
                warn_once(("corrupt", run, tag), "cnn_tb: skipping unreadable %s record(s) in run %r: %s", tag, run, e)
                raise NotFound(f"{tag} at step {step} is unreadable (truncated or corrupt)") from e
            self._packs.put(key, hit, len(hit[0]) + 64 * len(hit[1]))
        return hit

    # ---- impl functions ---------------------------------------------------

    def runs_impl(self, ctx, eid):
        """Runs holding cnn_tb flow records, sorted by name.

        Returns:
            ``[{"run", "last_step", "last_wall_time", "has_model"}]``;
            ``last_step`` is ``None`` while no epoch is complete.
        """
        listing = self._tensor_listing(ctx, eid, fresh=True)
        out = []
        for run in sorted(listing):
            tags = listing[run]
            run_ts = tags.get(metadata.RUN_TAG)
            epoch_ts = tags.get(metadata.EPOCH_TAG)
            if run_ts is None and epoch_ts is None:
                continue
            ok_run = run_ts is not None and self._check_tag_content(run, metadata.RUN_TAG, run_ts.plugin_content)
            ok_epoch = epoch_ts is not None and self._check_tag_content(run, metadata.EPOCH_TAG, epoch_ts.plugin_content)
            if not ok_run and not ok_epoch:
                continue
            out.append(
                {
                    "run": run,
                    "has_model": ok_run,
                    "last_step": epoch_ts.max_step if ok_epoch else None,
                    "last_wall_time": epoch_ts.max_wall_time if ok_epoch else None,
                }
            )
        return out

    def _require_run(self, ctx, eid, run, fresh=False):
        """The ``{tag: TensorTimeSeries}`` of ``run``; NotFound if it has no flow records."""

        def known(listing):
            tags = listing.get(run)
            return tags if tags and (metadata.RUN_TAG in tags or metadata.EPOCH_TAG in tags) else None

        tags = known(self._tensor_listing(ctx, eid, fresh=fresh))
        if tags is None and not fresh:
            tags = known(self._tensor_listing(ctx, eid, fresh=True))
        if tags is None:
            raise NotFound(f"unknown run {run!r}")
        return tags

    @staticmethod
    def _series_key(tags, tag):
        ts = tags.get(tag)
        return None if ts is None else (ts.max_step, ts.max_wall_time)

    def run_impl(self, ctx, eid, run, fresh=True):
        """The latest readable model/probe description of ``run``."""
        tags = self._require_run(ctx, eid, run, fresh=fresh)
        key = self._series_key(tags, metadata.RUN_TAG)
        hit = self._derived_get("run", eid, run, key)
        if hit is None:
            records = self._decoded_records(
                ctx, eid, run, metadata.RUN_TAG, lambda obj, step: normalize_run_record(obj)
            )
            hit = records[-1] if records else False
            self._derived_put("run", eid, run, key, hit)
        if not hit:
            raise NotFound(f"run {run!r} has no readable model description ({metadata.RUN_TAG})")
        step, rec = hit
        probes = self._blob_series(ctx, eid, run, metadata.PROBES_TAG)
        images = 0
        if probes:
            images = len(probes[max(probes)].values)
        return dict(rec, run=run, run_step=step, probe_images=images)

    def _epochs(self, ctx, eid, run):
        tags = self._require_run(ctx, eid, run, fresh=True)
        key = self._series_key(tags, metadata.EPOCH_TAG)
        hit = self._derived_get("epochs", eid, run, key)
        if hit is None:
            records = self._decoded_records(ctx, eid, run, metadata.EPOCH_TAG, normalize_epoch_record)
            obj = {"run": run, "steps": [s for s, _ in records], "epochs": [r for _, r in records]}
            raw = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
            hit = (obj, raw, gzip.compress(raw, compresslevel=5, mtime=0))
            self._derived_put("epochs", eid, run, key, hit)
        return hit

    def epochs_impl(self, ctx, eid, run):
        """Every complete step of ``run`` with its summary, sorted by step."""
        return self._epochs(ctx, eid, run)[0]

    def epochs_gzip_impl(self, ctx, eid, run):
        """:meth:`epochs_impl` as gzip-compressed JSON bytes (built once per change)."""
        return self._epochs(ctx, eid, run)[2]

    def _layer_names(self, ctx, eid, run):
        return {l["name"]: l for l in self.run_impl(ctx, eid, run, fresh=False)["layers"]}

    def probe_impl(self, ctx, eid, run, probe):
        """PNG bytes of probe image ``probe``."""
        self._require_run(ctx, eid, run)
        by_step = self._blob_series(ctx, eid, run, metadata.PROBES_TAG)
        if not by_step:
            raise NotFound(f"run {run!r} has no probe images")
        datum = by_step[max(by_step)]
        if not 0 <= probe < len(datum.values):
            raise NotFound(f"unknown probe {probe}: run {run!r} has {len(datum.values)} probes")
        key = ("png", eid, run, datum.step, datum.wall_time, probe)
        png = self._packs.get(key)
        if png is None:
            png = bytes(self._read_blob(ctx, datum.values[probe]))
            if not png.startswith(PNG_MAGIC):
                warn_once(("corrupt", run, metadata.PROBES_TAG), "cnn_tb: probe image(s) of run %r are not PNG data", run)
                raise NotFound(f"probe {probe} of run {run!r} is not a PNG image")
            self._packs.put(key, png, len(png))
        return png

    def _select(self, entries, run, what, layer=None, kinds=None, layers=None):
        names = None
        if layer is not None:
            if layer not in layers:
                raise NotFound(f"unknown layer {layer!r} in run {run!r}")
            names = {e["name"] for e in entries if split_array_name(e["name"])[0] == layer}
            if not names:
                raise NotFound(f"layer {layer!r} has no {what} data")
        if kinds is not None:
            pick = {e["name"] for e in entries if split_array_name(e["name"])[1] in kinds}
            names = pick if names is None else names & pick
        return names

    def activations_impl(self, ctx, eid, run, probe, step, layer=None, kinds=None):
        """Uncompressed pack bytes of ``probe`` at ``step`` (optionally filtered)."""
        self._require_run(ctx, eid, run)
        layers = self._layer_names(ctx, eid, run) if layer is not None else None
        raw, entries, body = self._pack(ctx, eid, run, metadata.ACTIVATIONS_TAG, step, probe)
        names = self._select(entries, run, "activation", layer, kinds, layers)
        extra = None if names is None else {"step": step, "probe": probe}
        return encode_raw_pack(raw, entries, body, names, extra)

    def kernels_impl(self, ctx, eid, run, step, layer=None):
        """Uncompressed kernel pack bytes at ``step`` (optionally one layer)."""
        self._require_run(ctx, eid, run)
        layers = self._layer_names(ctx, eid, run) if layer is not None else None
        raw, entries, body = self._pack(ctx, eid, run, metadata.KERNELS_TAG, step, 0)
        names = self._select(entries, run, "kernel", layer, None, layers)
        extra = None if names is None else {"step": step}
        return encode_raw_pack(raw, entries, body, names, extra)


def public_error_status(err):
    """HTTP status for a ``tensorboard.errors.PublicError``."""
    if isinstance(err, tb_errors.NotFoundError):
        return 404
    if isinstance(err, tb_errors.InvalidArgumentError):
        return 400
    return getattr(err, "http_code", 404) or 404
