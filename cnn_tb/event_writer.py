"""Event files and pack files for the cnn_tb run, written without TensorFlow.

Summaries are built as protos in Python (:mod:`cnn_tb.summaries.values`) and
appended to an event file in TensorFlow's record format (length, masked CRC32C
of the length, data, masked CRC32C of the data; the CRCs by ``google-crc32c``).
Local paths are plain files; other paths (``gs://...``) go through
TensorBoard's ``gfile``, which is TensorFlow's file systems when TensorFlow is
installed. All values of one logged step go into ONE event, so a step is
written in one record, and a flush after each step puts it on disk.

One writer is shared per run directory inside a process (several cnn_tb
callbacks on the same ``log_dir`` append to the same file).
"""

import os
import socket
import struct
import threading
import time

import google_crc32c
from tensorboard.compat.proto import event_pb2

from cnn_tb import _fs

_lock = threading.Lock()
_shared = {}  # run_dir -> [EventWriter, refcount]
_uid = [0]


def masked_crc32c(data):
    """TensorFlow's masked CRC32C of ``data`` (the record format's checksums)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data):
    """``data`` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


class EventWriter:
    """Appends events to one new event file in ``run_dir`` (created lazily)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self._writer = None
        self.path = None

    def _open(self):
        _fs.makedirs(self.run_dir)
        # The session id's counter is zero-padded: TensorBoard reads the files
        # of a run in name order, and a later file of this process must never
        # sort first.
        self.path = _fs.join(self.run_dir, "events.out.tfevents.%s.cnn_tb" % session_id())
        self._writer = _fs.open_new(self.path)
        first = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        first.source_metadata.writer = "cnn_tb"
        self._writer.write(record(first.SerializeToString()))

    # A value at most this large shares an event with its small neighbours; a larger
    # one (a picture, an epoch record) is an event of its own.
    SMALL_VALUE_BYTES = 2048

    def write(self, step, values, wall_time=None):
        """Write ``values`` (``Summary.Value`` protos) at ``step``, in order, in one write.

        Each value larger than ``SMALL_VALUE_BYTES`` is an event of its own; runs of
        smaller ones (scalars, histograms, short records) share one. TensorBoard's
        Python loader keeps each sample it keeps as a part of its parsed event, and
        with TensorFlow's protobuf runtime a part keeps its whole event's memory:
        with every value of a step in one event, each kept scalar or epoch record
        kept that step's pictures too (0.6 GB at 1,000 epochs of the seed CNN). One
        event per value would cost that loader twice the reading time (130 events
        a step); this way a small value pins at most its small neighbours.
        """
        if not values:
            return
        if self._writer is None:
            self._open()
        wall_time = wall_time or time.time()
        out, group = [], []

        def emit(vals):
            if vals:
                event = event_pb2.Event(wall_time=wall_time, step=int(step))
                event.summary.value.extend(vals)
                out.append(record(event.SerializeToString()))

        for v in values:
            if v.ByteSize() <= self.SMALL_VALUE_BYTES:
                group.append(v)
            else:
                emit(group)
                group = []
                emit([v])
        emit(group)
        self._writer.write(b"".join(out))

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None


def write_pack_file(run_dir, path, blobs):
    """Write ``blobs`` one after the other into the new file ``<run_dir>/<path>``.

    Returns:
        ``[[offset, length], ...]`` of each blob in the file.
    """
    full = _fs.join(run_dir, *path.split("/"))
    _fs.makedirs(full.rsplit("/", 1)[0] if _fs.is_remote(full) else os.path.dirname(full))
    spans, at = [], 0
    for b in blobs:
        spans.append([at, len(b)])
        at += len(b)
    _fs.write_new(full, b"".join(blobs))
    return spans


def session_id():
    """A name unique to this process and moment, for the files of one writing session."""
    with _lock:
        _uid[0] += 1
        uid = _uid[0]
    return "%010d.%s.%d.%06d" % (time.time(), socket.gethostname(), os.getpid(), uid)


def check_writable(run_dir, log_dir):
    """Create ``run_dir`` and check it is writable (``log_dir`` for the message).

    Raises:
        PermissionError: naming the directory and the reason.
    """
    try:
        _fs.makedirs(run_dir)
    except Exception as e:  # noqa: BLE001 - any file-system error
        raise PermissionError(f"cnn_tb cannot create its run directory {run_dir!r} under log_dir={log_dir!r}: {e}") from e
    if "://" not in run_dir and not os.access(run_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"cnn_tb cannot write to {run_dir!r} (log_dir={log_dir!r}): permission denied.")


def acquire(run_dir):
    """The shared :class:`EventWriter` for ``run_dir`` (reference counted)."""
    key = os.path.abspath(run_dir) if "://" not in run_dir else run_dir
    with _lock:
        entry = _shared.get(key)
        if entry is None:
            entry = _shared[key] = [EventWriter(run_dir), 0]
        entry[1] += 1
        return entry[0]


def discard(writer):
    """Forget a broken writer (for every user) and close it, ignoring errors."""
    with _lock:
        for key, entry in list(_shared.items()):
            if entry[0] is writer:
                del _shared[key]
    try:
        writer.close()
    except Exception:  # noqa: BLE001 - it is broken already
        pass


def release(writer):
    """Drop one reference; the file is closed when the last user releases it."""
    with _lock:
        for key, entry in list(_shared.items()):
            if entry[0] is writer:
                entry[1] -= 1
                if entry[1] <= 0:
                    del _shared[key]
                    writer.close()
                return
    writer.close()
