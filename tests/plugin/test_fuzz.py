"""Property-based tests over every route's query parameters: 200 or 4xx with a
message, never a 500 or a stack trace."""

import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fixture_writer

P = "/data/plugin/cnn_tb"
ROUTES = ["runs", "run", "epochs", "probe", "activations", "kernels", "histograms", "pool", "pool_images", "pool_pack"]
PARAMS = ["run", "probe", "step", "layer", "kinds"]

VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from([
        "hostile/cnn_tb", "corrupt/cnn_tb", "interrupted/cnn_tb", "future_epoch/cnn_tb",
        "foreign/cnn_tb", "../../etc/passwd", "..%2f..%2f", "-1", "0", "1", "2", "1e9", "NaN",
        "conv1", fixture_writer.HOSTILE, "maps,mean", "maps,,", "", " ", "\u202e", "💥", "0x10",
        "pool_run/cnn_tb", "deep_run/cnn_tb", "nearest,margin", "examples", "input",
    ]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200),
)

QUERY = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=8)), VALUES), max_size=6)

SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(response):
    assert response.status_code in (200, 400, 404), (response.status_code, response.data[:200])
    if response.status_code != 200:
        text = response.data.decode("utf-8")
        assert response.headers["Content-Type"].startswith("text/plain")
        assert text and "Traceback" not in text


@SETTINGS
@given(route=st.sampled_from(ROUTES), query=QUERY)
def test_random_queries_never_fail(synthetic_client, route, query):
    qs = urllib.parse.urlencode(query)
    check(synthetic_client.get(f"{P}/{route}?{qs}"))


@SETTINGS
@given(
    route=st.sampled_from(["probe", "activations", "kernels", "histograms"]),
    run=st.sampled_from(["hostile/cnn_tb", "corrupt/cnn_tb", "interrupted/cnn_tb", "future_epoch/cnn_tb"]),
    probe=st.integers(min_value=-5, max_value=10**13),
    step=st.integers(min_value=-(10**13), max_value=10**13),
    layer=st.one_of(st.none(), st.sampled_from(["conv1", "add", "dense", fixture_writer.HOSTILE, "x"])),
)
def test_well_formed_queries_give_200_or_404(synthetic_client, route, run, probe, step, layer):
    params = {"run": run, "probe": probe, "step": step}
    if layer is not None:
        params["layer"] = layer
    check(synthetic_client.get(f"{P}/{route}?{urllib.parse.urlencode(params)}"))


@SETTINGS
@given(path=st.lists(st.sampled_from(list("./%2fe\\:abcindexjs_-~") + ["..", "%2e", "%00", "index.js", "style.css"]),
                     max_size=12).map("".join))
def test_random_static_paths_are_404_or_allowed(synthetic_client, path):
    from cnn_tb.plugin.plugin import STATIC_FILES

    r = synthetic_client.get(f"{P}/static/{path}")
    check(r)
    if r.status_code == 200:
        assert urllib.parse.unquote(path) in STATIC_FILES or path in STATIC_FILES


@SETTINGS
@given(route=st.sampled_from(["pool", "pool_images", "pool_pack"]), query=QUERY)
def test_random_queries_of_the_pool_routes_never_fail(pool_client, route, query):
    check(pool_client.get(f"{P}/{route}?{urllib.parse.urlencode(query)}"))


@SETTINGS
@given(
    route=st.sampled_from(["pool", "pool_images", "pool_pack"]),
    run=st.sampled_from(["pool_run/cnn_tb", "deep_run/cnn_tb", "x/cnn_tb"]),
    step=st.integers(min_value=-(10**13), max_value=10**13) | st.sampled_from([-1, 0, 1]),
    layer=st.one_of(st.none(), st.sampled_from(["input", "conv1", "gap", "predictions", fixture_writer.HOSTILE, "x"])),
    kinds=st.one_of(st.none(), st.sampled_from(["examples", "nearest,margin", "pred", "maps", ""])),
)
def test_well_formed_pool_queries_give_200_or_4xx(pool_client, route, run, step, layer, kinds):
    params = {"run": run, "step": step}
    params.update({k: v for k, v in (("layer", layer), ("kinds", kinds)) if v is not None})
    r = pool_client.get(f"{P}/{route}?{urllib.parse.urlencode(params)}")
    check(r)
    if r.status_code == 400:  # only a bad kind or a step of more than 12 digits
        assert kinds in ("maps", "") and route == "pool_pack" or len(str(abs(step))) > 12 and route != "pool"
