"""LayerFlow under keras.distribution on JAX.

Usage:
  jax_distribution.py local LOG_DIST LOG_SINGLE
      two host devices (XLA_FLAGS=--xla_force_host_platform_device_count=2),
      DataParallel over both; then a single-device logger on the same weights.
  jax_distribution.py process INDEX PORT LOG_DIR
      one of two processes of a jax.distributed run (coordinator on
      127.0.0.1:PORT), DataParallel over both processes' devices.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
mode = sys.argv[1]
if mode == "local":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

if mode == "process":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{sys.argv[3]}", num_processes=2,
                               process_id=int(sys.argv[2]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import cnn_tb  # noqa: E402
import small_model  # noqa: E402
from cnn_tb.model import capture  # noqa: E402

passes = {"run": 0}
_run = capture.Capture.run


def _counted(self, *args, **kwargs):
    passes["run"] += 1
    return _run(self, *args, **kwargs)


capture.Capture.run = _counted  # count cnn_tb's forward passes (the real ones run)


keras.utils.set_random_seed(0)
x, y = small_model.data()
probes = cnn_tb.Probes(x[:3], labels=y[:3])
devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
distribution = keras.distribution.DataParallel(devices=devices)
batch = 16
if mode == "process":  # each process feeds its own half of every batch
    distribution.auto_shard_dataset = False
    x, y, batch = x[jax.process_index() :: 2], y[jax.process_index() :: 2], 8
keras.distribution.set_distribution(distribution)
model = small_model.build(keras)
model.compile("adam", "sparse_categorical_crossentropy")
log_dir = sys.argv[2] if mode == "local" else sys.argv[4]
model.fit(x, y, epochs=2, batch_size=batch, verbose=0, callbacks=[cnn_tb.LayerFlow(log_dir, probes)])
print(f"PROCESS {jax.process_index()} OF {jax.process_count()} PASSES {passes['run']}", flush=True)

if mode == "local":
    weights = [np.asarray(w) for w in model.get_weights()]
    keras.distribution.set_distribution(None)
    single = small_model.build(keras)
    single.set_weights(weights)
    logger = cnn_tb.LayerLogger(sys.argv[3], probes).attach(single)
    assert logger.log(1)
    logger.close()
print("OK", flush=True)
