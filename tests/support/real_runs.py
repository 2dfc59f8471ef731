"""Log dirs written by the real writer (``cnn_tb.LayerFlow`` / ``cnn_tb.log_layers``).

There is no fallback: when the writer cannot be imported or fails, the tests
that use these runs fail (they never quietly get hand-made data instead).
"""

import os

import numpy as np

from tests.support import fixture_writer

HOSTILE = fixture_writer.HOSTILE


def tiny_model(num_classes, image_size=16, hostile_name=False):
    """A small functional CNN with a residual branch (Add with 2 inbound layers).

    ``hostile_name`` names conv2 with HTML; TensorFlow refuses to run such a
    layer (not a valid name scope), so it is only usable without training.
    """
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                            name=HOSTILE if hostile_name else "conv2")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="tiny_cnn")
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data(n, image_size, seed=0):
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes

    x, y = make_shapes(n, image_size=image_size, seed=seed)
    return x.astype(np.float32), y.astype(np.int64), list(CLASS_NAMES)


def train_small(root, epochs=6, n_probes=4, image_size=16, hostile=False, n_images=3000):
    """Train :func:`tiny_model` with ``LayerFlow``; returns a description dict.

    ``hostile=True`` gives class 0 an HTML name (layer names cannot hold HTML
    in a model TensorFlow can run; those come from the fixture writer).
    """
    log_dir = os.path.join(root, "hostile_run" if hostile else "demo_run")
    import cnn_tb
    import keras

    keras.utils.set_random_seed(0)
    x, y, names = _data(n_images, image_size)
    if hostile:
        names = [HOSTILE] + names[1:]
    model = tiny_model(len(names), image_size)
    # probes: one per class where possible
    idx = [int(np.flatnonzero(y == c)[0]) for c in range(n_probes)]
    probes = cnn_tb.Probes(x[idx], labels=y[idx], class_names=names)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0,
              callbacks=[cnn_tb.LayerFlow(log_dir, probes)])
    return {"log_dir": root, "run": os.path.relpath(os.path.join(log_dir, "cnn_tb"), root),
            "model": model, "probe_images": x[idx], "labels": y[idx].tolist(),
            "class_names": names, "epochs": epochs, "n_probes": n_probes,
            "steps": list(range(-1, epochs))}


def write_many_epochs(root, epochs=30, n_probes=2, image_size=16):
    """``epochs`` logged steps (plus the untrained one) without training."""
    log_dir = os.path.join(root, "long_run")
    import cnn_tb

    x, y, names = _data(n_probes, image_size)
    model = tiny_model(len(names), image_size)
    probes = cnn_tb.Probes(x, labels=y, class_names=names)
    rng = np.random.default_rng(0)
    for step in range(-1, epochs):
        if step >= 0:  # a small weight change per "epoch", so steps differ
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.02, w.shape).astype("float32"))
        cnn_tb.log_layers(model, probes, log_dir, step)
    return {"log_dir": root, "run": "long_run/cnn_tb", "epochs": epochs}


def deep_model(num_classes=10, image_size=16, blocks=10):
    """A plain deep CNN: input + ``blocks`` x (Conv2D, ReLU) + pooling + 2 Dense (24 layers)."""
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="input")
    x = inputs
    for i in range(1, blocks + 1):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"conv_{i:02d}")(x)
        x = keras.layers.ReLU(name=f"relu_{i:02d}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(8, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="deep_cnn")


def write_deep_run(root, steps=(-1, 0), n_probes=3, image_size=16):
    """A 24-layer model logged with ``log_layers`` (no training)."""
    import cnn_tb

    log_dir = os.path.join(root, "deep_run")
    x, y, names = _data(n_probes, image_size)
    model = deep_model(len(names), image_size)
    probes = cnn_tb.Probes(x, labels=y, class_names=names)
    rng = np.random.default_rng(1)
    for step in steps:
        if step >= 0:
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.05, w.shape).astype("float32"))
        cnn_tb.log_layers(model, probes, log_dir, step)
    return {"run": "deep_run/cnn_tb", "layers": len(model.layers)}


class LiveRun:
    """A run written step by step while TensorBoard serves it (no training)."""

    def __init__(self, root, name="live_run", n_probes=2, image_size=16):
        import cnn_tb

        self.log_dir = os.path.join(root, name)
        self.run = f"{name}/cnn_tb"
        x, y, names = _data(n_probes, image_size)
        self.model = tiny_model(len(names), image_size)
        self.probes = cnn_tb.Probes(x, labels=y, class_names=names)
        self.rng = np.random.default_rng(2)

    def log(self, step):
        import cnn_tb

        if step >= 0:
            for w in self.model.trainable_weights:
                w.assign(w + self.rng.normal(0, 0.05, w.shape).astype("float32"))
        cnn_tb.log_layers(self.model, self.probes, self.log_dir, step)
