"""The entry point: light to import, keeps every epoch by default, user flags win."""

import os
import subprocess
import sys

import pytest

from cnn_tb.plugin import loader

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_entry_point_module_is_light():
    code = (
        "import sys; import cnn_tb.plugin.loader; "
        "print(','.join(sorted(m for m in ('tensorflow', 'numpy', 'keras', 'cnn_tb.metadata', "
        "'cnn_tb.plugin.plugin') if m in sys.modules)))"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _flags(*argv):
    from tensorboard import default, program

    plugins = [p for p in default.get_static_plugins()] + [loader.CnnTbLoader()]
    tb = program.TensorBoard(plugins=plugins)
    tb.configure(argv=["tensorboard", "--logdir", "/tmp/x", *argv])
    return tb.flags


@pytest.mark.parametrize(
    "argv,expected",
    [
        ((), {"cnn_tb": 0}),
        (("--samples_per_plugin=images=3",), {"images": 3, "cnn_tb": 0}),
        (("--samples_per_plugin=cnn_tb=5,images=3",), {"images": 3, "cnn_tb": 5}),
        (("--samples_per_plugin=cnn_tb=0",), {"cnn_tb": 0}),
    ],
)
def test_fix_flags_keeps_all_epochs_unless_the_user_says_otherwise(argv, expected):
    assert _flags(*argv).samples_per_plugin == expected


def test_plugin_name_is_valid_and_matches_the_contract():
    import re

    from cnn_tb.contract import tags

    assert loader.PLUGIN_NAME == tags.PLUGIN_NAME
    assert re.match(r"^[A-Za-z0-9_-]+$", loader.PLUGIN_NAME)


def test_load_returns_the_plugin(tmp_path):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin

    from cnn_tb.plugin.plugin import CnnTbPlugin

    mux = plugin_event_multiplexer.EventMultiplexer()
    ctx = base_plugin.TBContext(logdir=str(tmp_path), data_provider=data_provider.MultiplexerDataProvider(mux, str(tmp_path)))
    plugin = loader.CnnTbLoader().load(ctx)
    assert isinstance(plugin, CnnTbPlugin)
    meta = plugin.frontend_metadata()
    assert meta.es_module_path == "/static/index.js"
    assert meta.es_module_path in plugin.get_plugin_apps()
    assert meta.tab_name == "CNN Flow"
