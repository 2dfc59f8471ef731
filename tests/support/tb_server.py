"""A real ``tensorboard`` subprocess on 127.0.0.1, for tests and benchmarks."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}


def entry_point_installed():
    from importlib.metadata import entry_points

    return any(e.name == "cnn_tb" for e in entry_points(group="tensorboard_plugins"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(source_tree=True, extra=None):
    """Environment of a subprocess: quiet TensorFlow, no GPU, the repository
    first on PYTHONPATH (so the code under test is used even when an older
    copy is installed)."""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    if source_tree:
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    else:
        env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


# TensorBoard as `tensorboard` runs it (tensorboard/main.py), with the dynamic
# plugins chosen explicitly. argv[1] = "with" | "without" cnn_tb; with cnn_tb
# and no installed entry point (a source checkout), the loader is added by hand.
LAUNCHER = r"""
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


class TensorBoard:
    """``tensorboard --logdir D --host 127.0.0.1 --port P [extra]`` in a subprocess.

    Args:
        logdir: the log directory.
        load_fast: "true" / "false" (the Rust data server or the Python loader),
            or None for TensorBoard's default ("auto").
        with_cnn_tb: load the cnn_tb plugin.
        extra: more command-line flags.
        launcher: start TensorBoard through :data:`LAUNCHER` even when the
            ``tensorboard`` program and cnn_tb's entry point are installed
            (benchmarks compare runs with and without cnn_tb that way).
        source_tree: see :func:`subprocess_env`.
        reload_interval: ``--reload_interval`` seconds (None: TensorBoard's 5 s).
    """

    def __init__(
        self, logdir, load_fast="false", with_cnn_tb=True, extra=(), launcher=False, source_tree=True, reload_interval=1
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("tensorboard")
        if with_cnn_tb and not launcher and exe and entry_point_installed():
            cmd = [exe]
        else:
            cmd = [sys.executable, "-c", LAUNCHER, "with" if with_cnn_tb else "without"]
        cmd += ["--logdir", logdir, "--host", "127.0.0.1", "--port", str(self.port)]
        if load_fast is not None:
            cmd.append(f"--load_fast={load_fast}")
        if reload_interval is not None:
            cmd.append(f"--reload_interval={reload_interval}")
        cmd += list(extra)
        self.output = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=subprocess_env(source_tree), cwd="/"
        )
        self._drain = threading.Thread(target=self._read_output, daemon=True)
        self._drain.start()

    def _read_output(self):
        for line in iter(self.proc.stdout.readline, b""):
            if len(self.output) < 5000:
                self.output.append(line.decode("utf-8", "replace"))

    def log(self, tail=None):
        text = "".join(self.output)
        return text if tail is None else text[-tail:]

    def get(self, path, timeout=30):
        """``(status, headers, body bytes)``; HTTP errors are returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def timed_get(self, path):
        """``(status, body, seconds)``."""
        t0 = time.perf_counter()
        status, _, body = self.get(path)
        return status, body, time.perf_counter() - t0

    def wait_ready(self, timeout=120, poll=0.2):
        """Wait until ``/data/plugins_listing`` answers 200; returns the listing.

        ``self.ready_after`` is then the seconds from process start.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _, body = self.get("/data/plugins_listing", timeout=2)
                if status == 200:
                    self.ready_after = time.monotonic() - self.started
                    self.listing = json.loads(body)
                    return self.listing
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            time.sleep(poll)
        raise TimeoutError(f"tensorboard not ready after {timeout}s:\n{self.log()}")

    def wait_for(self, path, predicate, timeout=120, interval=0.3):
        """Poll ``path`` until ``predicate(status, body)``; returns the body.

        ``self.satisfied_after`` is then the seconds from process start.
        """
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                status, _, body = self.get(path, timeout=10)
                last = (status, body[:300])
                if predicate(status, body):
                    self.satisfied_after = time.monotonic() - self.started
                    return body
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError) as e:
                last = repr(e)
            time.sleep(interval)
        raise TimeoutError(f"{path} never satisfied the condition; last: {last}\n{self.log(3000)}")

    def peak_rss(self):
        """Sum over the server's process tree of VmHWM (peak RSS), in bytes."""
        return sum(proc_status(pid)["VmHWM"] or 0 for pid in tree_pids(self.proc.pid))

    def rss(self):
        """Sum over the server's process tree of VmRSS (resident now), in bytes."""
        return sum(proc_status(pid)["VmRSS"] or 0 for pid in tree_pids(self.proc.pid))

    def rss_by_process(self):
        """VmRSS in bytes of the server's tree split into ``{"python": ...,
        "data_server": ...}``: TensorBoard's Python process(es) and the Rust data
        server that ``--load_fast`` starts (absent without it)."""
        out = {}
        for pid in tree_pids(self.proc.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
            except OSError:
                continue
            # the data server: tensorboard_data_server/bin/server (pip), or a tensorboard-data-server binary
            data_server = "tensorboard_data_server" in argv0 or "data-server" in os.path.basename(argv0)
            key = "data_server" if data_server else "python"
            out[key] = out.get(key, 0) + (proc_status(pid)["VmRSS"] or 0)
        return out

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
