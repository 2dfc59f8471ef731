"""Garbage in the log directory: random bytes posing as event files, next to
real runs. The plugin serves the real runs and answers 404 for the rest."""

import os

import numpy as np

from tests.support import fixture_writer
from tests.support.plugin_client import make_client

P = "/data/plugin/cnn_tb"


def test_random_bytes_event_files_are_skipped(tmp_path):
    fixture_writer.write_run(str(tmp_path / "good" / "cnn_tb"), steps=(-1, 0, 1))
    rng = np.random.default_rng(7)
    for name in ("garbage", "good/cnn_tb"):
        d = tmp_path / name
        os.makedirs(d, exist_ok=True)
        (d / "events.out.tfevents.1.host.1.999999.cnn_tb").write_bytes(rng.bytes(5000))
    client = make_client(str(tmp_path))
    runs = {r["run"] for r in client.get(f"{P}/runs").get_json()}
    assert runs == {"good/cnn_tb"}
    assert client.get(f"{P}/epochs?run=good/cnn_tb").get_json()["steps"] == [-1, 0, 1]
    assert client.get(f"{P}/activations?run=good/cnn_tb&probe=0&step=1").status_code == 200
    assert client.get(f"{P}/epochs?run=garbage").status_code == 404
