"""Convolution kernels in one canonical layout, whatever the Keras layer.

Canonical layout: ``[kh, kw, c_in, c_out]`` float32, so one drawing routine
serves every supported layer:

==================  ===========================  ==============================
layer               Keras weight                 canonical
==================  ===========================  ==============================
Conv2D              kernel [kh, kw, in, out]     as is
Conv2DTranspose     kernel [kh, kw, out, in]     axes 2 and 3 swapped
DepthwiseConv2D     kernel [kh, kw, in, mult]    [kh, kw, 1, in * mult]
SeparableConv2D     depthwise_kernel (as above)  the depthwise part, as above
Conv1D / *1D        kernel [k, in, out]          [1, k, in, out]
Conv3D / *3D        --                           not supported yet (warning)
==================  ===========================  ==============================
"""

import keras
import numpy as np

from cnn_tb.model import backend


def _bases(layer):
    return {c.__name__ for c in type(layer).__mro__}


def is_conv(layer):
    """True for Keras convolution layers of any rank or flavour."""
    return bool(_bases(layer) & {"BaseConv", "BaseConvTranspose", "BaseDepthwiseConv", "BaseSeparableConv"})


def unsupported_reason(layer):
    """Why this conv layer's kernels are not drawn, or ``None`` when they are."""
    if not is_conv(layer):
        return None
    rank = getattr(layer, "rank", 2)
    if rank == 3:
        return f"{type(layer).__name__} (3-D kernels) is not supported yet"
    if not layer.built:
        return "the layer is not built"
    return None


def _weight(layer):
    bases = _bases(layer)
    if "BaseSeparableConv" in bases:
        return layer.depthwise_kernel
    return layer.kernel


def kernel_shape(layer):
    """The Keras shape of the layer's drawn kernel, or ``None``."""
    if not is_conv(layer) or unsupported_reason(layer):
        return None
    return tuple(int(d) for d in _weight(layer).shape)


def full_kernel(layer, frozen=None):
    """The layer's raw kernel weights (float32 numpy), for change tracking: an array
    of its own, never a view of the variable's memory (PyTorch's CPU tensors, JAX's
    arrays), since training goes on updating the variable.

    ``frozen``: the kernel's value as :func:`cnn_tb.model.backend.frozen` kept it
    (converted here, on any thread), instead of the layer's variable now."""
    value = _weight(layer) if frozen is None else frozen
    out = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float32)
    return out.copy() if out.base is not None or not out.flags.writeable else out


def canonical(layer, raw=None):
    """The kernel of ``layer`` as float32 ``[kh, kw, c_in, c_out]``.

    Args:
        layer: a supported conv layer.
        raw: its raw kernel if already read (see :func:`full_kernel`).

    Returns:
        float32 array, or ``None`` when the layer is unsupported.
    """
    if unsupported_reason(layer):
        return None
    w = full_kernel(layer) if raw is None else raw
    bases = _bases(layer)
    if w.ndim == 3:  # 1-D convolutions: [k, in, out]
        w = w[np.newaxis]
    if "BaseConvTranspose" in bases:
        return np.swapaxes(w, 2, 3)
    if "BaseDepthwiseConv" in bases or "BaseSeparableConv" in bases:
        kh, kw, cin, mult = w.shape
        return w.reshape(kh, kw, 1, cin * mult)
    return w


def relative_change(current, previous):
    """Relative L2 change ``||W - W_prev|| / ||W_prev||`` (``None`` without a previous)."""
    if previous is None or previous.shape != current.shape:
        return None
    denom = float(np.linalg.norm(previous))
    diff = float(np.linalg.norm(current - previous))
    if denom == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / denom


class KernelTracker:
    """Reads the kernels of some conv layers each step and how far they moved.

    Args:
        layers: ``{name: keras layer}`` of supported conv layers.
    """

    def __init__(self, layers):
        self.layers = dict(layers)
        self._previous = {}

    def reset(self):
        self._previous = {}

    def read(self):
        """``(canonical, change)``: ``{name: [kh, kw, c_in, c_out]}`` and
        ``{name: relative L2 change since the previous read, or None}``."""
        return self.changes(self.snapshot())

    def snapshot(self):
        """``{name: kernel}`` as the layers hold them now, kept on the device
        (:func:`cnn_tb.model.backend.frozen`: a read with TensorFlow, a copy
        elsewhere) on the thread that reads the model; :meth:`changes` takes
        them to numpy later, possibly elsewhere."""
        return {name: backend.frozen(_weight(layer)) for name, layer in self.layers.items()}

    def changes(self, frozen):
        """:meth:`read` of the kernels of a :meth:`snapshot` (snapshots in the order taken)."""
        canon, change = {}, {}
        for name, layer in self.layers.items():
            raw = full_kernel(layer, frozen[name])
            canon[name] = canonical(layer, raw)
            change[name] = relative_change(raw, self._previous.get(name))
            self._previous[name] = raw
        return canon, change
