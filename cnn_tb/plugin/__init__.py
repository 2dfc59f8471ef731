"""The cnn_tb TensorBoard plugin ("CNN Flow" tab).

TensorBoard finds it through the ``tensorboard_plugins`` entry point
``cnn_tb = cnn_tb.plugin.loader:CnnTbLoader``. Importing this package is cheap
(no TensorFlow, no numpy): :mod:`cnn_tb.plugin.loader` is imported when
TensorBoard starts, the heavy modules only when the plugin is loaded.

The HTTP API is documented in ``API.md`` beside this file.
"""
