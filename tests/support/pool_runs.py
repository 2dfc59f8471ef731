"""Log dirs with a held-out pool, written by the real writer (no training: the
weights get a small random change between steps so the steps differ)."""

import os

import numpy as np

from tests.support.fixture_writer import HOSTILE


def join_compilations():
    """Wait for the background compilations of every capture (see tests/pool/conftest.py)."""
    from cnn_tb.model import backend

    for thread in list(backend._compiling):
        thread.join()


def write_pool_run(root, name="pool_run", steps=(-1, 0, 1), n_pool=60, n_probes=3, hostile=False, seed=0):
    """``<root>/<name>/cnn_tb`` logged with ``pool=`` at ``steps``; returns a description."""
    import cnn_tb
    import keras

    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from tests.support.real_runs import tiny_model

    keras.utils.set_random_seed(seed)
    x, y = make_shapes(n_pool, image_size=16, seed=seed + 5)
    x = x.astype(np.float32)
    names = list(CLASS_NAMES)
    if hostile:
        names[0] = HOSTILE
    model = tiny_model(len(names), 16)
    probes = cnn_tb.Probes(x[:n_probes], labels=y[:n_probes], class_names=names)
    log_dir = os.path.join(root, name)
    logger = cnn_tb.LayerLogger(log_dir, probes, pool=(x, y))
    logger.attach(model)
    rng = np.random.default_rng(seed)
    for step in steps:
        if step >= 0:
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.05, w.shape).astype("float32"))
        assert logger.log(step)
    logger.close()
    join_compilations()
    return {"log_dir": log_dir, "run": f"{name}/cnn_tb", "x": x, "y": y, "names": names, "model": model,
            "steps": list(steps), "logger": logger}


def write_application_pool_run(root, name="ResNet50", side=32, n_pool=64, steps=(-1, 0), n_probes=3, seed=0):
    """``keras.applications.<name>`` (weights=None, 10 classes) logged with
    ``cnn_tb.log_layers`` and a pool of ``n_pool`` random images at ``steps``
    (a small random weight change between steps, no training)."""
    import cnn_tb
    import keras

    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=10)
    rng = np.random.default_rng(seed)
    x = rng.random((n_pool, side, side, 3), dtype=np.float32)
    y = np.arange(n_pool) % 10
    probes = cnn_tb.Probes(x[:n_probes], labels=y[:n_probes])
    log_dir = os.path.join(root, name.lower())
    for step in steps:
        if step >= 0:
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.01, w.shape).astype("float32"))
        assert cnn_tb.log_layers(model, probes, log_dir, step, pool=(x, y))
    join_compilations()
    n_layers = len(model.layers)
    keras.backend.clear_session()
    return {"run": f"{name.lower()}/cnn_tb", "layers": n_layers, "steps": list(steps), "n_pool": n_pool, "y": y}


def write_long_pool_run(root, name="long_pool", epochs=1000, n_pool=40, seed=0):
    """``epochs`` pool steps (plus the untrained one) of the small residual CNN,
    flow records and a 40-image pool only, no training (a weight change every
    50 steps)."""
    import cnn_tb

    from cnn_tb.demo.datasets import make_shapes
    from tests.support.real_runs import tiny_model

    x, y = make_shapes(n_pool, image_size=16, seed=seed + 3)
    x = x.astype(np.float32)
    model = tiny_model(10, 16)
    logger = cnn_tb.LayerLogger(os.path.join(root, name), cnn_tb.Probes(x[:2], labels=y[:2]), kinds=("flow",), pool=(x, y))
    logger.attach(model)
    rng = np.random.default_rng(seed)
    for step in range(-1, epochs):
        if step >= 0 and step % 50 == 0:
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.02, w.shape).astype("float32"))
        assert logger.log(step)
        if step == -1:
            join_compilations()
    logger.close()
    return {"run": f"{name}/cnn_tb", "steps": list(range(-1, epochs))}
