"""Faults on the writing side: interrupted, killed, resumed runs, full disks,
remote file systems. Nothing logged before a fault is lost."""

import glob
import os
import signal
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2

import cnn_tb
from cnn_tb.contract import tags
from tests.support.tb_data import LogDir

L = keras.layers
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
X = np.random.default_rng(0).random((32, 16, 16, 3), dtype=np.float32)
Y = np.arange(32) % 4


def tiny():
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
    model = keras.Model(inp, L.Dense(4, activation="softmax", name="out")(L.Flatten()(x)))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def epoch_steps_in_files(log_dir):
    """Every step of the epoch record in every event file, repeats included."""
    steps = []
    for path in sorted(glob.glob(os.path.join(log_dir, tags.RUN_NAME, "events*"))):
        for rec in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(rec.numpy())
            if any(v.tag == tags.EPOCH_TAG for v in event.summary.value):
                steps.append(event.step)
    return steps


class Interrupt(keras.callbacks.Callback):
    def __init__(self, exc, epoch, batch=1):
        super().__init__()
        self.exc, self.epoch, self.batch, self.current = exc, epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("another callback broke")])
def test_interrupted_mid_epoch_keeps_every_finished_epoch(tmp_path, exc):
    model = tiny()
    flow = cnn_tb.LayerFlow(str(tmp_path), X[:2])
    with pytest.raises(type(exc)):
        model.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[flow, Interrupt(exc, epoch=2)])
    # on_train_end never ran: the background thread still finishes the steps logged before
    # the interruption (a script that ends there gets them too: test_background.py)
    assert flow.logger.wait() is True
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 0, 1]


def test_sigkill_between_epochs_keeps_every_finished_epoch(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "scripts", "train_and_signal.py"), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    try:
        for line in proc.stdout:
            if line.strip() == "EPOCH_DONE 2":
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    log = LogDir(str(tmp_path))
    assert sorted(log.epochs()) == [-1, 0, 1, 2]
    assert len(log.packs(2)) == 2
    # a half-written record at the end (a kill during a write) hides nothing before it
    (path,) = glob.glob(str(tmp_path / tags.RUN_NAME / "events*"))
    with open(path, "ab") as f:
        f.write(b"\x10\x27\x00\x00\x00\x00\x00\x00garbage")
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 0, 1, 2]


def test_resumed_training_continues_the_timeline(tmp_path):
    model = tiny()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[cnn_tb.LayerFlow(str(tmp_path), X[:2])])
    model.fit(X, Y, epochs=4, initial_epoch=2, verbose=0, callbacks=[cnn_tb.LayerFlow(str(tmp_path), X[:2])])
    assert sorted(epoch_steps_in_files(str(tmp_path))) == [-1, 0, 1, 2, 3]  # each exactly once
    assert len(glob.glob(str(tmp_path / tags.RUN_NAME / "events*"))) == 2
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 0, 1, 2, 3]


def test_full_disk_warns_training_continues_and_earlier_steps_stay(tmp_path):
    logger = cnn_tb.LayerLogger(str(tmp_path), cnn_tb.Probes(X[:2])).attach(tiny())
    assert logger.log(-1)
    logger._steps.writer._writer = open("/dev/full", "wb", buffering=0)  # the OS answers ENOSPC
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert logger.log(0) is False
    assert any("logging step 0 failed" in str(w.message) for w in caught)
    assert logger.log(1) is True  # space again: a new event file
    logger.close()
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 1]


def test_remote_filesystem_paths_go_through_gfile():
    log_dir = "ram://cnn_tb_reliability/logs"
    logger = cnn_tb.LayerLogger(log_dir, cnn_tb.Probes(X[:2])).attach(tiny())
    assert logger.log(0)
    logger.close()
    (path,) = tf.io.gfile.glob(log_dir + "/cnn_tb/events*")
    events = [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    # the file-version event, then step 0's values (a few events), its epoch record last
    assert events[0].file_version == "brain.Event:2" and len(events) > 2
    assert [e.step for e in events[1:]] == [0] * (len(events) - 1)
    assert events[-1].summary.value[-1].tag == tags.EPOCH_TAG
