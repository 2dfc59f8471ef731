"""Timing a logged step's phases, and the one background thread pictures are made on."""

import concurrent.futures
import time

_executor = []


class Clock:
    """Seconds spent in each phase of a step (``LayerLogger.last_timings``)."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.timings = {}

    def lap(self, name):
        now = time.perf_counter()
        self.timings[name] = now - self.last
        self.last = now

    def done(self):
        self.timings["total"] = time.perf_counter() - self.start
        return self.timings


def background():
    """One worker thread, shared by every logger in the process, started lazily."""
    if not _executor:
        _executor.append(concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnn_tb"))
    return _executor[0]


def timed(fn):
    """``(fn(), seconds it took)``."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
