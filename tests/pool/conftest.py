"""Every test here ends after the background compilations it started: a tracing
thread still running when pytest imports its own modules at the end of the
session trips a CPython 3.11 bug (``SystemError: AST constructor recursion
depth mismatch``)."""

import pytest


@pytest.fixture(autouse=True)
def _join_background_compilations():
    yield
    from tests.support.pool_runs import join_compilations

    join_compilations()
