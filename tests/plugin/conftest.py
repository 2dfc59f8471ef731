"""Fixtures of the plugin tests: real event files, real data providers."""

import logging
import os

import pytest

from cnn_tb.plugin import log

from tests.support import fixture_writer, real_runs
from tests.support.plugin_client import make_client


@pytest.fixture(scope="session")
def synthetic_logdir(tmp_path_factory):
    """Hand-made edge-case runs (hostile names, future versions, corrupt data)."""
    root = str(tmp_path_factory.mktemp("synthetic"))
    info = {}
    info["hostile"] = fixture_writer.write_run(
        os.path.join(root, "hostile", "cnn_tb"), hostile=True, steps=(-1, 0, 1, 2),
        nonfinite_steps=(2,))
    info["interrupted"] = fixture_writer.write_run(
        os.path.join(root, "interrupted", "cnn_tb"), steps=(-1, 0, 1), skip_epoch_for=(1,))
    info["future_epoch"] = fixture_writer.write_run(
        os.path.join(root, "future_epoch", "cnn_tb"), steps=(-1, 0), epoch_version=99)
    info["future_content"] = fixture_writer.write_run(
        os.path.join(root, "future_content", "cnn_tb"), steps=(-1, 0), content_version=99)
    info["corrupt"] = fixture_writer.write_run(
        os.path.join(root, "corrupt", "cnn_tb"), steps=(-1, 0, 1), corrupt_activation_steps=(0,))
    info["foreign"] = fixture_writer.write_foreign(os.path.join(root, "foreign", "cnn_tb"))
    return root, info


@pytest.fixture(scope="session")
def synthetic_client(synthetic_logdir):
    return make_client(synthetic_logdir[0])


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A real training run: LayerFlow on a tiny CNN, a few epochs."""
    return real_runs.train_small(str(tmp_path_factory.mktemp("trained")))


@pytest.fixture(scope="session")
def trained_client(trained):
    return make_client(trained["log_dir"])


@pytest.fixture(scope="session")
def fviz_run(tmp_path_factory):
    """The tiny CNN trained 6 epochs with feature visualizations at steps 1, 3 and 5."""
    return real_runs.train_with_feature_viz(str(tmp_path_factory.mktemp("fviz")))


@pytest.fixture(scope="session")
def fviz_client(fviz_run):
    return make_client(fviz_run["log_dir"])


@pytest.fixture(scope="session")
def pool_logdir(tmp_path_factory):
    """A run with a held-out pool (hostile class name) beside a run without one."""
    from tests.support.pool_runs import write_pool_run

    root = str(tmp_path_factory.mktemp("pool"))
    info = write_pool_run(root, hostile=True)
    real_runs.write_deep_run(root, steps=(-1,))  # a run without a pool
    return root, info


@pytest.fixture(scope="session")
def pool_client(pool_logdir):
    return make_client(pool_logdir[0])


def write_application_run(root, name, side=32, steps=(-1, 0), n_probes=3, seed=0):
    """``keras.applications.<name>`` (weights=None, 10 classes) logged with
    ``cnn_tb.log_layers`` at ``steps`` (a small random weight change between
    steps, no training); probes are random images without class names."""
    import keras
    import numpy as np

    import cnn_tb

    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=10)
    rng = np.random.default_rng(seed)
    probes = cnn_tb.Probes(rng.random((n_probes, side, side, 3), dtype=np.float32),
                           labels=[i % 10 for i in range(n_probes)])
    log_dir = os.path.join(root, name.lower())
    for step in steps:
        if step >= 0:
            for w in model.trainable_weights:
                w.assign(w + rng.normal(0, 0.01, w.shape).astype("float32"))
        cnn_tb.log_layers(model, probes, log_dir, step)
    n_layers = len(model.layers)
    keras.backend.clear_session()
    return {"run": f"{name.lower()}/cnn_tb", "layers": n_layers, "steps": list(steps), "n_probes": n_probes}


@pytest.fixture(scope="session")
def zoo_runs(tmp_path_factory):
    """ResNet50 and DenseNet121 runs (real writer, 2 steps, 3 random probes)."""
    root = str(tmp_path_factory.mktemp("zoo"))
    runs = {name: write_application_run(root, name) for name in ("ResNet50", "DenseNet121")}
    return root, runs


@pytest.fixture
def plugin_warnings(caplog, monkeypatch):
    """``plugin_warnings()``: the warnings of the ``cnn_tb.plugin`` logger so far.

    ``warn_once`` forgets what it warned about before the test, so every
    warning the test provokes is logged (and counted) here.
    """
    monkeypatch.setattr(log, "_warned", set())
    caplog.set_level(logging.WARNING, logger=log.logger.name)
    return lambda: [r for r in caplog.records if r.name == log.logger.name and r.levelno == logging.WARNING]
