"""What /pool serves of a long run: every pool step light, a sample in full,
/pool_record for the rest (cnn_tb.plugin.pool_served and the routes over it,
on a real pool run's event file)."""

import json

import numpy as np
import pytest

from cnn_tb.contract import pool_records, records, tags
from cnn_tb.plugin import pool_served
from tests.support.plugin_client import P, make_client
from tests.support.tb_data import LogDir

RUN = "pool_run/cnn_tb"


def even_sample(n, k):
    return sorted(set(np.rint(np.linspace(0, n - 1, k)).astype(int).tolist()))


def _records_from_event_file(root):
    raw = LogDir(root).tensors(RUN, tags.POOL_TAG, tags.PLUGIN_NAME)
    return {s: pool_records.parse_pool_record(records.decode_json(v), s) for s, v in raw.items()}


def _record(layers=3, classes=4, pairs=2, examples=5, step=0):
    return {
        "step": step, "accuracy": 0.5, "session": 0, "file": f"pool/s/{step}.pool", "span": [0, 10], "version": 2,
        "class_separation": {f"l{i}": 0.1 * i for i in range(layers)},
        "confusion": [[1] * classes for _ in range(classes)],
        "confused_pairs": [{"true": 0, "pred": 1, "count": 3, "examples": list(range(examples))}] * pairs,
    }


def test_entries_count_every_number_of_the_heavy_fields():
    assert pool_served.entries(_record(layers=3, classes=4, pairs=2, examples=5)) == 3 + 16 + 2 * (3 + 5)
    assert pool_served.entries(_record(layers=15, classes=100, pairs=5, examples=6)) == 15 + 10_000 + 5 * 9
    assert pool_served.entries(dict(_record(), confusion=None, confused_pairs=[])) == 3  # > 100 classes
    rec = _record()
    light = pool_served.partial(rec)
    assert light["partial"] is True and all(light[k] is None for k in pool_served.HEAVY)
    assert {k: light[k] for k in ("step", "accuracy", "session", "file", "span", "version")} == {
        k: rec[k] for k in ("step", "accuracy", "session", "file", "span", "version")}
    assert rec["confusion"] and "partial" not in rec  # the input is not changed


@pytest.mark.parametrize("n, classes, budget, minimum, full", [
    (10, 4, 10**6, 40, 10),        # short: complete
    (1000, 10, 12_000, 40, None),  # 10 classes: budget // entries
    (1000, 100, 12_000, 40, 40),   # 100 classes: 10,000 cells a record, the minimum
    (60, 4, 3 * 47, 2, 3),     # 47 entries a record (15 layers, 16 cells, 2 pairs of 5)
])
def test_served_keeps_an_even_sample_whole(n, classes, budget, minimum, full):
    recs = [_record(layers=15, classes=classes, pairs=2, step=s) for s in range(n)]
    per = 15 + classes * classes + 2 * 8
    want = even_sample(n, min(n, full if full is not None else max(minimum, budget // per)))
    sessions = [s % 3 for s in range(n)]
    pieces, count = pool_served.served_json([pool_served.encode(r) for r in recs], sessions, budget, minimum)
    got = [json.loads(p) for p in pieces]
    assert count == len(want) and [i for i, r in enumerate(got) if not r.get("partial")] == want
    assert all(got[i] == dict(recs[i], session=sessions[i]) for i in want)
    assert all(got[i] == dict(pool_served.partial(recs[i]), session=sessions[i]) for i in range(n) if i not in want)
    assert pool_served.served_json([], []) == ([], 0)


def test_a_short_pool_is_served_whole(pool_client, pool_logdir):
    pool = json.loads(pool_client.get(f"{P}/pool?run={RUN}").data)
    truth = _records_from_event_file(pool_logdir[0])
    assert pool["sampled"] is False and pool["full_records"] == 3
    assert [{k: v for k, v in r.items() if k != "session"} for r in pool["records"]] == [truth[s] for s in (-1, 0, 1)]


def test_a_long_pool_is_sampled_and_every_pool_step_can_be_read_whole(pool_logdir):
    root = pool_logdir[0]
    client = make_client(root)
    client.plugin.reader.pool_full_entries = 1
    pool = json.loads(client.get(f"{P}/pool?run={RUN}").data)
    assert pool["full_records"] == 3 and pool["sampled"] is False  # the minimum (40 pool steps) keeps 3 whole
    client = make_client(root)
    client.plugin.reader.pool_full_entries = 1
    client.plugin.reader.pool_min_full = 2  # room for two: the first and the last
    pool = json.loads(client.get(f"{P}/pool?run={RUN}").data)
    truth = _records_from_event_file(root)
    assert pool["steps"] == [-1, 0, 1] and pool["sampled"] is True and pool["full_records"] == 2
    middle = pool["records"][1]
    assert middle["partial"] is True and all(middle[k] is None for k in pool_served.HEAVY)
    assert (middle["step"], middle["file"], middle["span"], middle["accuracy"]) == (
        0, truth[0]["file"], truth[0]["span"], truth[0]["accuracy"])
    for step in (-1, 1):
        rec = next(r for r in pool["records"] if r["step"] == step)
        assert "partial" not in rec and {k: v for k, v in rec.items() if k != "session"} == truth[step]
    whole = json.loads(client.get(f"{P}/pool_record?run={RUN}&step=0").data)
    assert {k: v for k, v in whole.items() if k != "session"} == truth[0] and whole["session"] == 0
    assert sum(map(sum, whole["confusion"])) == 60
    # the pack of a partial pool step is served as before
    assert client.get(f"{P}/pool_pack?run={RUN}&step=0&kinds=pred").status_code == 200


@pytest.mark.parametrize("query, status, message", [
    ("run=pool_run/cnn_tb&step=7", 404, "no pool step 7"),
    ("run=pool_run/cnn_tb", 400, "step"),
    ("run=pool_run/cnn_tb&step=x", 400, "step"),
    ("run=deep_run/cnn_tb&step=0", 404, "has no held-out pool"),
    ("run=nope/cnn_tb&step=0", 404, "nope"),
])
def test_pool_record_errors(pool_client, query, status, message):
    r = pool_client.get(f"{P}/pool_record?{query}")
    assert r.status_code == status and message in r.data.decode()
