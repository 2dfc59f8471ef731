"""Log one step of a fixed model on the Keras backend of ``KERAS_BACKEND``.

Usage: backend_values.py WEIGHTS.npz PROBES.npy POOL.npy LOG_DIR [--no-tensorflow]

The model is built here, its weights set from WEIGHTS.npz (``w0``, ``w1``, ...
in ``model.weights`` order), and ``cnn_tb.log_layers`` logs ``PROBES.npy`` at
step 0, with ``POOL.npy`` as the held-out pool (labels ``i % 4``: its pass runs
on a snapshot of the weights, in ``keras.StatelessScope``). ``--no-tensorflow`` makes ``import tensorflow`` fail in this process,
as in an environment where it is not installed.
"""

import sys

if "--no-tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None  # "import tensorflow" raises ModuleNotFoundError

import numpy as np  # noqa: E402


def build(keras):
    L = keras.layers
    inp = keras.Input((16, 12, 3), name="image")
    x = L.Conv2D(6, 3, padding="same", name="conv1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    y = L.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Add(name="add")([x, y])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.Conv2D(8, 1, activation="relu", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, activation="relu", name="fc")(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="out")(x))


def main():
    weights_path, probes_path, pool_path, log_dir = sys.argv[1:5]
    import keras

    import cnn_tb

    model = build(keras)
    with np.load(weights_path) as w:
        model.set_weights([w[f"w{i}"] for i in range(len(model.weights))])
    images = np.load(probes_path)
    probes = cnn_tb.Probes(images, labels=[i % 4 for i in range(len(images))], class_names=list("abcd"))
    pool_images = np.load(pool_path)
    pool = cnn_tb.Probes(pool_images, labels=[i % 4 for i in range(len(pool_images))], class_names=list("abcd"))
    ok = cnn_tb.log_layers(model, probes, log_dir, step=0, pool=pool)
    print("BACKEND", keras.backend.backend(), "WRITTEN", ok, "TENSORFLOW", "tensorflow" in sys.modules
          and sys.modules["tensorflow"] is not None, flush=True)


if __name__ == "__main__":
    main()
