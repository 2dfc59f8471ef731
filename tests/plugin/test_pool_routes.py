"""The pool routes (/pool, /pool_images, /pool_pack) through TensorBoard's own WSGI
application over real event files: content equal to what the writer logged,
400 / 404 like the other routes, damaged files skipped."""

import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from cnn_tb.contract import packs, records, tags
from tests.support.plugin_client import P, make_client
from tests.support.tb_data import LogDir


@pytest.fixture(scope="module")
def pool(pool_client, pool_logdir):
    r = pool_client.get(f"{P}/pool?run=pool_run/cnn_tb")
    assert r.status_code == 200, r.data
    return json.loads(r.data)


def test_pool_lists_every_pool_step_with_its_session(pool, pool_logdir):
    root, info = pool_logdir
    assert pool["run"] == "pool_run/cnn_tb" and pool["steps"] == [-1, 0, 1]
    (session,) = pool["sessions"]
    assert session["step"] == -1 and session["count"] == 60 and session["labels"] == info["y"].tolist()
    assert session["class_names"][0] == info["names"][0]  # the hostile name, as data
    assert all(r["session"] == 0 for r in pool["records"])
    log = LogDir(root)
    for rec in pool["records"]:
        for layer, value in rec["class_separation"].items():
            scalar = log.scalars("pool_run/cnn_tb", f"class_separation/{layer}")[rec["step"]]
            assert value == records.opt_float(scalar)  # the record keeps 7 significant digits
        assert sum(map(sum, rec["confusion"])) == 60


def test_pool_images_are_the_sprite(pool_client, pool, pool_logdir):
    r = pool_client.get(f"{P}/pool_images?run=pool_run/cnn_tb&step=0")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"))
    sprite = pool["sessions"][0]["sprite"]
    assert img.shape == (sprite["columns"] * 16, sprite["columns"] * 16, 3)
    x = pool_logdir[1]["x"]
    np.testing.assert_array_equal(img[:16, 16:32], np.rint(x[1] * 255).astype(np.uint8))


def test_pool_pack_whole_and_filtered(pool_client, pool):
    r = pool_client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step=1")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
    whole = packs.decode_raw(r.data)
    layers = pool["sessions"][0]["layers"]
    assert {f"{layer}/{kind}" for layer in layers for kind in ("nearest", "margin")} <= set(whole)
    assert {"/pred", "/confidence", "conv1/examples", "conv3/examples"} <= set(whole)
    r = pool_client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step=1&layer=conv3&kinds=examples")
    part = packs.decode_raw(r.data)
    assert list(part) == ["conv3/examples"]
    np.testing.assert_array_equal(part["conv3/examples"][0], whole["conv3/examples"][0])
    header = json.loads(r.data[8 : 8 + int.from_bytes(r.data[4:8], "little")])
    assert header["step"] == 1
    r = pool_client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step=1&kinds=pred,confidence")
    assert set(packs.decode_raw(r.data)) == {"/pred", "/confidence"}


@pytest.mark.parametrize(
    "query,status,message",
    [
        ("pool", 400, "missing query parameter 'run'"),
        ("pool?run=nope", 404, "unknown run 'nope'"),
        ("pool?run=deep_run/cnn_tb", 404, "has no held-out pool"),
        ("pool_images?run=pool_run/cnn_tb", 400, "missing query parameter 'step'"),
        ("pool_images?run=pool_run/cnn_tb&step=x", 400, "must be an integer"),
        ("pool_images?run=pool_run/cnn_tb&step=7", 404, "no pool step 7"),
        ("pool_images?run=deep_run/cnn_tb&step=-1", 404, "has no held-out pool"),
        ("pool_pack?run=pool_run/cnn_tb&step=0&layer=nope", 404, "unknown layer 'nope' in the pool"),
        ("pool_pack?run=pool_run/cnn_tb&step=0&layer=gap&kinds=examples", 200, ""),
        ("pool_pack?run=pool_run/cnn_tb&step=0&kinds=maps", 400, "subset of nearest,margin,examples,pred,confidence"),
        ("pool_pack?run=pool_run/cnn_tb&step=0&step=1", 400, "given 2 times"),
        ("pool_pack?run=pool_run/cnn_tb&step=-5", 404, "no pool step -5"),
    ],
)
def test_errors_are_400_or_404_with_a_message(pool_client, query, status, message):
    r = pool_client.get(f"{P}/{query}")
    assert r.status_code == status, r.data
    if status != 200:
        assert r.headers["Content-Type"].startswith("text/plain") and message in r.data.decode()


def test_a_layer_filter_that_leaves_nothing_is_an_empty_pack(pool_client):
    r = pool_client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step=0&layer=gap&kinds=examples")
    assert packs.decode_raw(r.data) == {}  # a vector layer has no dataset examples


