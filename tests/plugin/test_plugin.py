"""The routes of cnn_tb.plugin.plugin: the catch-all for bugs, the error statuses
TensorBoard's own errors map to, methods. Every request goes through
TensorBoardWSGI on real event files (the synthetic runs)."""

import logging

import pytest
from tensorboard import errors

from cnn_tb.plugin import plugin as plugin_module
from tests.support.plugin_client import P, make_client, url

RUN = "hostile/cnn_tb"

# (route, query, the FlowReader method the route calls)
ROUTES = [
    ("runs", {}, "runs_impl"),
    ("run", {"run": RUN}, "run_impl"),
    ("epochs", {"run": RUN}, "epochs_gzip_impl"),
    ("probe", {"run": RUN, "probe": 0}, "probe_impl"),
    ("activations", {"run": RUN, "probe": 0, "step": 0}, "activations_impl"),
    ("kernels", {"run": RUN, "step": 0}, "kernels_impl"),
]


@pytest.fixture
def client(synthetic_logdir):
    """A fresh plugin instance (its methods get patched) over the synthetic runs."""
    return make_client(synthetic_logdir[0])


def _raiser(exc, calls):
    def broken(*args, **kwargs):
        calls.append(args)
        raise exc

    return broken


@pytest.mark.parametrize("route,query,method", ROUTES, ids=[r[0] for r in ROUTES])
def test_a_bug_in_a_route_answers_503_with_a_message_and_logs_one_traceback(
    client, plugin_warnings, monkeypatch, route, query, method
):
    path = url(route, **query)
    assert client.get(path).status_code == 200  # the route works before the bug is planted
    seen = len(plugin_warnings())  # (/runs warns about the run with a newer format)
    calls = []
    monkeypatch.setattr(client.plugin.reader, method, _raiser(ZeroDivisionError("planted bug"), calls))
    message = f"cnn_tb: internal error in {P}/{route} (ZeroDivisionError); see the TensorBoard log"
    for _ in range(3):
        r = client.get(path)
        assert r.status_code == plugin_module.INTERNAL_ERROR_STATUS == 503
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.data.decode() == message
    assert client.head(path).status_code == 503
    assert len(calls) == 4  # the planted method really ran every time
    (warning,) = plugin_warnings()[seen:]  # one warning for 4 failures
    assert warning.getMessage() == f"cnn_tb: {P}/{route} failed: planted bug"
    assert warning.exc_info[0] is ZeroDivisionError
    text = logging.Formatter().format(warning)
    assert "Traceback (most recent call last)" in text
    assert "raise exc" in text and "ZeroDivisionError: planted bug" in text  # the frame that raised

    # another exception type on the same route: one more warning, named in the answer
    monkeypatch.setattr(client.plugin.reader, method, _raiser(KeyError("other"), calls))
    for _ in range(2):
        r = client.get(path)
        assert r.status_code == 503
        assert r.data.decode() == f"cnn_tb: internal error in {P}/{route} (KeyError); see the TensorBoard log"
    assert [w.exc_info[0] for w in plugin_warnings()[seen:]] == [ZeroDivisionError, KeyError]

    monkeypatch.undo()  # the bug fixed: the route answers again
    assert client.get(path).status_code == 200


def test_warnings_are_kept_apart_per_route(client, plugin_warnings, monkeypatch):
    calls = []
    for _, _, method in ROUTES:
        monkeypatch.setattr(client.plugin.reader, method, _raiser(RuntimeError("x"), calls))
    for _ in range(2):
        for route, query, _ in ROUTES:
            assert client.get(url(route, **query)).status_code == 503
    assert len(calls) == 2 * len(ROUTES)
    assert sorted(w.getMessage() for w in plugin_warnings() if w.exc_info) == sorted(
        f"cnn_tb: {P}/{route} failed: x" for route, _, _ in ROUTES
    )


@pytest.mark.parametrize(
    "exc,status,text",
    [
        (errors.InvalidArgumentError("bad thing"), 400, "Invalid argument: bad thing"),
        (errors.NotFoundError("no such thing"), 404, "Not found: no such thing"),
    ],
)
def test_tensorboard_errors_pass_through_with_their_status_and_no_warning(
    client, plugin_warnings, monkeypatch, exc, status, text
):
    calls = []
    monkeypatch.setattr(client.plugin.reader, "epochs_gzip_impl", _raiser(exc, calls))
    r = client.get(url("epochs", run=RUN))
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.data.decode() == text
    assert len(calls) == 1
    assert plugin_warnings() == []  # a user's bad request is not a bug


@pytest.mark.parametrize("route,query,method", ROUTES + [("static/index.js", {}, None)])
@pytest.mark.parametrize("verb", ["post", "put", "delete", "patch"])
def test_only_get_and_head_are_allowed(client, route, query, method, verb):
    r = getattr(client, verb)(url(route, **query))
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    assert r.data.decode() == "only GET is supported"


def test_routes_keep_their_handler_names(client):
    apps = client.plugin.get_plugin_apps()
    names = {route: app.__name__ for route, app in apps.items()}
    assert names["/epochs"] == "_serve_epochs" and names["/static/*"] == "_serve_static"
