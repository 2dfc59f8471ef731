"""tf.distribute: MirroredStrategy on 2 logical CPUs, and a 2-worker
MultiWorkerMirroredStrategy job on 127.0.0.1; keras.distribution on JAX:
DataParallel over 2 host devices, and over 2 jax.distributed processes on
127.0.0.1. Each in its own processes, since devices, TF_CONFIG and XLA_FLAGS
must be set before the framework starts."""

import glob
import os
import socket
import subprocess
import sys

import numpy as np

from cnn_tb.contract import tags
from tests.support.tb_data import LogDir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ENV = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _script(name):
    return os.path.join(HERE, "scripts", name)


def test_mirrored_strategy_logs_once_and_matches_single_device(tmp_path):
    mirrored, single = tmp_path / "mirrored", tmp_path / "single"
    proc = subprocess.run(
        [sys.executable, _script("mirrored.py"), str(mirrored), str(single)],
        capture_output=True, text=True, timeout=300, env=ENV,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
    assert len(glob.glob(str(mirrored / tags.RUN_NAME / "events*"))) == 1
    a, b = LogDir(str(mirrored)), LogDir(str(single))
    assert sorted(a.epochs()) == [-1, 0, 1] and sorted(b.epochs()) == [1]
    ea, eb = a.epochs()[1], b.epochs()[1]
    # the same layers, probes and arrays on both sides first: zip() would hide a missing one
    layers = ["c1", "bn", "act", "c2", "out"]
    assert sorted(ea["layers"]) == sorted(eb["layers"]) == sorted(layers)
    assert len(ea["predictions"]) == len(eb["predictions"]) == 3
    packs_a, packs_b = a.packs(1), b.packs(1)
    assert len(packs_a) == len(packs_b) == 3
    for layer, stats in ea["layers"].items():
        assert sorted(stats) == sorted(eb["layers"][layer]), layer
        for key in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(stats[key], eb["layers"][layer][key], rtol=1e-4, atol=1e-5)
    for pa, pb in zip(ea["predictions"], eb["predictions"]):
        assert (pa["true"], len(pa["probs"])) == (pb["true"], 4)
        np.testing.assert_allclose(pa["probs"], pb["probs"], atol=1e-5)
    for pack_a, pack_b in zip(packs_a, packs_b):
        assert sorted(pack_a) == sorted(pack_b)
        assert {n.rpartition("/")[0] for n in pack_a} == set(layers)
        for name in pack_a:
            assert pack_a[name][0].shape == pack_b[name][0].shape, name
            diff = np.abs(pack_a[name][0].astype(int) - pack_b[name][0].astype(int))
            assert diff.max() <= 1, name


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_only_the_chief_writes(tmp_path):
    p0, p1 = _free_ports(2)
    procs = [
        subprocess.Popen(
            [sys.executable, _script("multi_worker.py"), str(tmp_path), str(p0), str(p1), str(i)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )
        for i in (0, 1)
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)  # a deadlock would time out here
            outs.append(out)
            assert p.returncode == 0, err[-3000:]
    finally:
        for p in procs:
            p.kill()
    assert "WORKER 0 EPOCH 2 WRITTEN True" in outs[0]
    assert "WORKER 1 EPOCH 2 WRITTEN False" in outs[1] and "WORKER 1 DONE" in outs[1]
    # no forward pass on the non-chief worker; the chief runs one per logged step
    # (-1, 0, 1, 2). Both build the capture model at attach (that checks the model
    # on every worker) but only the chief ever calls it.
    assert "WORKER 0 CAPTURES BUILT 1 RUN 4" in outs[0], outs[0]
    assert "WORKER 1 CAPTURES BUILT 1 RUN 0" in outs[1], outs[1]
    files = [f for f in glob.glob(str(tmp_path / "**" / "*"), recursive=True) if os.path.isfile(f)]
    events = [f for f in files if "tfevents" in os.path.basename(f)]
    assert len(events) == 1 and f".{procs[0].pid}." in os.path.basename(events[0])
    assert all(f == events[0] or f.endswith(".packs") and f".{procs[0].pid}." in f for f in files)  # the chief's only
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 0, 1, 2]


def _compare_with_single(dist_dir, single_dir, layers):
    a, b = LogDir(str(dist_dir)), LogDir(str(single_dir))
    assert sorted(a.epochs()) == [-1, 0, 1] and sorted(b.epochs()) == [1]
    ea, eb = a.epochs()[1], b.epochs()[1]
    assert sorted(ea["layers"]) == sorted(eb["layers"]) == sorted(layers)
    for layer, stats in ea["layers"].items():
        for key in ("mean", "std", "min", "max"):
            np.testing.assert_allclose(stats[key], eb["layers"][layer][key], rtol=1e-4, atol=1e-5)
    assert len(ea["predictions"]) == len(eb["predictions"]) == 3
    for pa, pb in zip(ea["predictions"], eb["predictions"]):
        np.testing.assert_allclose(pa["probs"], pb["probs"], atol=1e-5)
    packs_a, packs_b = a.packs(1), b.packs(1)
    assert len(packs_a) == len(packs_b) == 3
    for pack_a, pack_b in zip(packs_a, packs_b):
        assert sorted(pack_a) == sorted(pack_b) and {n.rpartition("/")[0] for n in pack_a} == set(layers)
        for name in pack_a:
            diff = np.abs(pack_a[name][0].astype(int) - pack_b[name][0].astype(int))
            assert diff.max() <= 1, name


def _jax_env():
    from tests.support import ci

    import importlib.util

    ci.require(importlib.util.find_spec("jax") is not None, "JAX")
    env = dict(ENV, KERAS_BACKEND="jax")
    env.pop("XLA_FLAGS", None)
    return env


def test_keras_data_parallel_on_two_jax_devices_logs_once_and_matches_single_device(tmp_path):
    dist, single = tmp_path / "dist", tmp_path / "single"
    proc = subprocess.run(
        [sys.executable, _script("jax_distribution.py"), "local", str(dist), str(single)],
        capture_output=True, text=True, timeout=600, env=_jax_env(),
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
    assert "PROCESS 0 OF 1 PASSES 3" in proc.stdout  # steps -1, 0, 1: one forward pass each
    assert len(glob.glob(str(dist / tags.RUN_NAME / "events*"))) == 1
    _compare_with_single(dist, single, ["c1", "bn", "act", "c2", "out"])


def test_keras_data_parallel_over_two_jax_processes_only_process_0_writes(tmp_path):
    (port,) = _free_ports(1)
    env = _jax_env()
    procs = [
        subprocess.Popen([sys.executable, _script("jax_distribution.py"), "process", str(i), str(port), str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=600)
            assert p.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for p in procs:
            p.kill()
    assert "PROCESS 0 OF 2 PASSES 3" in outs[0], outs[0]
    assert "PROCESS 1 OF 2 PASSES 0" in outs[1], outs[1]  # no forward pass, nothing written
    files = [f for f in glob.glob(str(tmp_path / "**" / "*"), recursive=True) if os.path.isfile(f)]
    assert files and all(f".{procs[0].pid}." in f for f in files), files
    assert sorted(LogDir(str(tmp_path)).epochs()) == [-1, 0, 1]
