"""Event files for the cnn_tb run, written without running TensorFlow ops.

Summaries are built as protos in Python (TensorBoard's own ``*_pb``
builders plus ours) and appended to an event file through
``tf.io.TFRecordWriter``, whose record framing and CRCs are computed in C++
and whose paths go through TensorFlow's file systems (``gs://`` and friends).
All values of one logged step go into ONE event, so a step is written in one
record, and a flush after each step puts it on disk.

One writer is shared per run directory inside a process (several cnn_tb
callbacks on the same ``log_dir`` append to the same file).
"""

import os
import socket
import threading
import time

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.util import tensor_util

_lock = threading.Lock()
_shared = {}  # run_dir -> [EventWriter, refcount]
_uid = [0]


def _tf():
    """TensorFlow, imported on first write (its file systems and record writer)."""
    import tensorflow as tf

    return tf


class EventWriter:
    """Appends events to one new event file in ``run_dir`` (created lazily)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self._writer = None
        self.path = None

    def _open(self):
        tf = _tf()
        tf.io.gfile.makedirs(self.run_dir)
        with _lock:
            _uid[0] += 1
            uid = _uid[0]
        # The uid is zero-padded: TensorBoard reads the files of a run in name
        # order, and a later file of this process must never sort first.
        name = "events.out.tfevents.%010d.%s.%d.%06d.cnn_tb" % (
            time.time(),
            socket.gethostname(),
            os.getpid(),
            uid,
        )
        self.path = os.path.join(self.run_dir, name) if "://" not in self.run_dir else self.run_dir.rstrip("/") + "/" + name
        self._writer = tf.io.TFRecordWriter(self.path)
        first = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
        first.source_metadata.writer = "cnn_tb"
        self._writer.write(first.SerializeToString())

    def write(self, step, values, wall_time=None):
        """Write ``values`` (``Summary.Value`` protos) as one event at ``step``."""
        if not values:
            return
        if self._writer is None:
            self._open()
        event = event_pb2.Event(wall_time=wall_time or time.time(), step=int(step))
        event.summary.value.extend(values)
        self._writer.write(event.SerializeToString())

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None


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


# ------------------------------------------------------------ value builders


def tensor_value(tag, array, metadata):
    """A ``Summary.Value`` holding ``array`` as a tensor."""
    return summary_pb2.Summary.Value(
        tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(array)
    )


def image_value(tag, pngs, width, height, description=""):
    """An Images-dashboard value: ``pngs`` (list of PNG bytes) of one size."""
    meta = image_metadata.create_summary_metadata(display_name=tag, description=description)
    data = np.array([str(width).encode(), str(height).encode()] + list(pngs), dtype=object)
    return tensor_value(tag, data, meta)


def scalar_value(tag, value, description=None):
    from tensorboard.plugins.scalar import summary_v2

    return summary_v2.scalar_pb(tag, np.float32(value), description=description).value[0]


def histogram_value(tag, data, buckets=30, description=None):
    """A Histograms-dashboard value: ``buckets`` equal-width buckets over ``data``.

    Same layout as ``tf.summary.histogram`` (a [k, 3] tensor of left edge,
    right edge, count), computed with one ``np.histogram`` call.
    """
    from tensorboard.plugins.histogram import metadata as hist_metadata

    data = np.asarray(data, dtype=np.float64).ravel()
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        edges = np.array([lo - 0.5, hi + 0.5])
        counts = np.array([float(data.size)])
    else:
        counts, edges = np.histogram(data, bins=buckets, range=(lo, hi))
    tensor = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
    meta = hist_metadata.create_summary_metadata(display_name=tag, description=description or "")
    return tensor_value(tag, tensor, meta)


def text_value(tag, text, description=None):
    from tensorboard.plugins.text import summary_v2

    return summary_v2.text_pb(tag, text, description=description).value[0]
