"""Fixtures of the plugin tests: real event files, real data providers."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# The code under test is the source tree (also when an older copy is installed).
for path in (HERE, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fixture_writer  # noqa: E402
import real_runs  # noqa: E402


def make_client(logdir, samples=0):
    """A werkzeug test client over TensorBoardWSGI with the cnn_tb plugin."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    from cnn_tb.plugin.plugin import CnnTbPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"cnn_tb": samples})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = base_plugin.TBContext(
        logdir=logdir, data_provider=provider, sampling_hints={"cnn_tb": samples}
    )
    plugin = CnnTbPlugin(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    client = werkzeug_test.Client(app, wrappers.Response)
    client.plugin = plugin
    client.multiplexer = multiplexer
    return client


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
