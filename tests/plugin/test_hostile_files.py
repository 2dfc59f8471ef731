"""Hostile things in the log directory, each beside a good run: the plugin serves
what is readable, answers 404 for the rest, never a 5xx, and warns exactly once per
run and tag about what it skips (README, "Reliability")."""

import collections
import os
import shutil

import numpy as np
import pytest

from cnn_tb.contract import tags
from tests.support import fixture_writer
from tests.support.plugin_client import P, make_client, url

GOOD, BAD = "good/cnn_tb", "bad/cnn_tb"
STEPS = (-1, 0, 1)
PLUGIN_TAGS = (tags.RUN_TAG, tags.EPOCH_TAG, tags.PROBES_TAG, tags.ACTIVATIONS_TAG, tags.KERNELS_TAG)


def _random_bytes(run_dir, name="events.out.tfevents.1.host.1.999999.cnn_tb", seed=7):
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, name), "wb") as f:
        f.write(np.random.default_rng(seed).bytes(5000))


def _run_then(after):
    """A writer of a run in which ``after(run_dir)`` then breaks something."""

    def write(run_dir):
        fixture_writer.write_run(run_dir, steps=STEPS)
        after(run_dir)

    return write


def _route_is(*routes):
    return lambda route, params: route in routes


def _with_layer(route, params):
    return route == "run" or "layer" in params  # both read the run record


ALL_STEPS = list(STEPS)
# (what, writer of BAD's directory, the tags of BAD warned about once each,
#  BAD's /epochs steps (None: BAD is not listed and every route but /runs is 404),
#  which requests of BAD are 404 (the others are 200))
CASES = [
    ("newer epoch records", lambda d: fixture_writer.write_run(d, steps=STEPS, epoch_version=99),
     [tags.EPOCH_TAG], [], None),
    ("newer run record", lambda d: fixture_writer.write_run(d, steps=STEPS, run_version=99),
     [tags.RUN_TAG], ALL_STEPS, _with_layer),
    ("newer plugin metadata", lambda d: fixture_writer.write_run(d, steps=STEPS, content_version=99),
     [tags.RUN_TAG, tags.EPOCH_TAG], None, None),
    ("other plugins' data under our tags", fixture_writer.write_foreign, [], None, None),
    ("foreign content under our plugin name", lambda d: fixture_writer.write_foreign(d, plugin_name=tags.PLUGIN_NAME),
     [tags.RUN_TAG, tags.EPOCH_TAG], None, None),
    ("corrupt packs", lambda d: fixture_writer.write_run(d, steps=STEPS, corrupt_activation_steps=(0, 1)),
     [tags.ACTIVATIONS_TAG], ALL_STEPS, lambda route, params: route == "activations" and params["step"] >= 0),
    ("truncated run record", lambda d: fixture_writer.write_run(d, steps=STEPS, truncated=[(tags.RUN_TAG, -1)]),
     [tags.RUN_TAG], ALL_STEPS, _with_layer),
    ("truncated epoch records",
     lambda d: fixture_writer.write_run(d, steps=STEPS, truncated=[(tags.EPOCH_TAG, 0), (tags.EPOCH_TAG, 1)]),
     [tags.EPOCH_TAG], [-1], None),
    ("truncated kernel packs", lambda d: fixture_writer.write_run(d, steps=STEPS, truncated=[(tags.KERNELS_TAG, 0)]),
     [tags.KERNELS_TAG], ALL_STEPS, lambda route, params: route == "kernels" and params["step"] == 0),
    ("non-PNG probe images",
     lambda d: fixture_writer.write_run(d, steps=STEPS, probe_images=[b"GIF89a" + bytes(40)] * 3),
     [tags.PROBES_TAG], ALL_STEPS, _route_is("probe")),
    ("random-bytes event file", _random_bytes, [], None, None),
    ("random bytes beside a run's event file", _run_then(_random_bytes), [], ALL_STEPS, None),
    # the cut falls in the last record, step 1's epoch record; its blobs came before it
    ("truncated event file (a killed writer)", _run_then(fixture_writer.truncate_last_event_file), [], [-1, 0], None),
]


def _requests(run):
    """``(route, params)`` of every route, probe, step and filter."""
    yield "run", {"run": run}
    yield "epochs", {"run": run}
    for probe in range(3):
        yield "probe", {"run": run, "probe": probe}
        for step in STEPS:
            yield "activations", {"run": run, "probe": probe, "step": step}
            yield "activations", {"run": run, "probe": probe, "step": step, "layer": "conv1", "kinds": "maps,mean"}
    for step in STEPS:
        yield "kernels", {"run": run, "step": step}
        yield "kernels", {"run": run, "step": step, "layer": "conv1"}


def _serve_everything(client, missing=lambda route, params: False):
    """Every route for both runs: the good run in full, of BAD exactly what is not
    ``missing`` (404 with a message for the rest), never a 5xx."""
    for route, params in _requests(GOOD):
        r = client.get(url(route, **params))
        assert r.status_code == 200, (route, params, r.data[:200])
    for route, params in _requests(BAD):
        r = client.get(url(route, **params))
        if missing(route, params):
            assert r.status_code == 404, (route, params, r.status_code, r.data[:200])
            assert r.headers["Content-Type"].startswith("text/plain") and r.data.startswith(b"Not found: ")
        else:
            assert r.status_code == 200, (route, params, r.status_code, r.data[:200])


def _warned_about(warnings):
    """``Counter((run, tag))`` of the plugin's warnings."""
    out = collections.Counter()
    for w in warnings:
        message = w.getMessage()
        runs = [run for run in (GOOD, BAD) if repr(run) in message]
        found = {t for t in PLUGIN_TAGS if t in message} or ({tags.PROBES_TAG} if "probe image" in message else set())
        assert len(runs) == 1 and len(found) == 1, message
        out[runs[0], found.pop()] += 1
    return out


@pytest.mark.parametrize("what,write,warned,steps,missing", CASES, ids=[c[0] for c in CASES])
def test_one_warning_per_run_and_tag_and_the_good_run_is_served(tmp_path, plugin_warnings, what, write, warned,
                                                                 steps, missing):
    fixture_writer.write_run(str(tmp_path / "good" / "cnn_tb"), steps=STEPS)
    write(str(tmp_path / "bad" / "cnn_tb"))
    client = make_client(str(tmp_path))
    for _ in range(3):  # every request three times: still one warning each
        _serve_everything(client, (lambda route, params: True) if steps is None else (missing or (lambda *a: False)))
        runs = {r["run"]: r for r in client.get(f"{P}/runs").get_json()}
        assert sorted(runs) == sorted([GOOD] + [BAD] * (steps is not None))
        assert runs[GOOD] == {"run": GOOD, "has_model": True, "last_step": 1,
                              "last_wall_time": runs[GOOD]["last_wall_time"]}
        if steps is not None:
            assert client.get(url("epochs", run=BAD)).get_json()["steps"] == steps
    assert _warned_about(plugin_warnings()) == {(BAD, tag): 1 for tag in warned}


def test_a_run_deleted_while_served_is_404_without_warnings(tmp_path, plugin_warnings):
    for name in ("good", "bad"):
        fixture_writer.write_run(str(tmp_path / name / "cnn_tb"), steps=STEPS)
    client = make_client(str(tmp_path))
    _serve_everything(client)
    shutil.rmtree(tmp_path / "bad")
    client.multiplexer.Reload()
    for _ in range(2):
        _serve_everything(client, lambda route, params: True)
        assert [r["run"] for r in client.get(f"{P}/runs").get_json()] == [GOOD]
    assert plugin_warnings() == []
