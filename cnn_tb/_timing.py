"""Timing a logged step's phases, and the background threads a step is finished on:
one for the steps of ``LayerLogger(background=True)``, one for pictures."""

import concurrent.futures
import time

_executor = []
_steps = []


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


def steps():
    """The thread steps are finished on (``LayerLogger(background=True)``), shared by
    every logger in the process, started lazily. Python waits for its queued
    steps before it exits, so a step handed to it is written even when nobody
    calls ``close``."""
    if not _steps:
        _steps.append(concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnn_tb-step"))
    return _steps[0]


def submit(executor, fn, *args):
    """``executor.submit(fn, *args)``; while Python exits (when no thread may start
    work any more) ``fn`` runs here, and a finished future is returned."""
    try:
        return executor.submit(fn, *args)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001 - raised by future.result(), as from a thread
            future.set_exception(e)
        return future


def timed(fn):
    """``(fn(), seconds it took)``."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
