"""A real TensorBoard process over a run with a held-out pool: its built-in
Projector lists the run's embeddings with their sprite and metadata, and the
CNN Flow pool routes answer with both loaders."""

import io
import json
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from cnn_tb.contract import packs
from tests.support import tb_server

PROJ = "/data/plugin/projector"


@pytest.mark.parametrize("load_fast", ["false", "true"])
def test_projector_and_pool_routes_in_a_real_tensorboard(pool_logdir, load_fast):
    root, info = pool_logdir
    run = info["run"]
    q = urllib.parse.quote
    with tb_server.TensorBoard(root, load_fast=load_fast) as tb:
        tb.wait_ready()
        tb.wait_for("/data/plugins_listing", lambda s, b: s == 200 and json.loads(b)["projector"]["enabled"])
        runs = json.loads(tb.wait_for(f"{PROJ}/runs", lambda s, b: s == 200 and run.encode() in b))
        assert run in runs and "deep_run/cnn_tb" not in runs  # only the run with a pool
        config = json.loads(tb.get(f"{PROJ}/info?run={q(run)}")[2])
        names = [e["tensorName"] for e in config["embeddings"]]
        assert names == ["dense @ epoch 2", "dense @ untrained"]  # the latest pool epoch and the untrained model
        embedding = config["embeddings"][0]
        assert [int(d) for d in embedding["tensorShape"]] == [60, 16]  # [pool size, width of `dense`]
        assert [int(d) for d in embedding["sprite"]["singleImageDim"]] == [16, 16]
        status, headers, body = tb.get(f"{PROJ}/sprite_image?run={q(run)}&name={q(names[0])}")
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(body)).size == (8 * 16, 8 * 16)  # 60 images, 8 columns
        status, _, body = tb.get(f"{PROJ}/tensor?run={q(run)}&name={q(names[0])}")
        tensor = np.frombuffer(body, np.float32).reshape(60, 16)
        want = info["logger"].pool_logger.capture.run(info["x"], info["y"]).features["dense"]
        np.testing.assert_allclose(tensor, want, rtol=2e-5, atol=1e-6)  # the last logged weights
        status, _, body = tb.get(f"{PROJ}/metadata?run={q(run)}&name={q(names[0])}")
        rows = body.decode().splitlines()
        assert rows[0] == "index\ttrue\tpredicted\tcorrect" and len(rows) == 61
        assert rows[1].split("\t")[1] == info["names"][info["y"][0]].replace("\t", " ")
        # the CNN Flow pool routes behind the same server
        pool = json.loads(tb.wait_for(f"/data/plugin/cnn_tb/pool?run={q(run)}", lambda s, b: s == 200 and b.count(b'"step"') >= 4))
        assert pool["steps"] == [-1, 0, 1]
        status, _, body = tb.get(f"/data/plugin/cnn_tb/pool_pack?run={q(run)}&step=1&layer=conv1&kinds=examples")
        assert status == 200 and list(packs.decode_raw(body)) == ["conv1/examples"]
        status, headers, _ = tb.get(f"/data/plugin/cnn_tb/pool_images?run={q(run)}&step=1")
        assert status == 200 and headers["Content-Type"] == "image/png"
        # the memory benchmarks' split: Python alone, or Python and the Rust data server
        by = tb.rss_by_process()
        assert set(by) == ({"python", "data_server"} if load_fast == "true" else {"python"})
        assert all(v > 1 << 20 for v in by.values()) and sum(by.values()) <= tb.rss() * 1.1
