"""Shared helpers of the benchmark suite: statistics, machine facts, processes."""

import json
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}


def env(extra=None, source_tree=True):
    """Environment of a benchmark subprocess: quiet TF, the repo first on PYTHONPATH."""
    e = dict(os.environ)
    e.update(QUIET_ENV)
    if source_tree:
        e["PYTHONPATH"] = REPO + os.pathsep + BENCH_DIR + os.pathsep + e.get("PYTHONPATH", "")
    e.update(extra or {})
    return e


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid="self"):
    """``{VmRSS, VmHWM}`` in bytes from /proc/<pid>/status (None when unreadable)."""
    out = {"VmRSS": None, "VmHWM": None}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in out:
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def tree_pids(pid):
    """``pid`` and all its descendants (from /proc), for servers that fork."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(parts[1]), []).append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def entry_point_installed():
    from importlib.metadata import entry_points

    return any(e.name == "cnn_tb" for e in entry_points(group="tensorboard_plugins"))


# TensorBoard as `tensorboard` runs it (tensorboard/main.py), with the
# dynamic plugins chosen explicitly. argv[1] = "with" | "without" cnn_tb.
TB_LAUNCHER = r"""
import sys
from importlib.metadata import entry_points
from tensorboard import default, program
mode = sys.argv[1]
dynamic = []
found = False
for ep in entry_points(group="tensorboard_plugins"):
    if ep.name == "cnn_tb":
        found = True
        if mode == "without":
            continue
    dynamic.append(ep.load())
if mode == "with" and not found:
    from cnn_tb.plugin.loader import CnnTbLoader
    dynamic.append(CnnTbLoader)
tb = program.TensorBoard(plugins=default.get_static_plugins() + dynamic)
tb.configure(argv=["tensorboard"] + sys.argv[2:])
sys.exit(tb.main())
"""


class TensorBoardServer:
    """A real TensorBoard subprocess on 127.0.0.1 (killed by :meth:`stop`).

    Args:
        logdir: the log directory.
        load_fast: "true" (Rust data server) / "false" (Python loader) /
            None (TensorBoard's default, "auto").
        with_cnn_tb: load the cnn_tb plugin (through its installed entry point,
            or explicitly when the entry point is not installed).
    """

    def __init__(self, logdir, load_fast="false", with_cnn_tb=True, extra=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", TB_LAUNCHER, "with" if with_cnn_tb else "without",
               "--logdir", logdir, "--host", "127.0.0.1", "--port", str(self.port)]
        if load_fast is not None:
            cmd.append(f"--load_fast={load_fast}")
        cmd += list(extra)
        self.output = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(), cwd="/")
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            if len(self.output) < 2000:
                self.output.append(line.decode("utf-8", "replace"))

    def log_tail(self, n=3000):
        return "".join(self.output)[-n:]

    def get(self, path, timeout=30):
        """``(status, body)``; HTTP errors are returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def timed_get(self, path):
        t0 = time.perf_counter()
        status, body = self.get(path)
        return status, body, time.perf_counter() - t0

    def wait_ready(self, timeout=120, poll=0.05):
        """Seconds from process start until /data/plugins_listing answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.get("/data/plugins_listing", timeout=2)
                if status == 200:
                    self.listing = json.loads(body)
                    return time.monotonic() - self.started
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            time.sleep(poll)
        raise TimeoutError(f"tensorboard not ready after {timeout}s:\n{self.log_tail()}")

    def wait_for(self, path, predicate, timeout=180, interval=0.1):
        """Seconds from process start until ``predicate(status, body)`` holds for ``path``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                status, body = self.get(path, timeout=10)
                last = (status, body[:200])
                if predicate(status, body):
                    return time.monotonic() - self.started
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
                last = repr(e)
            time.sleep(interval)
        raise TimeoutError(f"{path} never satisfied the condition; last: {last}\n{self.log_tail()}")

    def peak_rss(self):
        """Sum over the server's process tree of VmHWM (peak RSS), in bytes."""
        total = 0
        for pid in tree_pids(self.proc.pid):
            hwm = proc_status(pid)["VmHWM"]
            total += hwm or 0
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


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
