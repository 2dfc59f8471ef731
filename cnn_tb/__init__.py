"""cnn_tb: see what every layer of a Keras CNN does to an image, epoch by epoch, in TensorBoard.

Example:
    >>> import cnn_tb
    >>> probes = cnn_tb.Probes(x_test[:8], labels=y_test[:8], class_names=CLASSES)
    >>> model.fit(x, y, epochs=20, callbacks=[
    ...     keras.callbacks.TensorBoard(log_dir),
    ...     cnn_tb.LayerFlow(log_dir, probes),
    ... ])

Importing this package is cheap: Keras and its backend are imported only when
one of the names below is first used (TensorBoard imports the plugin entry point, which
lives in this package, at start-up).
"""

__version__ = "0.1.0"

_LAZY = {
    "Probes": "cnn_tb.probes",
    "select_probes": "cnn_tb.probes",
    "LayerFlow": "cnn_tb.callbacks",
    "FeatureMaps": "cnn_tb.callbacks",
    "KernelGrids": "cnn_tb.callbacks",
    "ActivationStats": "cnn_tb.callbacks",
    "Heatmaps": "cnn_tb.callbacks",
    "LayerLogger": "cnn_tb.layer_logger",
    "log_layers": "cnn_tb.layer_logger",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        from cnn_tb._backend import import_keras

        import_keras()  # a missing backend: an error that says what to install

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnn_tb' has no attribute {name!r}")


def __dir__():
    return __all__
