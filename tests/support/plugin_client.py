"""The cnn_tb plugin inside TensorBoard's own WSGI application, in-process."""

import urllib.parse

P = "/data/plugin/cnn_tb"


def url(route, **params):
    """The path of plugin route ``route`` with ``params`` as its query string."""
    return f"{P}/{route}?{urllib.parse.urlencode(params)}"


def make_client(logdir, samples=0):
    """A werkzeug test client over ``TensorBoardWSGI`` with the cnn_tb plugin.

    The data provider is TensorBoard's ``MultiplexerDataProvider`` over the
    real event files of ``logdir`` (``client.multiplexer.Reload()`` reads new
    ones); ``client.plugin`` is the plugin instance.
    """
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
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider, sampling_hints={"cnn_tb": samples})
    plugin = CnnTbPlugin(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    client = werkzeug_test.Client(app, wrappers.Response)
    client.plugin = plugin
    client.multiplexer = multiplexer
    return client
