"""Installing cnn_tb leaves the user's TensorFlow as it is: pip's own resolver
(``pip install --dry-run --report``), offline, in environments holding each
TensorFlow distribution (``tensorflow``, ``tensorflow-cpu``,
``tensorflow[and-cuda]``) or none.

pip resolves from distribution metadata alone, so each environment is a folder
of ``*.dist-info`` metadata: the real metadata of the packages installed here
(keras, tensorboard, numpy, ...), and for TensorFlow's distributions the
metadata of the installed tensorflow-cpu under each distribution's name (the
GPU ``tensorflow`` and ``tensorflow-cpu`` declare the same requirements;
``[and-cuda]`` adds NVIDIA's CUDA packages, installed beside it). pip runs with
that folder as its whole view of what is installed (``python -S`` with the
folder and a copy of pip on ``PYTHONPATH``).
"""

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from tests.support.tb_server import REPO

TF_DISTS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel", "tensorflow-macos")
CUDA = ("nvidia-cublas-cu12", "nvidia-cudnn-cu12", "nvidia-cuda-runtime-cu12")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), REPO],
        check=True, capture_output=True, timeout=300,
    )
    (path,) = out.glob("cnn_tb-*.whl")
    return path


def _copy_metadata(dist, site, name=None, version=None):
    """The dist-info of installed ``dist`` in ``site`` (renamed to ``name`` if given)."""
    d = metadata.distribution(dist)
    name = name or d.metadata["Name"]
    version = version or d.version
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir()
    text = d.read_text("METADATA")
    lines = [
        f"Name: {name}" if line.startswith("Name:") else f"Version: {version}" if line.startswith("Version:") else line
        for line in text.splitlines()
    ]
    (folder / "METADATA").write_text("\n".join(lines) + "\n")
    (folder / "INSTALLER").write_text("pip\n")
    return folder


def _requirement_names(dist):
    from packaging.requirements import Requirement

    out = []
    for req in metadata.distribution(dist).requires or []:
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            out.append(r.name)
    return out


def _environment(root, tf_dist, and_cuda=False):
    """A folder of installed metadata: cnn_tb's dependencies (recursively) and ``tf_dist``."""
    site = root / "site"
    site.mkdir()
    shutil.copytree(os.path.dirname(os.path.dirname(os.path.abspath(__import__("pip").__file__))) + "/pip", root / "pip_pkg" / "pip")
    seen, todo = set(), ["keras", "tensorboard", "numpy", "scipy", "matplotlib", "pillow", "google-crc32c", "setuptools"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            _copy_metadata(name, site)
        except metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_names(name))
    if tf_dist:
        _copy_metadata("tensorflow-cpu", site, name=tf_dist)
        for dep in _requirement_names("tensorflow-cpu"):
            if dep.lower().replace("_", "-") not in seen:
                seen.add(dep.lower())
                try:
                    _copy_metadata(dep, site)
                except metadata.PackageNotFoundError:
                    pass
    if and_cuda:
        for name in CUDA:
            folder = site / f"{name.replace('-', '_')}-12.0.0.dist-info"
            folder.mkdir()
            (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 12.0.0\n")
    return site, root / "pip_pkg"


def _dry_run(site, pip_dir, target, tmp_path):
    report = tmp_path / "report.json"
    env = {"PYTHONPATH": f"{site}{os.pathsep}{pip_dir}", "PATH": os.environ.get("PATH", ""), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "pip", "install", "--dry-run", "--no-index", "--report", str(report), str(target)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    return proc, (json.loads(report.read_text()) if proc.returncode == 0 else None)


@pytest.mark.parametrize(
    "tf_dist, and_cuda",
    [(None, False), ("tensorflow", False), ("tensorflow-cpu", False), ("tensorflow", True)],
    ids=["no TensorFlow (JAX or PyTorch)", "tensorflow", "tensorflow-cpu", "tensorflow[and-cuda]"],
)
def test_installing_cnn_tb_adds_no_tensorflow(tmp_path, wheel, tf_dist, and_cuda):
    site, pip_dir = _environment(tmp_path, tf_dist, and_cuda)
    proc, report = _dry_run(site, pip_dir, wheel, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    installs = [item["metadata"]["name"] for item in report["install"]]
    assert installs == ["cnn_tb"] or installs == ["cnn-tb"], installs  # nothing else: every dependency is there
    requires = report["install"][0]["metadata"].get("requires_dist", [])
    assert not [r for r in requires if r.split(";")[0].split("[")[0].strip().lower() in TF_DISTS and "extra ==" not in r]


def test_the_check_catches_a_package_that_requires_tensorflow_cpu(tmp_path):
    """The old requirement (tensorflow-cpu on x86-64) in an environment holding the
    GPU tensorflow: pip wants a second TensorFlow (offline it cannot find one)."""
    site, pip_dir = _environment(tmp_path, "tensorflow")
    src = tmp_path / "old"
    (src / "old_pkg").mkdir(parents=True)
    (src / "old_pkg" / "__init__.py").write_text("")
    (src / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='old-pkg', version='1.0', packages=['old_pkg'],"
        " install_requires=['tensorflow-cpu>=2.16'])\n"
    )
    out = tmp_path / "w"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, timeout=300)
    proc, _ = _dry_run(site, pip_dir, next(out.glob("*.whl")), tmp_path)
    assert proc.returncode != 0 and "tensorflow-cpu" in proc.stderr


def test_extras_name_a_backend_each():
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in metadata.distribution("cnn_tb").requires or []]
    base = [r.name for r in reqs if r.marker is None]
    assert not [n for n in base if n in TF_DISTS]
    by_extra = {}
    for r in reqs:
        if r.marker is not None:
            for extra in ("cpu", "gpu", "jax", "torch"):
                if r.marker.evaluate({"extra": extra, "platform_machine": "x86_64"}):
                    by_extra.setdefault(extra, []).append(r.name)
    assert by_extra["cpu"] == ["tensorflow-cpu"] and by_extra["gpu"] == ["tensorflow"]
    assert by_extra["jax"] == ["jax"] and by_extra["torch"] == ["torch"]


def test_the_wheel_holds_every_module_and_static_file(wheel):
    """What ``pip install`` puts in site-packages: every module of the source tree
    (a folder without ``__init__.py`` would be left out) and the frontend."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    src = os.path.join(REPO, "cnn_tb")
    want = set()
    for folder, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith((".py", ".js", ".css")) or f == "API.md":
                want.add(os.path.relpath(os.path.join(folder, f), REPO).replace(os.sep, "/"))
    assert want - names == set()
    assert "cnn_tb/model/capture.py" in names and "cnn_tb/plugin/static/index.js" in names
