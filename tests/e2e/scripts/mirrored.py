"""LayerFlow under MirroredStrategy on 2 logical CPUs vs a single-device run on
the same weights. Usage: mirrored.py <dir_mirrored> <dir_single>"""

import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cnn_tb  # noqa: E402

L = keras.layers


def build():
    inp = keras.Input((16, 16, 3))
    x = L.Conv2D(4, 3, name="c1")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="act")(x)
    x = L.Conv2D(4, 3, strides=2, name="c2")(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(L.Flatten()(x)))


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.random((64, 16, 16, 3), dtype=np.float32)
y = np.arange(64) % 4
probes = cnn_tb.Probes(x[:3], labels=y[:3])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cnn_tb.LayerFlow(sys.argv[1], probes)])

single = build()
single.set_weights(model.get_weights())
logger = cnn_tb.LayerLogger(sys.argv[2], probes).attach(single)
assert logger.log(1)
logger.close()
print("OK")
