"""Which Keras backend is configured, and a clear error when it is not installed.

cnn_tb requires no TensorFlow distribution (see ``setup.py``): the backend is
the user's (``tensorflow``, ``tensorflow-cpu``, ``tensorflow[and-cuda]``, JAX or
PyTorch) or comes with an extra (``cnn_tb[cpu]``, ``[gpu]``, ``[jax]``,
``[torch]``). Without one, ``import keras`` fails with a bare
``No module named 'tensorflow'``; :func:`import_keras` says what to install.
"""

import json
import os

BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": None, "openvino": "openvino"}


class BackendMissingError(ImportError):
    """The Keras backend configured is not installed."""


def configured_backend():
    """``(backend, where)``: Keras' backend as Keras will choose it, and where it was set."""
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env, "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path, encoding="utf-8") as f:
            backend = json.load(f).get("backend")
        if isinstance(backend, str) and backend:
            return backend, path
    except (OSError, ValueError, AttributeError):
        pass
    return "tensorflow", "Keras' default"


def missing_backend_message(backend, where, missing):
    """The message of :class:`BackendMissingError`."""
    lines = [
        f"cnn_tb needs a Keras backend: Keras is set to use {backend!r} ({where}), "
        f"but importing it failed: no module named {missing!r}.",
        "Install one (a TensorFlow you already have is used as it is):",
        '  pip install "cnn_tb[cpu]"    # TensorFlow without CUDA',
        '  pip install "cnn_tb[gpu]"    # TensorFlow with NVIDIA CUDA (Linux)',
        '  pip install "cnn_tb[jax]"    # then KERAS_BACKEND=jax',
        '  pip install "cnn_tb[torch]"  # then KERAS_BACKEND=torch',
    ]
    if backend != "tensorflow":
        lines.append("or choose an installed backend with KERAS_BACKEND=tensorflow|jax|torch.")
    return "\n".join(lines)


def import_keras():
    """``import keras``; a missing backend is a :class:`BackendMissingError` saying what to install."""
    try:
        import keras
    except ModuleNotFoundError as e:
        backend, where = configured_backend()
        missing = (e.name or "").split(".")[0]
        if missing and missing in (BACKEND_MODULES.get(backend), "keras"):
            raise BackendMissingError(missing_backend_message(backend, where, missing)) from e
        raise
    return keras
