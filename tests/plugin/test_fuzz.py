"""Property-based tests over every route's query parameters.

An oracle (:func:`expected`) computes from the query alone, and from the
description of the synthetic runs (``synthetic_logdir``), the status the API
documents for it (``cnn_tb/plugin/API.md``): 400 for a missing, repeated, too
long, NUL-holding, empty or malformed parameter; 404 for an unknown run, probe,
step or layer and for unreadable data; 200 otherwise. Every response must have
exactly that status, the content type of its route (``text/plain`` with the
reason for an error), so a crash answered as a 404 (or a 503) fails here.
"""

import json
import os
import re
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from cnn_tb.contract import packs, tags
from cnn_tb.plugin.plugin import STATIC_DIR, STATIC_FILES
from tests.support import fixture_writer
from tests.support.plugin_client import P

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUTES = ["runs", "run", "epochs", "epoch", "probe", "activations", "kernels", "histograms", "feature_viz", "feature_viz_image"]
PARAMS = ["run", "probe", "step", "layer", "kinds"]
CONTENT_TYPES = {
    "runs": "application/json", "run": "application/json", "epochs": "application/json", "epoch": "application/json",
    "probe": "image/png", "activations": "application/octet-stream", "kernels": "application/octet-stream",
    "histograms": "application/json", "feature_viz": "application/json", "feature_viz_image": "image/png",
}
MAX_PARAM = 4096  # characters of one parameter (API.md, "Conventions")
INTEGER = re.compile(r"-?[0-9]{1,12}")  # decimal, optionally negative, at most 12 digits

VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from([
        "hostile/cnn_tb", "corrupt/cnn_tb", "interrupted/cnn_tb", "future_epoch/cnn_tb", "future_content/cnn_tb",
        "foreign/cnn_tb", "../../etc/passwd", "..%2f..%2f", "-1", "0", "1", "2", "3", "-0", "1e9", "NaN",
        "0\n", " 1", "+1", "1_0", "\u0663", "999999999999", "9999999999999", "-999999999999",
        "conv1", "input", "pool", "flatten", fixture_writer.HOSTILE, "maps,mean", "maps,,", ",", "gradcam_true",
        "maps,evil", "", " ", "\u202e", "💥", "0x10", "a" * MAX_PARAM, "a" * (MAX_PARAM + 1), "0\x00",
        "pool_run/cnn_tb", "deep_run/cnn_tb", "nearest,margin", "examples",
    ]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200),
)

QUERY = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=8)), VALUES), max_size=6)

