"""Cached access to cnn_tb's data through a TensorBoard data provider.

Listings of runs and blob references are kept for a few seconds and refreshed
in the background; decoded records and decompressed packs are kept in
byte-bounded LRU caches. Unknown or unreadable data raises
``tensorboard.errors.NotFoundError``.
"""

import time

from tensorboard import errors
from tensorboard.data import provider

from cnn_tb.contract import packs, records, tags
from cnn_tb.plugin.cache import ByteLRU, Foreground, TimedListings, VersionedMemo, collector_paused, python_size
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pack_files import PackFiles

# ``read_*`` calls need a positive ``downsample``: 0 would return nothing.
# With ``--samples_per_plugin=cnn_tb=0`` (the default set by the loader) the
# loaders keep every step, and this bound lets the plugin read all of them.
MAX_DOWNSAMPLE = 1_000_000

# TensorBoard's histograms plugin (``tensorboard.plugins.histogram.metadata.PLUGIN_NAME``),
# whose tensors cnn_tb writes under ``activation_histograms/<layer>``.
HISTOGRAMS_PLUGIN = "histograms"

# Age (seconds) after which a cached listing of blob references is listed
# again in the background; a step missing from it is listed at once.
BLOB_LISTING_TTL = 5.0
# The same for the run/tag listing used by the data routes (``/runs``,
# ``/run`` and ``/epochs`` always list afresh; an unknown run is re-checked
# at once).
RUN_LISTING_TTL = 2.0


