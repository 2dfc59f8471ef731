"""Packs read from pack files (format 2): the index through the data provider, the
bytes from the run's directory; paths that leave the run, missing and truncated
files are 404s, never a file outside the log directory."""

import logging
import os
import zlib

import numpy as np
import pytest

from cnn_tb.contract import packs
from cnn_tb.plugin import log
from cnn_tb.plugin.pack_files import PackFiles
from tests.support import fixture_writer
from tests.support.plugin_client import make_client

P = "/data/plugin/cnn_tb"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("packfiles")
    fixture_writer.write_run(str(root / "v2" / "cnn_tb"), steps=(-1, 0, 1), pack_files=True)
    fixture_writer.write_run(str(root / "v1" / "cnn_tb"), steps=(-1, 0, 1))
    secret = root / "secret.packs"
    secret.write_bytes(b"x" * 100)
    fixture_writer.write_run(
        str(root / "hostile" / "cnn_tb"), steps=(-1, 0, 1, 2), pack_files=True,
        index_override={
            0: {"file": "../../secret.packs", "activations": [[0, 100]] * 3},
            1: {"activations": [[0, 10**9]] * 3},
            2: {"file": "packs/fixture/missing.packs"},
        },
    )
    return str(root)


def _streams(data):
    """The decompressed zlib streams stored one after the other in ``data``."""
    out = []
    while data:
        d = zlib.decompressobj()
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def test_format_2_packs_equal_what_was_written(logdir):
    client = make_client(logdir)
    run_dir = os.path.join(logdir, "v2", "cnn_tb")
    with open(os.path.join(run_dir, "packs", "fixture", "0.packs"), "rb") as f:
        *probes, kernels = _streams(f.read())
    assert len(probes) == 3
    for probe, raw in enumerate(probes):
        r = client.get(f"{P}/activations?run=v2/cnn_tb&probe={probe}&step=0")
        assert r.status_code == 200 and r.data == raw  # the stored pack, decompressed
    k = client.get(f"{P}/kernels?run=v2/cnn_tb&step=0")
    assert k.status_code == 200 and k.data == kernels
    assert any(n.endswith("/kernel") for n in packs.decode_raw(k.data))


def test_format_1_runs_are_still_read(logdir):
    client = make_client(logdir)
    for route in ("activations?run=v1/cnn_tb&probe=1&step=1", "kernels?run=v1/cnn_tb&step=0"):
        assert client.get(f"{P}/{route}").status_code == 200


@pytest.mark.parametrize("step, fragment", [(0, b"not found"), (1, b"truncated"), (2, b"cannot be read")])
def test_hostile_or_broken_index_records_are_404(logdir, step, fragment):
    client = make_client(logdir)
    r = client.get(f"{P}/activations?run=hostile/cnn_tb&probe=0&step={step}")
    assert r.status_code == 404, r.data
    assert fragment in r.data.lower() or b"no cnn_tb/activations" in r.data
    assert b"xxxx" not in r.data
    ok = client.get(f"{P}/activations?run=hostile/cnn_tb&probe=0&step=-1")
    assert ok.status_code == 200


def test_a_path_leaving_the_run_is_dropped_with_one_warning(logdir, caplog):
    client = make_client(logdir)
    log._warned.clear()
    with caplog.at_level(logging.WARNING, logger="cnn_tb.plugin"):
        for _ in range(3):
            assert client.get(f"{P}/activations?run=hostile/cnn_tb&probe=1&step=0").status_code == 404
    warnings = [r for r in caplog.records if "hostile/cnn_tb" in r.getMessage() and "cnn_tb/packs" in r.getMessage()]
    assert len(warnings) == 1


def test_run_directories_from_logdir_and_logdir_spec(tmp_path):
    assert PackFiles(str(tmp_path)).run_dir("a/cnn_tb") == os.path.join(str(tmp_path), "a", "cnn_tb")
    spec = PackFiles("", f"first:{tmp_path}/x,second:{tmp_path}/y")
    assert spec.run_dir("second/b/cnn_tb") == os.path.join(f"{tmp_path}/y", "b", "cnn_tb")
    assert spec.run_dir("third/b") is None
    assert PackFiles("gs://bucket/logs").run_dir("r/cnn_tb") == "gs://bucket/logs/r/cnn_tb"
    np.testing.assert_equal(PackFiles("").run_dir("r"), None)