# Failing examples are kept under tests/.hypothesis/ (git-ignored) and tried first next time.
SETTINGS = settings(max_examples=120, deadline=None,
                    database=DirectoryBasedExampleDatabase(os.path.join(TESTS_DIR, ".hypothesis", "examples")),
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------ the oracle


class _Bad(Exception):
    """The request is malformed: 400 with this message fragment."""


class _Missing(Exception):
    """Something requested does not exist or cannot be read: 404 with this fragment."""


def _one(query, name, required):
    values = [v for k, v in query if k == name]
    if not values:
        if required:
            raise _Bad(f"missing query parameter '{name}'")
        return None
    if len(values) > 1:
        raise _Bad(f"query parameter '{name}' given {len(values)} times")
    value = values[0]
    if len(value) > MAX_PARAM:
        raise _Bad(f"query parameter '{name}' is too long")
    if "\x00" in value:
        raise _Bad(f"query parameter '{name}' contains a NUL character")
    return value


def _string(query, name):
    value = _one(query, name, True)
    if value == "":
        raise _Bad(f"query parameter '{name}' is empty")
    return value


def _integer(query, name, minimum=None):
    value = _one(query, name, True)
    if not INTEGER.fullmatch(value):
        raise _Bad(f"query parameter '{name}' must be an integer")
    if minimum is not None and int(value) < minimum:
        raise _Bad(f"query parameter '{name}' must be >= {minimum}")
    return int(value)


def _kinds(query):
    value = _one(query, "kinds", False)
    if value is None:
        return None
    kinds = [k for k in value.split(",") if k]
    if not kinds or any(k not in packs.ACTIVATION_KINDS for k in kinds):
        raise _Bad("query parameter 'kinds' must be a comma-separated subset")
    return kinds


def readable_runs(info):
    """The runs the plugin can read, from the fixture's description: ``{run: description}``.

    Not readable: another plugin's data under our tags (``foreign``), and a run
    whose plugin metadata has a newer format version than this reader knows.
    """
    out = {}
    for name, desc in info.items():
        if "layers" not in desc:
            continue  # foreign data
        if desc["content_version"] is not None and desc["content_version"] > tags.FORMAT_VERSION:
            continue
        out[f"{name}/cnn_tb"] = desc
    return out


def _layer_arrays(layer, tag):
    """Does the fixture writer store arrays of ``layer`` under ``tag``?"""
    if tag == tags.KERNELS_TAG:
        return bool(layer.get("is_conv"))
    return layer["logged"] and layer["kind"] in ("map", "vector")


def _blob(desc, route, step, index, layer):
    tag = tags.ACTIVATIONS_TAG if route == "activations" else tags.KERNELS_TAG
    if step not in desc["steps"]:
        raise _Missing(f"no {tag} data for step {step}")
    if index >= (desc["n_probes"] if route == "activations" else 1):
        raise _Missing(f"no {tag} blob {index} at step {step}")
    if route == "activations" and step in desc["corrupt_activation_steps"]:
        raise _Missing("is unreadable (truncated or corrupt)")
    if layer is not None:
        by_name = {l["name"]: l for l in desc["layers"]}
        if layer not in by_name:
            raise _Missing(f"unknown layer {layer!r}")
        if not _layer_arrays(by_name[layer], tag):
            raise _Missing(f"layer {layer!r} has no {route[:-1]} data")


def _histograms(desc, layer):
    by_name = {l["name"]: l for l in desc["layers"]}
    if layer not in by_name:
        raise _Missing(f"unknown layer {layer!r}")
    if not _layer_arrays(by_name[layer], tags.ACTIVATIONS_TAG):  # histograms: the logged map and vector layers
        raise _Missing(f"layer {layer!r} of run")
    if not desc["epoch_steps"] or desc["epoch_version"] > tags.FORMAT_VERSION:
        raise _Missing("has no activation histograms")


def expected(route, query, runs):
    """``(status, message fragment or None)`` the API documents for ``query``."""
    if route == "runs":
        return 200, None
    try:
        run = _string(query, "run")
        probe = _integer(query, "probe", minimum=0) if route in ("probe", "activations") else None
        step = _integer(query, "step") if route in ("activations", "kernels", "feature_viz_image", "epoch") else None
        layer = _one(query, "layer", False) if route in ("activations", "kernels") else None
        if route in ("histograms", "feature_viz_image"):
            layer = _string(query, "layer")
        if route == "activations":
            _kinds(query)
    except _Bad as e:
        return 400, f"Invalid argument: {e}"
    try:
        desc = runs.get(run)
        if desc is None:
            raise _Missing(f"unknown run {run!r}")
        if route == "probe" and probe >= desc["n_probes"]:
            raise _Missing(f"unknown probe {probe}")
        if route == "activations":
            _blob(desc, route, step, probe, layer)
        if route == "kernels":
            _blob(desc, route, step, 0, layer)
        if route == "histograms":
            _histograms(desc, layer)
        if route == "epoch" and (step not in desc["epoch_steps"] or desc["epoch_version"] > tags.FORMAT_VERSION):
            raise _Missing(f"has no complete epoch record at step {step}")
        if route == "feature_viz_image":  # the fixture's runs have no feature visualizations
            raise _Missing(f"has no feature visualizations at step {step}")
    except _Missing as e:
        return 404, str(e)
    return 200, None


def check(response, route, query, runs):
    status, fragment = expected(route, query, runs)
    assert (response.status_code, response.headers["Content-Type"].split(";")[0]) == (
        status, CONTENT_TYPES[route] if status == 200 else "text/plain"
    ), (route, query, response.data[:300])
    if status != 200:
        text = response.data.decode("utf-8")
        prefix = "Invalid argument: " if status == 400 else "Not found: "
        assert text.startswith(prefix) and fragment.removeprefix(prefix) in text, (text, fragment)
        assert "Traceback" not in text


def get(client, route, query):
    return client.get(f"{P}/{route}?{urllib.parse.urlencode(query)}")


# -------------------------------------------------------------------- the tests


def test_the_oracle_knows_the_fixture(synthetic_client, synthetic_logdir):
    """The oracle's view of the synthetic runs, and hand-checked answers the server must give."""
    runs = readable_runs(synthetic_logdir[1])
    assert sorted(runs) == ["corrupt/cnn_tb", "future_epoch/cnn_tb", "hostile/cnn_tb", "interrupted/cnn_tb"]
    table = [
        ("run", [("run", "hostile/cnn_tb")], 200),
        ("run", [("run", "future_content/cnn_tb")], 404),
        ("run", [("run", "foreign/cnn_tb")], 404),
        ("probe", [("run", "hostile/cnn_tb"), ("probe", "2")], 200),
        ("probe", [("run", "hostile/cnn_tb"), ("probe", "3")], 404),
        ("probe", [("run", "hostile/cnn_tb"), ("probe", "-1")], 400),
        ("probe", [("run", "hostile/cnn_tb"), ("probe", "0\n")], 400),
        ("activations", [("run", "interrupted/cnn_tb"), ("probe", "0"), ("step", "1")], 200),
        ("activations", [("run", "corrupt/cnn_tb"), ("probe", "0"), ("step", "0")], 404),
        ("activations", [("run", "corrupt/cnn_tb"), ("probe", "0"), ("step", "1"), ("layer", "input")], 404),
        ("activations", [("run", "corrupt/cnn_tb"), ("probe", "0"), ("step", "1"), ("layer", "flatten")], 200),
        ("activations", [("run", "corrupt/cnn_tb"), ("probe", "0"), ("step", "1"), ("kinds", ",")], 400),
        ("activations", [("kinds", "maps,mean"), ("step", "2"), ("probe", "2"), ("run", "hostile/cnn_tb")], 200),
        ("kernels", [("run", "hostile/cnn_tb"), ("step", "2"), ("layer", fixture_writer.HOSTILE)], 200),
        ("kernels", [("run", "hostile/cnn_tb"), ("step", "2"), ("layer", "pool")], 404),
        ("kernels", [("run", "hostile/cnn_tb"), ("step", "2"), ("step", "2")], 400),
        ("histograms", [("run", "hostile/cnn_tb"), ("layer", "conv1")], 200),
        ("histograms", [("run", "hostile/cnn_tb"), ("layer", "input")], 404),
        ("histograms", [("run", "hostile/cnn_tb")], 400),
        ("feature_viz", [("run", "hostile/cnn_tb")], 200),
        ("feature_viz", [("run", "nope/cnn_tb")], 404),
        ("feature_viz_image", [("run", "hostile/cnn_tb"), ("step", "0"), ("layer", "conv1")], 404),
        ("feature_viz_image", [("run", "hostile/cnn_tb"), ("step", "x"), ("layer", "conv1")], 400),
        ("histograms", [("run", "future_epoch/cnn_tb"), ("layer", "conv1")], 404),
        ("epoch", [("run", "hostile/cnn_tb"), ("step", "2")], 200),
        ("epoch", [("run", "interrupted/cnn_tb"), ("step", "1")], 404),  # the step has no epoch record
        ("epoch", [("run", "future_epoch/cnn_tb"), ("step", "0")], 404),
        ("epoch", [("run", "hostile/cnn_tb"), ("step", "1.0")], 400),
        ("epoch", [("run", "hostile/cnn_tb")], 400),
    ]
    assert [expected(route, query, runs)[0] for route, query, _ in table] == [s for _, _, s in table]
    for route, query, _ in table:
        check(get(synthetic_client, route, query), route, query, runs)


@SETTINGS
@given(route=st.sampled_from(ROUTES), query=QUERY)
def test_random_queries_get_the_documented_status(synthetic_client, synthetic_logdir, route, query):
    check(get(synthetic_client, route, query), route, query, readable_runs(synthetic_logdir[1]))


@st.composite
def well_formed(draw, runs):
    """A route and a query of valid parameters, in any order: mostly things the run has,
    sometimes unknown runs, probes, steps and layers."""
    route = draw(st.sampled_from(["run", "epochs", "epoch", "probe", "activations", "kernels", "histograms",
                                  "feature_viz", "feature_viz_image"]))
    run = draw(st.sampled_from(sorted(runs) * 3 + ["future_content/cnn_tb", "foreign/cnn_tb", "nope/cnn_tb"]))
    desc = runs.get(run, runs["hostile/cnn_tb"])
    known = st.sampled_from([l["name"] for l in desc["layers"]])
    query = [("run", run)]
    if route in ("probe", "activations"):
        probe = draw(st.one_of(st.integers(0, desc["n_probes"] - 1), st.integers(0, 10**12 - 1)))
        query.append(("probe", str(probe)))
    if route == "histograms":
        query.append(("layer", draw(st.one_of(known, known, st.sampled_from(["x", "conv1", fixture_writer.HOSTILE])))))
    if route == "feature_viz_image":
        query.append(("step", str(draw(st.sampled_from(desc["steps"])))))
        query.append(("layer", draw(known)))
    if route == "epoch":
        query.append(("step", str(draw(st.one_of(st.sampled_from(desc["steps"]), st.integers(-(10**12) + 1, 10**12 - 1))))))
    if route in ("activations", "kernels"):
        step = draw(st.one_of(st.sampled_from(desc["steps"]), st.integers(-(10**12) + 1, 10**12 - 1)))
        query.append(("step", str(step)))
        layer = draw(st.one_of(st.none(), known, known, st.sampled_from(["x", "", "conv1", fixture_writer.HOSTILE])))
        if layer is not None:
            query.append(("layer", layer))
    if route == "activations" and draw(st.booleans()):
        kinds = draw(st.lists(st.sampled_from(packs.ACTIVATION_KINDS), min_size=1, max_size=3))
        query.append(("kinds", ",".join(kinds)))
    return route, draw(st.permutations(query))


@SETTINGS
@given(data=st.data())
def test_well_formed_queries_get_the_documented_status(synthetic_client, synthetic_logdir, data):
    runs = readable_runs(synthetic_logdir[1])
    route, query = data.draw(well_formed(runs))
    check(get(synthetic_client, route, query), route, query, runs)


@SETTINGS
@given(path=st.lists(st.sampled_from(list("./%2fe\\:abcindexjs_-~") + ["..", "%2e", "%00", "index.js", "style.css",
                                                                       "views/", "flow.js"]),
                     max_size=12).map("".join))
def test_random_static_paths_are_404_or_exactly_an_allowed_file(synthetic_client, path):
    r = synthetic_client.get(f"{P}/static/{path}")
    name = urllib.parse.unquote(path, errors="replace")
    if name in STATIC_FILES:
        assert r.status_code == 200, (path, r.data[:200])
        assert r.headers["Content-Type"].startswith(STATIC_FILES[name])
        with open(os.path.join(STATIC_DIR, *name.split("/")), "rb") as f:
            assert r.data == f.read()
    else:
        assert r.status_code == 404, (path, r.status_code, r.data[:200])
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.data in (b"Not found: not found", b"Not found")  # the plugin's, or TensorBoard's for "static/"


# ------------------------------------------------------------- the pool routes

POOL_CONTENT_TYPES = {"pool": "application/json", "pool_record": "application/json", "pool_images": "image/png",
                      "pool_pack": "application/octet-stream"}


def check_pool(response, route):
    """200 with the route's content type, or 400 / 404 with a message (never a crash)."""
    kind = response.headers["Content-Type"].split(";")[0]
    assert response.status_code in (200, 400, 404), (route, response.status_code, response.data[:300])
    if response.status_code == 200:
        assert kind == POOL_CONTENT_TYPES[route], (route, kind)
        return
    text = response.data.decode("utf-8")
    assert kind == "text/plain" and text.startswith("Invalid argument: " if response.status_code == 400 else "Not found: ")
    assert "Traceback" not in text


@SETTINGS
@given(route=st.sampled_from(["pool", "pool_record", "pool_images", "pool_pack"]), query=QUERY)
def test_random_queries_of_the_pool_routes_never_fail(pool_client, route, query):
    check_pool(get(pool_client, route, query), route)


@SETTINGS
@given(
    route=st.sampled_from(["pool", "pool_record", "pool_images", "pool_pack"]),
    run=st.sampled_from(["pool_run/cnn_tb", "deep_run/cnn_tb", "x/cnn_tb"]),
    step=st.integers(min_value=-(10**13), max_value=10**13) | st.sampled_from([-1, 0, 1]),
    layer=st.one_of(st.none(), st.sampled_from(["input", "conv1", "gap", "predictions", fixture_writer.HOSTILE, "x"])),
    kinds=st.one_of(st.none(), st.sampled_from(["examples", "nearest,margin", "pred", "maps", ""])),
)
def test_well_formed_pool_queries_give_200_or_4xx(pool_client, route, run, step, layer, kinds):
    params = {"run": run, "step": step}
    params.update({k: v for k, v in (("layer", layer), ("kinds", kinds)) if v is not None})
    r = pool_client.get(f"{P}/{route}?{urllib.parse.urlencode(params)}")
    check_pool(r, route)
    if r.status_code == 400:  # only a bad kind or a step of more than 12 digits
        assert kinds in ("maps", "") and route == "pool_pack" or len(str(abs(step))) > 12 and route != "pool"
    if route == "pool_record" and len(str(abs(step))) <= 12:  # the oracle: the pool steps of the fixture run
        known = run == "pool_run/cnn_tb" and step in (-1, 0, 1)
        assert r.status_code == (200 if known else 404)
        if known:
            assert json.loads(r.data)["step"] == step