class CachedSource:
    """The plugin's data, read through a TensorBoard data provider with caches.

    Args:
        data_provider: a ``tensorboard.data.provider.DataProvider``.
        downsample: steps to request per tag (default: all).
        cache_bytes: bound of the decoded-pack cache (default 32 MiB, counted with the parsed headers: some 700 of the seed CNN's probe packs).
        pack_files: a :class:`~cnn_tb.plugin.pack_files.PackFiles` to read the
            pack files of format-2 runs (default: none; only format-1 runs'
            packs can then be read).
    """

    def __init__(self, data_provider, downsample=None, cache_bytes=32 << 20, pack_files=None):
        self._dp = data_provider
        self._pack_files = pack_files or PackFiles()
        self._downsample = downsample if downsample and downsample > 0 else MAX_DOWNSAMPLE
        self._packs = ByteLRU(cache_bytes)
        self._records = ByteLRU(16 << 20)  # parsed records, counted as Python objects
        self._encoded = ByteLRU(32 << 20)  # records as the routes serve them (JSON bytes)
        self._run_listing = TimedListings(RUN_LISTING_TTL, 64)  # eid -> list_tensors result
        self._blob_listing = TimedListings(BLOB_LISTING_TTL, 256)  # (eid, run, tag) -> {step: datum}
        self._derived = VersionedMemo(512)  # (what, eid, run) -> run record / epochs payload
        self._histograms = ByteLRU(16 << 20)  # (eid, run, layer, version) -> JSON bytes
        self._histogram_records = ByteLRU(48 << 20)  # each epoch record's histograms, packed
        self.foreground = Foreground()  # small requests; bulk decodes give way to them

    def _check_tag_content(self, run, tag, plugin_content):
        """True when the tag's plugin metadata is a version this reader knows."""
        try:
            tags.parse_plugin_content(plugin_content)
            return True
        except tags.NewerVersionError as e:
            warn_once(("newer", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
        except tags.FormatError as e:
            warn_once(("foreign", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
        return False

    def _tensor_listing(self, ctx, eid, fresh=False):
        """``list_tensors`` of the plugin.

        ``fresh=False`` returns a cached listing at once (re-listed in the
        background when older than ``RUN_LISTING_TTL``): the data routes only
        need to know that a run exists, and an unknown run is re-checked with
        a fresh listing by :meth:`_require_run`.
        """
        cached = self._run_listing.get(eid)
        if not fresh and cached is not None:
            listing, stale = cached
            if stale:
                self._run_listing.refresh_in_background(eid, lambda: self._tensor_listing(ctx, eid, fresh=True))
            return listing
        now = time.monotonic()
        listing = self._dp.list_tensors(ctx, experiment_id=eid, plugin_name=tags.PLUGIN_NAME)
        self._run_listing.put(eid, listing, now)
        return listing

    def _filter(self, run, tag):
        return dict(
            plugin_name=tags.PLUGIN_NAME, run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag])
        )

    def _list_blob_series(self, ctx, eid, run, tag):
        listing = self._dp.list_blob_sequences(ctx, experiment_id=eid, **self._filter(run, tag))
        series = listing.get(run, {}).get(tag)
        by_step = {}
        if series is not None and self._check_tag_content(run, tag, series.plugin_content):
            data = self._dp.read_blob_sequences(
                ctx, experiment_id=eid, downsample=self._downsample, **self._filter(run, tag)
            )
            by_step = {d.step: d for d in data.get(run, {}).get(tag, [])}
        self._blob_listing.put((eid, run, tag), by_step, time.monotonic())
        return by_step

    def _blob_series(self, ctx, eid, run, tag, need_step=None):
        """``{step: BlobSequenceDatum}`` for a blob tag.

        A cached listing that holds ``need_step`` is used at once; when it is
        older than ``BLOB_LISTING_TTL`` it is re-listed in the background (so
        a rewritten step is noticed). When ``need_step`` is missing (a step
        that appeared since), the tag is listed again before answering.
        """
        cached = self._blob_listing.get((eid, run, tag))
        if cached is not None and (need_step is None or need_step in cached[0]):
            by_step, stale = cached
            if stale:
                self._blob_listing.refresh_in_background(
                    ("blobs", eid, run, tag), lambda: self._list_blob_series(ctx, eid, run, tag)
                )
            return by_step
        return self._list_blob_series(ctx, eid, run, tag)

    def _histogram_listing(self, ctx, eid, run, tag):
        """The ``TensorTimeSeries`` of a Histograms-dashboard tag of ``run``, or None."""
        listing = self._dp.list_tensors(
            ctx, experiment_id=eid, plugin_name=HISTOGRAMS_PLUGIN, run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag])
        )
        return listing.get(run, {}).get(tag)

    def _histogram_data(self, ctx, eid, run, tag):
        """Every step of a Histograms-dashboard tag that TensorBoard kept: ``[TensorDatum]``."""
        data = self._dp.read_tensors(
            ctx,
            experiment_id=eid,
            plugin_name=HISTOGRAMS_PLUGIN,
            downsample=MAX_DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return list(data.get(run, {}).get(tag) or ())

    def _read_blob(self, ctx, ref):
        return self._dp.read_blob(ctx, blob_key=ref.blob_key)

    def _decoded_records(self, ctx, eid, run, tag, parse, what="record", cache=None, size=None):
        """``[(step, parse(record))]`` of a tensor tag; undecodable records skipped.

        ``what`` names the parse: each is cached on its own, in ``cache`` (default:
        the parsed records' cache) at ``size(value)`` bytes (default: counted as
        Python objects).
        """
        found = self._per_datum(ctx, eid, run, tag, parse, what, cache or self._records, size or self._record_size)
        return [(step, rec) for step, _, rec in found]

    def _encoded_records(self, ctx, eid, run, tag, parse, encode, what):
        """``[(step, wall_time, encode(parse(record)))]`` of a tensor tag, where
        ``encode`` returns a tuple of bytes and ints: what a route serves of a
        record, kept compact (parsed Python objects cost several times their
        JSON). :meth:`_encoded_record` finds one of them again."""
        return self._per_datum(ctx, eid, run, tag, lambda obj, step: encode(parse(obj, step)), what, self._encoded,
                               self._encoded_size)

    def _encoded_record(self, ctx, eid, run, tag, parse, encode, what, step, wall_time=None, last=False):
        """One value of :meth:`_encoded_records` (same arguments), of ``step`` (logged
        at ``wall_time`` when given; ``last``: the last step listed), without
        encoding the run's other records (:meth:`_record_of_step`); None when the
        run has no such record, or it is unreadable."""
        return self._record_of_step(ctx, eid, run, tag, lambda obj, s: encode(parse(obj, s)), what, self._encoded,
                                    self._encoded_size, step, wall_time, last)

    def _record_of_step(self, ctx, eid, run, tag, make, what, cache, size, step, wall_time=None, last=False):
        """One value of :meth:`_per_datum` (same arguments), of ``step`` (logged at
        ``wall_time`` when given): from ``cache``, else the record of that step read
        and made alone (the first ``/epoch`` of a 1,000-epoch run decodes one record,
        not 1,000). ``last``: the step is the tag's last listed, the one a page opens
        at: that record is read alone first (both loaders keep the last one when
        they downsample; the Rust data server then sends one record, not all of
        them). None when the run has no such record, or it is unreadable."""
        if wall_time is not None:
            hit = cache.get((what, eid, run, tag, step, wall_time))
            if hit:
                return hit
        datum = None
        for downsample in (1, None) if last else (None,):
            for d in self._read_series(ctx, eid, run, tag, downsample):
                if d.step == step and (wall_time is None or d.wall_time == wall_time):
                    datum = d  # a later record of the same step wins
            if datum is not None:
                break
        if datum is None:
            return None
        return self._made(datum, run, tag, make, (what, eid, run, tag), cache, size) or None

    @staticmethod
    def _record_size(rec):
        return 256 + python_size(rec)

    @staticmethod
    def _encoded_size(enc):
        return 128 + sum(len(v) for v in enc if isinstance(v, bytes))

    def _read_series(self, ctx, eid, run, tag, downsample=None):
        """Every kept ``TensorDatum`` of a tensor tag of the plugin (one provider call);
        ``downsample``: at most so many of them."""
        data = self._dp.read_tensors(ctx, experiment_id=eid, downsample=downsample or self._downsample,
                                     **self._filter(run, tag))
        return data.get(run, {}).get(tag) or ()

    def _made(self, datum, run, tag, make, key, cache, size):
        """``make(decoded JSON, step)`` of one ``TensorDatum``, made once per ``key +
        (step, wall_time)`` and kept in ``cache``; False when it is unreadable (one
        warning per run and tag)."""
        full_key = key + (datum.step, datum.wall_time)
        rec = cache.get(full_key)
        if rec is None:
            try:
                rec = make(records.decode_json(datum.numpy, what=f"{tag} step {datum.step}"), datum.step)
            except tags.NewerVersionError as e:
                warn_once(("newer", run, tag), "cnn_tb: skipping records of %s in run %r: %s", tag, run, e)
                rec = False
            except (tags.FormatError, ValueError, TypeError, AttributeError, OverflowError) as e:
                warn_once(("corrupt", run, tag), "cnn_tb: skipping unreadable %s record(s) in run %r: %s", tag, run, e)
                rec = False
            cache.put(full_key, rec, size(rec) if rec else 64)
        return rec

    def _per_datum(self, ctx, eid, run, tag, make, what, cache, size):
        """``[(step, wall_time, make(decoded JSON, step))]`` of a tensor tag in step order (a
        later record of the same step wins), each value made once per ``(step,
        wall_time)`` and kept in ``cache`` (a :class:`ByteLRU`, ``size(value)``
        bytes); undecodable records skipped with one warning."""
        out = {}
        with collector_paused():  # thousands of records at once: see collector_paused
            for i, datum in enumerate(self._read_series(ctx, eid, run, tag)):
                if not i % 8:
                    self.foreground.give_way()  # a request someone waits on goes first
                rec = self._made(datum, run, tag, make, (what, eid, run, tag), cache, size)
                if rec:
                    out[datum.step] = (datum.wall_time, rec)  # a later record of the same step wins
        return [(step, w, rec) for step, (w, rec) in sorted(out.items())]

    def _pack_index(self, ctx, eid, run, step):
        """The pack index record of ``step`` (format 2), or None when the run has none.

        The run's index is decoded whole once per version of the tag, except for
        a first request about the last step (a page opening a run): that record
        is read and decoded alone."""
        for fresh in (False, True):
            run_tags = self._require_run(ctx, eid, run, fresh=fresh)
            if tags.PACKS_TAG not in run_tags:
                return None
            key = self._series_key(run_tags, tags.PACKS_TAG)
            index = self._derived.get(("packs", eid, run), key)
            if index is None and step == key[0]:
                one = self._record_of_step(ctx, eid, run, tags.PACKS_TAG, records.parse_pack_index, "record",
                                           self._records, self._record_size, step, last=True)
                if one is not None:
                    return one
            if index is None:
                index = dict(self._decoded_records(ctx, eid, run, tags.PACKS_TAG, records.parse_pack_index))
                self._derived.put(("packs", eid, run), key, index)
            if step in index:
                return index[step]
        return {}

    def _pack_bytes(self, ctx, eid, run, tag, step, index):
        """``(stored pack bytes, cache key)`` of pack ``index`` of ``tag`` at ``step``."""
        record = self._pack_index(ctx, eid, run, step)
        if record:  # format 2; a step without an index record may be format 1 (written before)
            spans = record["activations"] if tag == tags.ACTIVATIONS_TAG else [record["kernels"]]
            if not 0 <= index < len(spans) or spans[index] is None:
                raise errors.NotFoundError(f"no {tag} blob {index} at step {step} in run {run!r}")
            key = (eid, run, tag, step, record["file"], index)
            return (lambda: self._pack_files.read(run, record["file"], spans[index])), key
        datum = self._blob_series(ctx, eid, run, tag, need_step=step).get(step)
        if datum is None:
            raise errors.NotFoundError(f"no {tag} data for step {step} in run {run!r}")
        if not 0 <= index < len(datum.values):
            raise errors.NotFoundError(f"no {tag} blob {index} at step {step} in run {run!r}")
        return (lambda: self._read_blob(ctx, datum.values[index])), (eid, run, tag, step, datum.wall_time, index)

    def _pack(self, ctx, eid, run, tag, step, index):
        """``(raw, entries, body)`` of pack ``index`` of ``tag`` at ``step``."""
        read, key = self._pack_bytes(ctx, eid, run, tag, step, index)
        hit = self._packs.get(key)
        if hit is None:
            blob = read()
            try:
                hit = packs.parse(blob, f"{tag} step {step} blob {index}")
            except tags.NewerVersionError as e:
                warn_once(("newer", run, tag), "cnn_tb: skipping %s of run %r: %s", tag, run, e)
                raise errors.NotFoundError(f"{tag} at step {step} has a newer format than this cnn_tb reads") from e
            except tags.FormatError as e:
                warn_once(("corrupt", run, tag), "cnn_tb: skipping unreadable %s record(s) in run %r: %s", tag, run, e)
                raise errors.NotFoundError(f"{tag} at step {step} is unreadable (truncated or corrupt)") from e
            self._packs.put(key, hit, len(hit[0]) + python_size(hit[1]))
        return hit

    def _listed_first(self, find):
        """``find(fresh)`` of the last listing of the runs (``fresh=False``), else, when
        that finds nothing (None, or NotFoundError), of a fresh listing: a route about
        one step asks the data provider for no listing when the last one knows the step
        (a listing took ~40 ms with TensorBoard's Rust data server at 1,000 epochs)."""
        try:
            found = find(False)
        except errors.NotFoundError:
            found = None
        return found if found is not None else find(True)

    def _require_run(self, ctx, eid, run, fresh=False):
        """The ``{tag: TensorTimeSeries}`` of ``run`` whose plugin metadata this reader
        knows; NotFoundError if it has no such run or epoch records (as ``/runs``)."""

        def known(listing):
            run_tags = {
                tag: ts
                for tag, ts in (listing.get(run) or {}).items()
                if self._check_tag_content(run, tag, ts.plugin_content)
            }
            return run_tags if (tags.RUN_TAG in run_tags or tags.EPOCH_TAG in run_tags) else None

        run_tags = known(self._tensor_listing(ctx, eid, fresh=fresh))
        if run_tags is None and not fresh:
            run_tags = known(self._tensor_listing(ctx, eid, fresh=True))
        if run_tags is None:
            raise errors.NotFoundError(f"unknown run {run!r}")
        return run_tags

    @staticmethod
    def _series_key(run_tags, tag):
        ts = run_tags.get(tag)
        return None if ts is None else (ts.max_step, ts.max_wall_time)
