"""Fixtures shared by the tests of cnn_tb.render."""

import warnings

import pytest


@pytest.fixture
def no_warnings():
    """Turns every warning raised inside the test (numpy's included) into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
