"""Keras' three backends: a missing backend is a clear error; the same model,
weights and probes give the same logged values on TensorFlow, JAX and PyTorch
(JAX and PyTorch without TensorFlow in the process); the model-kind tests pass
on every backend."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from cnn_tb.contract import packs, records
from cnn_tb.contract.tags import RUN_NAME as RUN
from tests.support.tb_data import LogDir
from tests.support.tb_server import REPO

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "backend_values.py")
BACKENDS = ("tensorflow", "jax", "torch")


def _env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("XLA_FLAGS", None)
    return env


def _available(backend):
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("backend, blocked", [("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")])
def test_a_missing_backend_says_what_to_install(backend, blocked, tmp_path):
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "import cnn_tb\n"
        "try:\n    cnn_tb.LayerFlow\n"
        "except ImportError as e:\n    print(type(e).__name__); print(e)\n"
        "from cnn_tb.demo import cli\n"
        "print('RC', cli.main(['demo', '--epochs', '1', '--logdir', sys.argv[1]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "logs")], env=_env(backend),
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert out.startswith("BackendMissingError\n"), (out, proc.stderr[-2000:])
    assert f"Keras is set to use {backend!r} (KERAS_BACKEND)" in out and f"no module named {blocked!r}" in out
    for extra in ("cpu", "gpu", "jax", "torch"):
        assert f'pip install "cnn_tb[{extra}]"' in out
    assert "RC 2" in out and "error: cnn_tb needs a Keras backend" in proc.stderr
    assert not (tmp_path / "logs").exists()  # nothing trained, nothing written


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """``{backend: LogDir}``: one step of the script's model, same weights and probes."""
    import keras

    sys.path.insert(0, os.path.dirname(SCRIPT))
    try:
        from backend_values import build
    finally:
        sys.path.pop(0)
    root = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(3)
    model = build(keras)
    rng = np.random.default_rng(3)
    weights = [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.weights]
    for i, w in enumerate(model.weights):
        if "moving_variance" in w.path or "variance" in w.name:
            weights[i] = np.abs(weights[i]) + 0.5
    np.savez(root / "weights.npz", **{f"w{i}": w for i, w in enumerate(weights)})
    np.save(root / "probes.npy", rng.random((3, 16, 12, 3), dtype=np.float32))
    np.save(root / "pool.npy", rng.random((24, 16, 12, 3), dtype=np.float32))
    out = {}
    for backend in BACKENDS:
        if not _available(backend):
            continue
        log_dir = root / backend
        args = [sys.executable, SCRIPT, str(root / "weights.npz"), str(root / "probes.npy"), str(root / "pool.npy"),
                str(log_dir)]
        if backend != "tensorflow":
            args.append("--no-tensorflow")
        proc = subprocess.run(args, env=_env(backend), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        tf_loaded = "False" if backend != "tensorflow" else "True"
        assert f"BACKEND {backend} WRITTEN True TENSORFLOW {tf_loaded}" in proc.stdout, proc.stdout
        out[backend] = LogDir(str(log_dir))
    if set(out) != set(BACKENDS):
        from tests.support import ci

        ci.require(False, f"Keras backends {sorted(set(BACKENDS) - set(out))}")
    return out


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_pool_values_equal_the_tensorflow_backend(logged, backend):
    """The held-out pool's pass (on a snapshot of the weights, in keras.StatelessScope,
    compiled on TensorFlow and JAX) gives the same accuracy and class separation."""
    ref, got = logged["tensorflow"], logged[backend]
    tags_ = [t for t in ref.tags("scalars", "scalars")[RUN] if t.startswith("class_separation/")] + ["predictions/pool_accuracy"]
    assert len(tags_) >= 5
    for tag in tags_:
        assert got.scalars(RUN, tag)[0] == pytest.approx(ref.scalars(RUN, tag)[0], abs=1e-6), tag


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_values_equal_the_tensorflow_backend(logged, backend):
    ref, got = logged["tensorflow"], logged[backend]
    (r_epoch,), (g_epoch,) = ref.epochs().values(), got.epochs().values()
    r, g = records.parse_epoch_record(r_epoch, 0), records.parse_epoch_record(g_epoch, 0)
    assert sorted(g["layers"]) == sorted(r["layers"]) and len(r["layers"]) >= 10
    for layer, stats in r["layers"].items():
        for name, want in stats.items():
            have = g["layers"][layer][name]
            if name in ("zero_frac", "neg_frac", "dead_frac", "nonfinite"):
                assert have == pytest.approx(want, abs=0.02), (layer, name)  # values at 0 may fall either side
            else:
                assert have == pytest.approx(want, rel=1e-3, abs=1e-4), (layer, name)
    for rp, gp in zip(r["predictions"], g["predictions"]):
        assert gp["pred"] == rp["pred"]
        np.testing.assert_allclose(gp["probs"], rp["probs"], atol=1e-5)
    r_hist, g_hist = records.parse_epoch_histograms(r_epoch), records.parse_epoch_histograms(g_epoch)
    assert sorted(g_hist) == sorted(r_hist) and r_hist
    for layer, h in r_hist.items():
        np.testing.assert_allclose(g_hist[layer][:2], h[:2], rtol=1e-4, atol=1e-5)
        assert sum(g_hist[layer][2:]) == sum(h[2:])
        assert np.abs(np.subtract(g_hist[layer][2:], h[2:])).sum() <= 0.01 * sum(h[2:]) + 2
    r_packs, g_packs = ref.packs(0), got.packs(0)
    assert len(r_packs) == len(g_packs) == 3
    for rp, gp in zip(r_packs, g_packs):
        assert sorted(gp) == sorted(rp) and any(k.endswith("/gradcam") for k in rp)
        for name in rp:
            want, have = packs.value(rp, name), packs.value(gp, name)
            assert have.shape == want.shape, name
            entry = rp[name][1]
            step = float(np.max(np.subtract(entry["hi"], entry["lo"]))) / 255 if rp[name][0].dtype == np.uint8 else 0
            span = float(np.nanmax(want) - np.nanmin(want)) if want.size else 0.0
            # one quantization step apart (float error may round the other way), Grad-CAM a little more
            tol = step * 1.01 + 1e-5 + (0.02 * span if name.endswith("/gradcam") else 1e-4 * span)
            np.testing.assert_allclose(have, want, atol=tol, err_msg=name)
    (rk,), (gk,) = ref.packs(0, kernels=True), got.packs(0, kernels=True)
    assert sorted(gk) == sorted(rk)
    for name in rk:
        np.testing.assert_allclose(packs.value(gk, name), packs.value(rk, name), atol=1e-6, err_msg=name)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_model_kind_tests_pass_on(backend):
    """tests/e2e/test_model_kinds.py (Sequential, residual, nested, grayscale,
    non-square, logits, ...) under KERAS_BACKEND=jax / torch."""
    if not _available(backend):
        from tests.support import ci

        ci.require(False, f"the {backend} backend")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_model_kinds.py"],
        cwd=REPO, env=_env(backend), capture_output=True, text=True, timeout=900,
    )
    tail = proc.stdout[-3000:]
    assert proc.returncode == 0, tail + proc.stderr[-2000:]
    summary = tail.strip().splitlines()[-1]  # "9 passed, 547 warnings in 28.76s"
    assert re.fullmatch(r"=* ?\d+ passed(, \d+ warnings?)? in [\d.]+s.*", summary), summary  # no failed/skipped/error
