"""Fixtures of the plugin tests: real event files, real data providers."""

import os

import pytest

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
    fixture_writer.write_foreign(os.path.join(root, "foreign", "cnn_tb"))
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
