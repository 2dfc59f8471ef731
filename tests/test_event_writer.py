"""Event files: a large value an event, small ones together, shared per run directory, names that sort in order."""

import os

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from cnn_tb import event_writer
from cnn_tb.summaries.values import scalar_value


def _events(path):
    import tensorflow as tf

    return [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def test_large_values_get_events_of_their_own_and_lazy_file(tmp_path):
    run_dir = str(tmp_path / "run")
    w = event_writer.EventWriter(run_dir)
    w.write(0, [])  # nothing to write: no file
    assert not os.path.exists(run_dir)
    big = summary_pb2.Summary.Value(tag="big")
    big.tensor.string_val.append(b"x" * (event_writer.EventWriter.SMALL_VALUE_BYTES + 1))
    last = summary_pb2.Summary.Value(tag="last")
    last.tensor.string_val.append(b"y" * 5000)
    w.write(3, [scalar_value("a", 1.5), scalar_value("b", 2.0), big, scalar_value("c", 3.0), last])
    w.write(4, [scalar_value("a", 2.5)])
    w.flush()
    events = _events(w.path)
    assert events[0].file_version == "brain.Event:2" and events[0].source_metadata.writer == "cnn_tb"
    # in order; a large value alone (TensorBoard's Python loader keeps a kept value's whole
    # event), the small ones between them together; one wall time a write
    assert [e.step for e in events[1:]] == [3, 3, 3, 3, 4]
    assert [[v.tag for v in e.summary.value] for e in events[1:]] == [["a", "b"], ["big"], ["c"], ["last"], ["a"]]
    assert len({e.wall_time for e in events[1:5]}) == 1
    assert events[2].summary.value[0].tensor.string_val[0] == big.tensor.string_val[0]
    assert events[5].summary.value[0].tensor.float_val[0] == pytest.approx(2.5)
    w.close()


def test_writers_are_shared_per_run_dir_and_closed_by_the_last_release(tmp_path):
    run_dir = str(tmp_path / "run")
    a = event_writer.acquire(run_dir)
    b = event_writer.acquire(run_dir + "/")  # the same directory
    c = event_writer.acquire(str(tmp_path / "other"))
    assert a is b and a is not c
    a.write(0, [scalar_value("x", 1.0)])
    event_writer.release(a)
    b.write(1, [scalar_value("x", 2.0)])  # still open for the other user
    event_writer.release(b)
    assert a._writer is None
    assert [e.step for e in _events(a.path)[1:]] == [0, 1]
    assert event_writer.acquire(run_dir) is not a  # a new file after the last release
    event_writer.discard(event_writer.acquire(run_dir))
    event_writer.release(c)


def test_file_names_sort_in_creation_order(tmp_path):
    paths = []
    for i in range(12):  # past 9 and 10: zero-padded counters keep the order
        w = event_writer.EventWriter(str(tmp_path))
        w.write(i, [scalar_value("x", float(i))])
        w.close()
        paths.append(os.path.basename(w.path))
    assert sorted(paths) == paths and len(set(paths)) == 12


def test_check_writable(tmp_path):
    event_writer.check_writable(str(tmp_path / "a" / "cnn_tb"), str(tmp_path / "a"))
    assert os.path.isdir(tmp_path / "a" / "cnn_tb")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match=r"cannot create its run directory .*file/cnn_tb"):
        event_writer.check_writable(str(blocker / "cnn_tb"), str(blocker))
    np.testing.assert_equal(os.path.exists(blocker / "cnn_tb"), False)


def test_records_match_tensorflows_record_format(tmp_path):
    """Our framing, read back by TensorFlow's reader and checked against
    TensorBoard's own (pure Python) CRC implementation."""
    import struct

    import tensorflow as tf
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    for data in (b"", b"x", bytes(range(256)) * 40):
        assert event_writer.masked_crc32c(data) == masked_crc32c(data)
        framed = event_writer.record(data)
        assert framed[:8] == struct.pack("<Q", len(data)) and framed[12:-4] == data
    path = str(tmp_path / "r.tfrecord")
    payloads = [b"first", bytes(range(256)) * 100, b""]
    with open(path, "wb") as f:
        for p in payloads:
            f.write(event_writer.record(p))
    assert [r.numpy() for r in tf.data.TFRecordDataset(path)] == payloads
