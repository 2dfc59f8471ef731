"""cnn_tb.render._arrays: the array checks shared by the render modules."""

import numpy as np
import pytest

from cnn_tb.render import _arrays


@pytest.mark.parametrize(
    "dtype,expected",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int32, np.float64), (np.uint8, np.float64),
     (np.float16, np.float64)],
)
def test_float_array_keeps_float32_and_float64_and_widens_the_rest(dtype, expected):
    x = np.arange(6).reshape(2, 3).astype(dtype)
    out = _arrays.float_array(x, "x")
    assert out.dtype == expected
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))
    if dtype in (np.float32, np.float64):
        assert out is x  # no copy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_or_zero_keeps_the_dtype(dtype):
    x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0], dtype)
    out = _arrays.finite_or_zero(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [1.0, 0.0, 0.0, 0.0, 2.0])
    finite = np.ones(3, dtype)
    assert _arrays.finite_or_zero(finite) is finite
