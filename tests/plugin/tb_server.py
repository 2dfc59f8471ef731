"""A real ``tensorboard`` subprocess on 127.0.0.1 for tests."""

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


def entry_point_installed():
    from importlib.metadata import entry_points

    return any(e.name == "cnn_tb" for e in entry_points(group="tensorboard_plugins"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Used only when the entry point is not installed (a source checkout without
# `pip install .`): the same TensorBoard program with the loader added by hand.
_LAUNCHER = """
import sys
from tensorboard import default, program
from cnn_tb.plugin.loader import CnnTbLoader
tb = program.TensorBoard(plugins=default.get_plugins() + [CnnTbLoader()])
tb.configure(argv=["tensorboard"] + sys.argv[1:])
sys.exit(tb.main())
"""


def tensorboard_command():
    if not entry_point_installed():
        return [sys.executable, "-c", _LAUNCHER]
    exe = shutil.which("tensorboard")
    if exe:
        return [exe]
    return [sys.executable, "-m", "tensorboard.main"]


class TensorBoard:
    """``tensorboard --logdir D --host 127.0.0.1 --port P [extra]``.

    Args:
        logdir: the log directory.
        load_fast: "true" / "false" (the Rust data server or the Python loader).
        extra: more command-line flags.
        source_tree: put the repository first on PYTHONPATH so the plugin code
            under test is used even when an older copy is installed (the entry
            point itself comes from the installed package metadata).
    """

    def __init__(self, logdir, load_fast="false", extra=(), source_tree=True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        env["CUDA_VISIBLE_DEVICES"] = ""
        if source_tree:
            env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        else:
            env.pop("PYTHONPATH", None)
        cmd = tensorboard_command() + [
            "--logdir", logdir, "--host", "127.0.0.1", "--port", str(self.port),
            f"--load_fast={load_fast}", "--reload_interval=1",
        ] + list(extra)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            cwd=os.path.dirname(logdir.rstrip("/")) or "/",
        )
        self.output = []
        self._drain = threading.Thread(target=self._read_output, daemon=True)
        self._drain.start()

    def _read_output(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.output.append(line.decode("utf-8", "replace"))

    def log(self):
        return "".join(self.output)

    def get(self, path, timeout=10):
        """``(status, headers, body bytes)``; HTTP errors are returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _, body = self.get("/data/plugins_listing", timeout=2)
                if status == 200:
                    self.ready_after = time.monotonic() - self.started
                    return json.loads(body)
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"tensorboard not ready after {timeout}s:\n{self.log()}")

    def wait_for(self, path, predicate, timeout=60):
        """Poll ``path`` until ``predicate(status, body)``; returns the body."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            status, _, body = self.get(path)
            last = (status, body[:300])
            if predicate(status, body):
                return body
            time.sleep(0.3)
        raise TimeoutError(f"{path} never satisfied the condition; last: {last}\n{self.log()[-3000:]}")

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
