"""LayerFlow under MirroredStrategy on 2 logical CPUs vs a single-device run on
the same weights. Usage: mirrored.py <dir_mirrored> <dir_single>"""

import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import cnn_tb  # noqa: E402
import small_model  # noqa: E402


keras.utils.set_random_seed(0)
x, y = small_model.data()
probes = cnn_tb.Probes(x[:3], labels=y[:3])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = small_model.build(keras)
    model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cnn_tb.LayerFlow(sys.argv[1], probes)])

single = small_model.build(keras)
single.set_weights(model.get_weights())
logger = cnn_tb.LayerLogger(sys.argv[2], probes).attach(single)
assert logger.log(1)
logger.close()
print("OK")
