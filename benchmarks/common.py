"""Shared helpers of the benchmark suite: statistics, machine facts, processes."""

import json
import math
import os
import platform
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

# The TensorBoard subprocess helper is shared with the tests.
from tests.support.tb_server import (  # noqa: E402, F401 - re-exported for the benchmark modules
    TensorBoard,
    entry_point_installed,
    proc_status,
    subprocess_env,
    tree_pids,
)


def env(extra=None):
    """Environment of a benchmark subprocess: quiet TF, the repo and benchmarks/ first on PYTHONPATH."""
    e = subprocess_env(source_tree=True, extra=extra)
    e["PYTHONPATH"] = BENCH_DIR + os.pathsep + e["PYTHONPATH"]
    return e


def dir_bytes(path):
    """Bytes of every file below ``path`` (files that vanish while walking count 0)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def time_calls(call, repeats, warmup=3):
    """Seconds of ``repeats`` calls of ``call()`` after ``warmup`` untimed ones."""
    import time

    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def percentile(xs, q):
    """Linear-interpolated percentile (q in [0, 100])."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(xs):
    """``{n, median, p05, p95, min, max}`` of a list of numbers."""
    xs = [x for x in xs if x is not None]
    return {
        "n": len(xs),
        "median": median(xs),
        "p05": percentile(xs, 5),
        "p95": percentile(xs, 95),
        "min": min(xs) if xs else None,
        "max": max(xs) if xs else None,
    }


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def machine():
    """Date, CPU, cores and library versions, for the results header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    from importlib import metadata as md

    for dist in ("tensorflow-cpu", "tensorflow", "keras", "tensorboard", "tensorboard-data-server",
                 "numpy", "playwright", "cnn-tb"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    chromium = None
    exe = chromium_path()
    if exe:
        try:
            chromium = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    versions["chromium"] = chromium
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "load_average_at_start": load,
        "versions": versions,
    }


def chromium_path():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_worker(args, timeout, log_prefix=""):
    """Run ``python benchmarks/<args...>`` and return its last stdout line parsed as JSON."""
    cmd = [sys.executable] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{log_prefix} worker {args} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"{log_prefix} worker {args} printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])
