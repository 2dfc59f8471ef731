"""Shared fixtures: real TensorFlow training runs and real event files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shapes_data():
    from cnn_tb.demo import datasets

    (x, y), (xt, yt), names = datasets.load_dataset("shapes", n_train=1500, n_test=200, seed=0)
    return x, y, xt, yt, names


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, shapes_data):
    """The notebook CNN trained 3 epochs with keras TensorBoard + LayerFlow."""
    import keras

    import cnn_tb
    from cnn_tb.demo import models

    keras.utils.set_random_seed(1)
    x, y, xt, yt, names = shapes_data
    model = models.notebook_cnn()
    models.compile_for_demo(model)
    probes = cnn_tb.Probes.select(xt, yt, n=6, class_names=names)
    log_dir = str(tmp_path_factory.mktemp("demo_run"))
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=32,
        verbose=0,
        validation_data=(xt, yt),
        callbacks=[keras.callbacks.TensorBoard(log_dir), cnn_tb.LayerFlow(log_dir, probes)],
    )
    return {"log_dir": log_dir, "model": model, "probes": probes}


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.random((48, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 4, 48)
    return x, y


@pytest.fixture(scope="session")
def pool_demo_run(tmp_path_factory):
    """The notebook CNN trained 4 epochs on the built-in shapes dataset with
    LayerFlow and a 300-image held-out pool."""
    import keras

    import cnn_tb
    from cnn_tb.demo import datasets, models
    from tests.support.pool_runs import join_compilations

    keras.utils.set_random_seed(2)
    (x, y), (xt, yt), names = datasets.load_dataset("shapes", n_train=2000, n_test=400, seed=2)
    model = models.compile_for_demo(models.notebook_cnn())
    probes = cnn_tb.Probes.select(xt[:100], yt[:100], n=6, class_names=names)
    pool = cnn_tb.Probes(xt[100:], labels=yt[100:], class_names=names)
    log_dir = str(tmp_path_factory.mktemp("pool_demo_run"))
    callback = cnn_tb.LayerFlow(log_dir, probes, pool=pool)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[callback])
    join_compilations()
    return {"log_dir": log_dir, "model": model, "pool": pool, "probes": probes, "names": names,
            "logger": callback.logger, "steps": [-1, 0, 1, 2, 3]}
