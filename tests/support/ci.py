"""What some tests need from the machine: Chromium with playwright, the installed
entry point. Under ``CI=true`` a missing one fails the test; elsewhere it skips.

Nothing here catches an exception: a requirement that is installed but broken
(an import error inside playwright, say) fails the test that uses it.
"""

import importlib.util
import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(available, what):
    """Skip the test when ``available`` is false, or fail it under ``CI=true``."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} missing under CI=true: this test must run in CI, not skip")
    pytest.skip(f"{what} not installed")


def chromium():
    """The Chromium executable when it and playwright (Python) are installed, else None."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None or importlib.util.find_spec("playwright") is None:
        return None
    return exe
