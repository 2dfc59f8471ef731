"""Entry point of the cnn_tb TensorBoard plugin.

TensorBoard imports this module at start-up, before it parses its flags. An
import error here would stop TensorBoard from starting at all, so this module
imports only the standard library and ``tensorboard.plugins.base_plugin``;
numpy and the plugin itself are imported in :meth:`CnnTbLoader.load`.
"""

from tensorboard.plugins import base_plugin

# Same value as ``cnn_tb.contract.tags.PLUGIN_NAME`` (kept here so TensorBoard starts without importing the package).
PLUGIN_NAME = "cnn_tb"


class CnnTbLoader(base_plugin.TBLoader):
    """Loads :class:`cnn_tb.plugin.plugin.CnnTbPlugin` and fixes its sampling.

    TensorBoard keeps only a random sample of the steps of each tag (10 blob
    steps by default). The flow view needs every logged epoch, so
    :meth:`fix_flags` makes ``--samples_per_plugin=cnn_tb=0`` (keep all) the
    default. A value the user passes explicitly still wins.
    """

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            samples = {}
            flags.samples_per_plugin = samples
        if isinstance(samples, dict):
            samples.setdefault(PLUGIN_NAME, 0)

    def load(self, context):
        from cnn_tb.plugin.plugin import CnnTbPlugin

        return CnnTbPlugin(context)
