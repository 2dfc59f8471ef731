"""Reading the held-out pool's records, sprite and packs (a part of
:class:`~cnn_tb.plugin.reader.FlowReader`).

The pool records (small JSON tensors) come through the data provider; the
sprite and the pool packs from the run's directory (:mod:`~cnn_tb.plugin.pack_files`),
one file range per request, cached. Unknown runs, steps and layers, a run
without a pool and unreadable data raise ``NotFoundError`` (404).
"""

import gzip
import json

from tensorboard import errors

from cnn_tb.contract import packs, pool_records, tags
from cnn_tb.plugin import epochs, pool_served
from cnn_tb.plugin.cache import python_size, release_free_memory
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pack_files import PNG_MAGIC


# how the pool records are kept (CachedSource._encoded_records): tag, parse, encode, cache name
_POOL_JSON = (tags.POOL_TAG, pool_records.parse_pool_record, pool_served.encode, "pool")


class PoolReader:
    """The pool routes' ``*_impl`` methods (mixed into :class:`~cnn_tb.plugin.reader.FlowReader`,
    over :class:`~cnn_tb.plugin.source.CachedSource`)."""

    pool_full_entries = pool_served.FULL_ENTRIES  # see cnn_tb.plugin.pool_served
    pool_min_full = pool_served.MIN_FULL_EPOCHS

    def pool_impl(self, ctx, eid, run):
        """The pool of ``run``: its sessions (pool run records, each with the
        ``step`` it was written at) and every complete pool step's record (with
        ``session``, the index of its session), sorted by step; the heavy
        fields in full for a sample of them when the run is long
        (:mod:`cnn_tb.plugin.pool_served`).

        Returns:
            ``{"run", "sessions": [...], "steps": [...], "records": [...],
            "full_records": int, "sampled": bool}``.
        """
        return json.loads(gzip.decompress(self.pool_gzip_impl(ctx, eid, run)))

    def pool_record_json_impl(self, ctx, eid, run, step):
        """The record of pool step ``step`` in full (as in :meth:`pool_impl` of a
        short run), as JSON bytes."""
        found = self._listed_first(lambda fresh: self._pool_entry(ctx, eid, run, fresh)["where"].get(step))
        if found is None:
            steps = self._pool_entry(ctx, eid, run, fresh=False)["steps"]  # of the fresh listing just made
            raise errors.NotFoundError(f"no pool step {step} in run {run!r}; pool steps: {steps[:20]}")
        wall_time, session = found
        enc = self._encoded_record(ctx, eid, run, *_POOL_JSON, step, wall_time)
        if enc is None:
            raise errors.NotFoundError(f"no pool step {step} in run {run!r}")
        return pool_served.with_session(enc[0], session)

    def pool_record_impl(self, ctx, eid, run, step):
        """:meth:`pool_record_json_impl` decoded."""
        return json.loads(self.pool_record_json_impl(ctx, eid, run, step))

    def pool_gzip_impl(self, ctx, eid, run):
        """:meth:`pool_impl` as gzip-compressed JSON bytes, built once per change of
        the run's pool records."""
        return self._pool_entry(ctx, eid, run)["gzip"]

    def _pool_entry(self, ctx, eid, run, fresh=True):
        """``{"steps", "sessions", "gzip", "where": {step: (wall_time, session)}}``,
        built once per version of the run's pool, pool run and epoch tags; the
        records themselves stay in the byte-bounded cache of :meth:`_encoded_records`.
        ``fresh=False``: of the versions in the last listing of the runs."""
        run_tags = self._require_run(ctx, eid, run, fresh=fresh)
        if tags.POOL_TAG not in run_tags or tags.POOL_RUN_TAG not in run_tags:
            raise errors.NotFoundError(f"run {run!r} has no held-out pool (it was logged without pool=)")
        key = tuple(self._series_key(run_tags, t) for t in (tags.POOL_TAG, tags.POOL_RUN_TAG, tags.EPOCH_TAG))
        hit = self._derived.get(("pool", eid, run), key)
        if hit is None:
            sessions = self._decoded_records(ctx, eid, run, tags.POOL_RUN_TAG, pool_records.parse_pool_run_record)
            complete = set(self.epoch_steps(ctx, eid, run, fresh))
            out = []  # (step, wall_time, encoded, session)
            for step, wall_time, enc in self._encoded_records(ctx, eid, run, *_POOL_JSON):
                index = max((i for i, (s, _) in enumerate(sessions) if s <= step), default=None)
                if step in complete and index is not None:
                    out.append((step, wall_time, enc, index))
            pieces, full = pool_served.served_json([o[2] for o in out], [o[3] for o in out],
                                                   self.pool_full_entries, self.pool_min_full)
            steps = [o[0] for o in out]
            shown = [r for _, r in sessions]
            raw = epochs.json_object({"run": run, "sessions": shown, "steps": steps}, "records", pieces,
                                     {"full_records": full, "sampled": full < len(out)})
            hit = {"steps": steps, "sessions": shown, "gzip": gzip.compress(raw, compresslevel=5, mtime=0),
                   "where": {o[0]: (o[1], o[3]) for o in out}}
            self._derived.put(("pool", eid, run), key, hit)
            del out, pieces, raw
            release_free_memory()
        if not hit["steps"]:
            raise errors.NotFoundError(f"run {run!r} has no complete pool step yet")
        return hit

    def _pool_step(self, ctx, eid, run, step):
        """``(pool record, its session)`` of pool step ``step``."""
        rec = self.pool_record_impl(ctx, eid, run, step)
        return rec, self._pool_entry(ctx, eid, run, fresh=False)["sessions"][rec["session"]]

    def _file_bytes(self, run, path, span):
        key = ("pool-file", run, path, tuple(span))
        hit = self._packs.get(key)
        if hit is None:
            hit = self._pack_files.read(run, path, span)
            self._packs.put(key, hit, len(hit))
        return hit

    def pool_images_impl(self, ctx, eid, run, step):
        """PNG bytes of the sprite of the pool used at pool step ``step``."""
        _, session = self._pool_step(ctx, eid, run, step)
        sprite = session["sprite"]
        png = self._file_bytes(run, sprite["file"], [0, sprite["length"]])
        if not png.startswith(PNG_MAGIC):
            warn_once(("corrupt", run, "sprite"), "cnn_tb: the pool sprite of run %r is not PNG data", run)
            raise errors.NotFoundError(f"the pool images of run {run!r} are not a PNG image")
        return png

    def pool_pack_impl(self, ctx, eid, run, step, layer=None, kinds=None):
        """Raw pool pack bytes of pool step ``step`` (optionally one layer and/or some kinds)."""
        rec, session = self._pool_step(ctx, eid, run, step)
        if rec["file"] is None or rec["span"] is None:
            raise errors.NotFoundError(f"pool step {step} of run {run!r} has no pool pack")
        key = ("pool-pack", eid, run, step, rec["file"], tuple(rec["span"]))
        hit = self._packs.get(key)
        if hit is None:
            blob = self._pack_files.read(run, rec["file"], rec["span"])
            try:
                hit = packs.parse(blob, f"pool pack of step {step}")
            except tags.NewerVersionError as e:
                warn_once(("newer", run, tags.POOL_TAG), "cnn_tb: skipping the pool packs of run %r: %s", run, e)
                raise errors.NotFoundError(f"the pool pack of step {step} has a newer format than this cnn_tb reads") from e
            except tags.FormatError as e:
                warn_once(("corrupt", run, tags.POOL_TAG), "cnn_tb: skipping unreadable pool packs of run %r: %s", run, e)
                raise errors.NotFoundError(f"the pool pack of step {step} is unreadable (truncated or corrupt)") from e
            self._packs.put(key, hit, len(hit[0]) + python_size(hit[1]))
        raw, entries, body = hit
        names = None
        if layer is not None:
            names = {e["name"] for e in entries if packs.split_array_name(e["name"])[0] == layer}
            if not names:
                known = layer in session["layers"] or layer in session["examples"]
                raise errors.NotFoundError(
                    f"layer {layer!r} has no pool data" if known else f"unknown layer {layer!r} in the pool of run {run!r}"
                )
        if kinds is not None:
            pick = {e["name"] for e in entries if packs.split_array_name(e["name"])[1] in kinds}
            names = pick if names is None else names & pick
        return packs.subset(raw, entries, body, names, None if names is None else {"step": step})