def test_damaged_pool_files_are_404_and_the_rest_is_served(pool_logdir, tmp_path):
    root = str(tmp_path / "damaged")
    shutil.copytree(pool_logdir[1]["log_dir"], os.path.join(root, "pool_run"))
    run_dir = os.path.join(root, "pool_run", "cnn_tb")
    client = make_client(root)
    pool = json.loads(client.get(f"{P}/pool?run=pool_run/cnn_tb").data)
    rec = pool["records"][1]
    path = os.path.join(run_dir, *rec["file"].split("/"))
    with open(path, "r+b") as f:
        f.write(b"garbage!")
    os.remove(os.path.join(run_dir, *pool["sessions"][0]["sprite"]["file"].split("/")))
    r = client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step={rec['step']}")
    assert r.status_code == 404 and "unreadable" in r.data.decode()
    assert client.get(f"{P}/pool_images?run=pool_run/cnn_tb&step=0").status_code == 404
    ok = client.get(f"{P}/pool_pack?run=pool_run/cnn_tb&step={pool['records'][2]['step']}")
    assert ok.status_code == 200 and packs.decode_raw(ok.data)
    assert client.get(f"{P}/epochs?run=pool_run/cnn_tb").status_code == 200


def test_a_pool_step_without_its_epoch_record_is_not_listed(tmp_path):
    """A step is complete only with its epoch record (written last, in the same
    event): a pool record without one is not served."""
    import cnn_tb
    from tests.support.pool_runs import join_compilations
    from tests.support.real_runs import tiny_model

    rng = np.random.default_rng(0)
    x, y = rng.random((12, 16, 16, 3), dtype=np.float32), np.arange(12) % 3
    logger = cnn_tb.LayerLogger(str(tmp_path / "cut"), x[:2], pool=(x, y)).attach(tiny_model(3, 16))
    assert logger.log(-1)
    real = logger._steps.writer.write
    logger._steps.writer.write = lambda step, values: real(step, [v for v in values if v.tag != tags.EPOCH_TAG])
    assert logger.log(0)
    logger.close()
    join_compilations()
    client = make_client(str(tmp_path))
    steps = LogDir(str(tmp_path)).tensors("cut/cnn_tb", tags.POOL_TAG, tags.PLUGIN_NAME)
    assert sorted(steps) == [-1, 0]  # the pool record of step 0 is there...
    pool = json.loads(client.get(f"{P}/pool?run=cut/cnn_tb").data)
    assert pool["steps"] == [-1]  # ...but not served
    assert client.get(f"{P}/pool_pack?run=cut/cnn_tb&step=0").status_code == 404


def test_pool_records_are_kept_as_bytes_sampled_and_encoded_again_once_evicted(pool, pool_logdir):
    """/pool of a long run: the heavy fields in full for a sample of the records
    (``partial`` elsewhere, with their session); /pool_record serves every one
    in full, also once the byte-bounded cache of encoded records evicted it."""
    from tensorboard import context

    from cnn_tb.plugin.cache import ByteLRU
    from tests.plugin.test_reader import _fresh_reader

    ctx = context.RequestContext()
    root, _ = pool_logdir
    reader, _, _ = _fresh_reader(root)
    reader.pool_full_entries, reader.pool_min_full = 1, 2  # two of the three records in full
    one = len(reader.pool_record_json_impl(ctx, "", "pool_run/cnn_tb", 0))
    reader._encoded = ByteLRU(one + 200)  # room for one record's full and partial JSON
    reader._derived = type(reader._derived)(512)
    got = reader.pool_impl(ctx, "", "pool_run/cnn_tb")
    assert got["steps"] == pool["steps"] == [-1, 0, 1] and got["sessions"] == pool["sessions"]
    assert got["full_records"] == 2 and got["sampled"] is True
    assert [r.get("partial", False) for r in got["records"]] == [False, True, False]
    middle = got["records"][1]
    assert middle["session"] == 0 and all(middle[k] is None for k in ("class_separation", "confusion", "confused_pairs"))
    assert {k: v for k, v in middle.items() if k != "partial"} == dict(
        pool["records"][1], class_separation=None, confusion=None, confused_pairs=None)
    assert len(reader._encoded) < 3
    for i, step in enumerate(got["steps"]):
        assert reader.pool_record_impl(ctx, "", "pool_run/cnn_tb", step) == pool["records"][i]
    memo = reader._pool_entry(ctx, "", "pool_run/cnn_tb")
    assert sorted(memo) == ["gzip", "sessions", "steps", "where"] and memo["where"] == {s: (memo["where"][s][0], 0) for s in (-1, 0, 1)}


def test_a_pool_step_the_last_listing_knows_is_served_without_listing_the_runs(pool, pool_logdir, monkeypatch):
    """/pool_record (and so /pool_images, /pool_pack) of a listed step asks the data
    provider for no listing; an unknown step is listed afresh, then refused."""
    from tensorboard import context, errors

    from tests.plugin.test_reader import _count_listings, _fresh_reader

    ctx = context.RequestContext()
    reader, _, provider = _fresh_reader(pool_logdir[0])
    assert reader.pool_impl(ctx, "", "pool_run/cnn_tb")["steps"] == [-1, 0, 1]
    calls = _count_listings(monkeypatch, provider)
    for i, step in enumerate(pool["steps"]):
        assert reader.pool_record_impl(ctx, "", "pool_run/cnn_tb", step) == pool["records"][i]
        assert reader._pool_step(ctx, "", "pool_run/cnn_tb", step)[1] == pool["sessions"][0]
    assert calls == []
    with pytest.raises(errors.NotFoundError, match="no pool step 5"):
        reader.pool_record_impl(ctx, "", "pool_run/cnn_tb", 5)
    assert len(calls) == 1
