"""Trains a tiny CNN with LayerFlow, printing a line after each logged epoch is
written; the test kills this process with SIGKILL between epochs."""

import sys
import time

import keras
import numpy as np

import cnn_tb

log_dir = sys.argv[1]
L = keras.layers
inp = keras.Input((16, 16, 3))
x = L.Conv2D(4, 3, activation="relu", name="c1")(inp)
model = keras.Model(inp, L.Dense(4, activation="softmax")(L.Flatten()(x)))
model.compile("adam", "sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
data = rng.random((32, 16, 16, 3), dtype=np.float32)


flow = cnn_tb.LayerFlow(log_dir, data[:2])


class Announce(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        flow.logger.wait()  # the step is written on a background thread: announce it once it is
        print(f"EPOCH_DONE {epoch}", flush=True)
        time.sleep(0.5)


model.fit(data, np.arange(32) % 4, epochs=100, verbose=0, callbacks=[flow, Announce()])
