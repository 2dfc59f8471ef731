"""What /epochs serves of a large run: every epoch light, a sample in full, /epoch for the rest
(cnn_tb.plugin.epochs and the routes over it, on synthetic runs written as event files)."""

import json
import os

import numpy as np
import pytest

from cnn_tb.contract import records, tags
from cnn_tb.plugin import epochs as epochs_lib
from tests.support import fixture_writer
from tests.support.plugin_client import make_client, url
from tests.support.tb_data import LogDir

RUN = "long/cnn_tb"
STEPS = tuple(range(-1, 59))  # 60 epoch records
BUDGET = 5 * 8  # 5 full epochs of the fixture net (6 statistics + 2 kernel changes each)


def even_sample(n, k):
    """numpy's view of "k epochs spread evenly, the first and the last included"."""
    return sorted(set(np.rint(np.linspace(0, n - 1, k)).astype(int).tolist()))


@pytest.mark.parametrize("n, per_epoch, budget, minimum, want", [
    (0, 8, 40, 2, []),
    (5, 8, 40, 2, [0, 1, 2, 3, 4]),        # 40 entries: complete
    (6, 8, 40, 2, even_sample(6, 5)),       # 48 > 40: 5 spread over 6
    (60, 8, 40, 2, even_sample(60, 5)),
    (60, 8, 40, 12, even_sample(60, 12)),   # the minimum wins over the budget
    (60, 100, 40, 1, [59]),                 # one full epoch: the last
    (1000, 229, 12_000, 40, even_sample(1000, 52)),   # ResNet50's 176 layers + 53 convs
    (1000, 14, 12_000, 40, even_sample(1000, 857)),   # the seed CNN
    (857, 14, 12_000, 40, list(range(857))),
    (1000, 600, 12_000, 40, even_sample(1000, 40)),   # 500 layers: the minimum
    (1, 8, 0, 1, [0]),                      # one epoch, no budget: still served
    (40, 1, 40, 2, list(range(40))),        # one entry an epoch
    (100, 1, 40, 2, even_sample(100, 40)),
    (100, 0, 40, 2, even_sample(100, 40)),  # no layer entries at all: counted as one
    (10, 8, 16, 2, [0, 9]),                 # room for two: the first and the last
])
def test_full_indices_spread_evenly_within_the_budget(n, per_epoch, budget, minimum, want):
    got = epochs_lib.full_indices(n, per_epoch, budget, minimum)
    assert got == want
    if n:
        assert got[-1] == n - 1 and (len(got) == 1 or got[0] == 0)


def test_partial_keeps_the_light_fields_only():
    rng = np.random.default_rng(0)
    layers = [fixture_writer._complete_layer(l) for l in fixture_writer.default_layers()]
    rec = records.parse_epoch_record(fixture_writer.epoch_record(layers, 3, 4, 3, [0, 1, 2, 0], rng), 3)
    light = epochs_lib.partial(rec)
    assert light["partial"] is True and light["layers"] is None and light["kernel_change"] is None
    assert [p["probs"] for p in light["predictions"]] == [None] * 4
    assert [(p["pred"], p["true"], p["top"]) for p in light["predictions"]] == [
        (p["pred"], p["true"], p["top"]) for p in rec["predictions"]]
    assert {k: light[k] for k in ("step", "epochs_completed", "wall_time", "logs", "nonfinite")} == {
        k: rec[k] for k in ("step", "epochs_completed", "wall_time", "logs", "nonfinite")}
    assert rec["layers"] and all(p["probs"] for p in rec["predictions"])  # the input is not changed
    assert epochs_lib.entries(rec) == 6 + 2


def test_served_json_keeps_the_sampled_epochs_whole_and_the_rest_light():
    rng = np.random.default_rng(1)
    layers = [fixture_writer._complete_layer(l) for l in fixture_writer.default_layers()]
    recs = [records.parse_epoch_record(fixture_writer.epoch_record(layers, s, 2, 3, [0, 1], rng), s) for s in range(12)]
    encoded = [epochs_lib.encode(r) for r in recs]
    pieces, full = epochs_lib.served_json(encoded, budget=8 * 3, minimum=2)
    got = [json.loads(p) for p in pieces]
    keep = even_sample(12, 3)
    assert full == 3 and [i for i, e in enumerate(got) if not e.get("partial")] == keep
    assert all(got[i] == recs[i] and pieces[i] == encoded[i][0] for i in keep)
    assert all(got[i] == epochs_lib.partial(recs[i]) for i in range(12) if i not in keep)
    assert encoded[0][2] == epochs_lib.entries(recs[0]) == 8
    pieces, full = epochs_lib.served_json(encoded, budget=8 * 3, minimum=5)  # the minimum is the caller's
    assert full == 5 and [i for i, p in enumerate(pieces) if b'"partial":true' not in p] == even_sample(12, 5)
    assert epochs_lib.served_json([], budget=10) == ([], 0)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("long"))
    desc = fixture_writer.write_run(os.path.join(root, RUN), steps=STEPS, n_probes=2, pack_files=True)
    return root, desc


def _served_from_event_file(root):
    log = LogDir(root)
    raw = log.tensors(RUN, tags.EPOCH_TAG, tags.PLUGIN_NAME)
    return {s: records.parse_epoch_record(records.decode_json(v), s) for s, v in raw.items()}


def test_a_small_run_is_served_whole(long_run):
    root, desc = long_run
    client = make_client(root)
    got = json.loads(client.get(url("epochs", run=RUN)).data)
    truth = _served_from_event_file(root)
    assert got["sampled"] is False and got["full_epochs"] == len(STEPS)
    assert got["steps"] == list(STEPS) and got["epochs"] == [truth[s] for s in STEPS]


def test_a_large_run_is_sampled_and_every_epoch_can_be_read_whole(long_run):
    root, desc = long_run
    client = make_client(root)
    client.plugin.reader.epochs_full_entries = BUDGET
    resp = client.get(url("epochs", run=RUN))
    got = json.loads(resp.data)
    truth = _served_from_event_file(root)
    full = [STEPS[i] for i in even_sample(len(STEPS), max(epochs_lib.MIN_FULL_EPOCHS, BUDGET // 8))]
    assert got["sampled"] is True and got["full_epochs"] == len(full) == epochs_lib.MIN_FULL_EPOCHS
    assert got["steps"] == list(STEPS)
    for step, served in zip(STEPS, got["epochs"]):
        if step in full:
            assert served == truth[step]
        else:
            assert served["partial"] is True and served["layers"] is None and served["kernel_change"] is None
            assert served["logs"] == truth[step]["logs"] and served["wall_time"] == truth[step]["wall_time"]
            assert [p["pred"] for p in served["predictions"]] == [p["pred"] for p in truth[step]["predictions"]]
            # /epoch serves the whole record of a partial epoch: the fixture's mean is 0.1 * step + 0.2
            whole = json.loads(client.get(url("epoch", run=RUN, step=step)).data)
            assert whole == truth[step]
            assert whole["layers"]["conv1"]["mean"] == pytest.approx(0.1 * step + 0.2, rel=1e-6)
    assert json.loads(client.get(url("epoch", run=RUN, step=STEPS[-1])).data) == truth[STEPS[-1]]
    missing = client.get(url("epoch", run=RUN, step=STEPS[-1] + 1))
    assert missing.status_code == 404 and f"no complete epoch record at step {STEPS[-1] + 1}".encode() in missing.data
