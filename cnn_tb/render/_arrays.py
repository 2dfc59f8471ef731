"""Array checks shared by the render modules (messages in the _validate style)."""

import numpy as np


def real_array(x, name):
    """``x`` as an ndarray of an integer or floating dtype (not bool)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must be a real numeric array. Received: an array of dtype {arr.dtype}")
    return arr


def float_array(x, name, ndim=None):
    """``x`` as a float array (float32 stays float32, others float64)."""
    arr = real_array(x, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions. Received: shape {arr.shape}")
    if arr.dtype in (np.float32, np.float64):
        return arr
    return arr.astype(np.float64)


def uint8_array(x, name, ndims):
    """``x`` as a non-empty uint8 ndarray with one of the ranks ``ndims``."""
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise ValueError(f"`{name}` must be a uint8 array. Received: dtype {arr.dtype}")
    if arr.ndim not in ndims:
        raise ValueError(
            f"`{name}` must have {' or '.join(map(str, ndims))} dimensions. Received: shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty. Received: shape {arr.shape}")
    return arr


def finite_or_zero(x):
    """``x`` with NaN and +-inf replaced by 0 (``x`` itself when all finite)."""
    finite = np.isfinite(x)
    if finite.all():
        return x
    return np.where(finite, x, 0).astype(x.dtype, copy=False)
