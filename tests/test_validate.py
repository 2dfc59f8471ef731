"""One message style for argument checks: what was expected, what was received."""

import numpy as np
import pytest

from cnn_tb import _validate


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: _validate.positive_int("n", 0), "`n` must be a positive int. Received: n=0"),
        (lambda: _validate.positive_int("n", True), "`n` must be a positive int. Received: n=True"),
        (lambda: _validate.positive_int("n", 2.0), "`n` must be a positive int. Received: n=2.0"),
        (lambda: _validate.positive_int("n", None), "`n` must be a positive int. Received: n=None"),
        (lambda: _validate.integer("k", -1, minimum=0), "`k` must be an int >= 0. Received: k=-1"),
        (lambda: _validate.integer("k", 300, 0, 255), "`k` must be an int >= 0 and <= 255. Received: k=300"),
        (lambda: _validate.boolean("b", 1), "`b` must be True or False. Received: b=1"),
        (lambda: _validate.number("a", 1.5, 0.0, 1.0), "`a` must be a number in [0.0, 1.0]. Received: a=1.5"),
        (lambda: _validate.number("a", float("nan")), "`a` must be a number. Received: a=nan"),
        (lambda: _validate.one_of("m", "x", ("a", "b")), "`m` must be one of ('a', 'b'). Received: m='x'"),
        (lambda: _validate.colormap("cmap", "nope"), "`cmap` is not a known matplotlib colormap. Received: cmap='nope'"),
        (lambda: _validate.colormap("cmap", 3), "`cmap` must be a matplotlib colormap name. Received: cmap=3"),
    ],
)
def test_messages(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


def test_accepted_values_come_back_normalised():
    assert _validate.positive_int("n", np.int64(3)) == 3 and type(_validate.positive_int("n", np.int64(3))) is int
    assert _validate.positive_int("n", None, allow_none=True) is None
    assert _validate.integer("k", 0, minimum=0) == 0
    assert _validate.boolean("b", np.bool_(True)) is True
    assert _validate.number("a", 1, 0, 1) == 1.0
    assert _validate.one_of("m", "a", ("a", "b")) == "a"
    assert _validate.colormap("cmap", "viridis") == "viridis"
