"""One worker of a 2-worker MultiWorkerMirroredStrategy job on 127.0.0.1, with a
custom training loop that calls cnn_tb.log_layers on EVERY worker after each
epoch. Both workers get the SAME log_dir: only the chief may write to it.
(Keras 3's model.fit itself fails under MultiWorkerMirroredStrategy, with or
without callbacks, so the loop is written out.)
Usage: multi_worker.py <log_dir> <port0> <port1> <index>"""

import json
import os
import sys

log_dir, port0, port1, index = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.environ["TF_CONFIG"] = json.dumps(
    {"cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]}, "task": {"type": "worker", "index": index}}
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import cnn_tb  # noqa: E402
from cnn_tb.model import capture  # noqa: E402

# Count cnn_tb's forward passes of the probes: every one goes through Capture.run
# (a model of every logged layer's output, built at attach).
passes = {"built": 0, "run": 0}
_init, _run = capture.Capture.__init__, capture.Capture.run


def _counted_init(self, *args, **kwargs):
    passes["built"] += 1
    _init(self, *args, **kwargs)


def _counted_run(self, *args, **kwargs):
    passes["run"] += 1
    return _run(self, *args, **kwargs)


capture.Capture.__init__, capture.Capture.run = _counted_init, _counted_run

L = keras.layers
strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((64, 16, 16, 3), dtype=np.float32)
y = np.arange(64) % 4
with strategy.scope():
    inp = keras.Input((16, 16, 3))
    h = L.Conv2D(4, 3, name="c1")(inp)
    h = L.BatchNormalization(name="bn")(h)
    model = keras.Model(inp, L.Dense(4, activation="softmax", name="out")(L.Flatten()(h)))
    optimizer = keras.optimizers.SGD(0.05)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(16))


@tf.function
def train_step(xb, yb):
    def replica(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(loss_fn(yb, model(xb, training=True)), global_batch_size=16)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return strategy.run(replica, args=(xb, yb))


probes = cnn_tb.Probes(x[:2], labels=y[:2])
cnn_tb.log_layers(model, probes, log_dir, step=-1)
for epoch in range(3):
    for xb, yb in dataset:
        train_step(xb, yb)
    written = cnn_tb.log_layers(model, probes, log_dir, step=epoch)
    print(f"WORKER {index} EPOCH {epoch} WRITTEN {written}", flush=True)
print(f"WORKER {index} CAPTURES BUILT {passes['built']} RUN {passes['run']}", flush=True)
print(f"WORKER {index} DONE", flush=True)
