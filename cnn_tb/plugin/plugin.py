"""The "CNN Flow" TensorBoard plugin: thin HTTP routes over :mod:`flow_data`.

Every route parses and validates its query string, calls one ``*_impl``
function of :class:`cnn_tb.plugin.flow_data.FlowReader`, and responds.
Malformed parameters give 400, unknown runs/probes/steps/layers and
unreadable data give 404, both with a plain-text message; no request ends in
a 500. The API is documented in ``API.md`` beside this file.
"""

import importlib.util
import logging
import os
import re

from tensorboard import errors as tb_errors
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from cnn_tb import metadata
from cnn_tb.plugin import flow_data

logger = logging.getLogger("cnn_tb.plugin")

# The frontend files served under /static/; nothing else is ever read.
STATIC_FILES = {
    "index.js": "text/javascript",
    "app.js": "text/javascript",
    "run_loader.js": "text/javascript",
    "toolbar.js": "text/javascript",
    "epoch_player.js": "text/javascript",
    "probe_strip.js": "text/javascript",
    "flow_view.js": "text/javascript",
    "skip_arcs.js": "text/javascript",
    "detail_panel.js": "text/javascript",
    "compare_view.js": "text/javascript",
    "filters_view.js": "text/javascript",
    "model.js": "text/javascript",
    "views.js": "text/javascript",
    "draw.js": "text/javascript",
    "colormaps.js": "text/javascript",
    "style.css": "text/css",
}

_INT_RE = re.compile(r"^-?[0-9]{1,12}$")
_MAX_PARAM = 4096


def frontend_dir():
    """Directory of the frontend files, installed or in the source tree."""
    try:
        spec = importlib.util.find_spec("cnn_tb.plugin_frontend")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if os.path.isfile(os.path.join(loc, "index.js")):
                return loc
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(os.path.dirname(here), "plugin_frontend"),  # installed layout
        os.path.join(os.path.dirname(os.path.dirname(here)), "plugin_frontend"),  # source tree
    ):
        if os.path.isfile(os.path.join(candidate, "index.js")):
            return candidate
    return None


class _Params:
    """Validated access to a request's query parameters (raises BadRequest)."""

    def __init__(self, request):
        self._args = request.args

    def _one(self, name, required):
        values = self._args.getlist(name)
        if not values:
            if required:
                raise flow_data.BadRequest(f"missing query parameter '{name}'")
            return None
        if len(values) > 1:
            raise flow_data.BadRequest(f"query parameter '{name}' given {len(values)} times; give it once")
        value = values[0]
        if len(value) > _MAX_PARAM:
            raise flow_data.BadRequest(f"query parameter '{name}' is too long ({len(value)} characters)")
        if "\x00" in value:
            raise flow_data.BadRequest(f"query parameter '{name}' contains a NUL character")
        return value

    def string(self, name, required=True):
        value = self._one(name, required)
        if value is not None and required and value == "":
            raise flow_data.BadRequest(f"query parameter '{name}' is empty")
        return value

    def integer(self, name, required=True, minimum=None):
        value = self._one(name, required)
        if value is None:
            return None
        if not _INT_RE.match(value):
            raise flow_data.BadRequest(f"query parameter '{name}' must be an integer; received {value[:40]!r}")
        number = int(value)
        if minimum is not None and number < minimum:
            raise flow_data.BadRequest(f"query parameter '{name}' must be >= {minimum}; received {number}")
        return number

    def kinds(self, name):
        value = self._one(name, False)
        if value is None:
            return None
        kinds = [k for k in value.split(",") if k]
        bad = [k for k in kinds if k not in flow_data.ACTIVATION_KINDS]
        if bad or not kinds:
            raise flow_data.BadRequest(
                f"query parameter '{name}' must be a comma-separated subset of "
                f"{','.join(flow_data.ACTIVATION_KINDS)}; received {value[:60]!r}"
            )
        return set(kinds)


def _text(request, message, code):
    return http_util.Respond(request, message, "text/plain", code=code)


def _route(handler):
    """Wraps a handler ``(self, request, params) -> response`` with error mapping."""

    @wrappers.Request.application
    def wrapper(self, request):
        if request.method not in ("GET", "HEAD"):
            return http_util.Respond(
                request, "only GET is supported", "text/plain", code=405, headers=[("Allow", "GET, HEAD")]
            )
        try:
            return handler(self, request, _Params(request))
        except flow_data.BadRequest as e:
            return _text(request, str(e), 400)
        except flow_data.NotFound as e:
            return _text(request, str(e), 404)
        except tb_errors.PublicError as e:
            return _text(request, str(e), flow_data.public_error_status(e))
        except metadata.FormatError as e:
            flow_data.warn_once(("format", request.path), "cnn_tb: unreadable data for %s: %s", request.path, e)
            return _text(request, f"unreadable data: {e}", 404)
        except Exception as e:  # noqa: BLE001 - a request must never end in a 500
            flow_data.warn_once(("error", request.path, type(e).__name__), "cnn_tb: %s failed", request.path, exc_info=True)
            return _text(request, f"data unavailable ({type(e).__name__})", 404)

    wrapper.__name__ = handler.__name__
    return wrapper


class CnnTbPlugin(base_plugin.TBPlugin):
    """Serves the flow view: runs, model graph, epochs, probes, activations, kernels."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        hints = context.sampling_hints or {}
        self._reader = flow_data.FlowReader(
            context.data_provider, downsample=hints.get(self.plugin_name, 0)
        )
        self._static_dir = frontend_dir()

    @property
    def reader(self):
        return self._reader

    def get_plugin_apps(self):
        return {
            "/static/index.js": self._serve_static,  # the entry module, listed explicitly
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/run": self._serve_run,
            "/epochs": self._serve_epochs,
            "/probe": self._serve_probe,
            "/activations": self._serve_activations,
            "/kernels": self._serve_kernels,
        }

    def is_active(self):
        return False  # the data provider's list_plugins() decides

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/static/index.js", tab_name="CNN Flow"
        )

    # ---- static files --------------------------------------------------

    @_route
    def _serve_static(self, request, params):
        prefix = "/static/"
        path = request.path
        marker = path.rfind("/data/plugin/" + self.plugin_name + prefix)
        name = path[marker + len("/data/plugin/" + self.plugin_name + prefix):] if marker >= 0 else ""
        if name not in STATIC_FILES or self._static_dir is None:
            return _text(request, "not found", 404)
        with open(os.path.join(self._static_dir, name), "rb") as f:
            content = f.read()
        return http_util.Respond(request, content, STATIC_FILES[name])

    # ---- data routes ---------------------------------------------------

    @staticmethod
    def _ids(request):
        from tensorboard import plugin_util

        return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)

    @_route
    def _serve_runs(self, request, params):
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.runs_impl(ctx, eid), "application/json")

    @_route
    def _serve_run(self, request, params):
        run = params.string("run")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.run_impl(ctx, eid, run), "application/json")

    @_route
    def _serve_epochs(self, request, params):
        run = params.string("run")
        ctx, eid = self._ids(request)
        # Built and compressed once per new epoch; Respond un-gzips it for
        # clients that do not accept gzip.
        data = self._reader.epochs_gzip_impl(ctx, eid, run)
        return http_util.Respond(request, data, "application/json", content_encoding="gzip")

    @_route
    def _serve_probe(self, request, params):
        run = params.string("run")
        probe = params.integer("probe", minimum=0)
        ctx, eid = self._ids(request)
        png = self._reader.probe_impl(ctx, eid, run, probe)
        return http_util.Respond(request, png, "image/png", expires=60)

    @_route
    def _serve_activations(self, request, params):
        run = params.string("run")
        probe = params.integer("probe", minimum=0)
        step = params.integer("step")
        layer = params.string("layer", required=False)
        kinds = params.kinds("kinds")
        ctx, eid = self._ids(request)
        data = self._reader.activations_impl(ctx, eid, run, probe, step, layer=layer, kinds=kinds)
        return http_util.Respond(request, data, "application/octet-stream")

    @_route
    def _serve_kernels(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        layer = params.string("layer", required=False)
        ctx, eid = self._ids(request)
        data = self._reader.kernels_impl(ctx, eid, run, step, layer=layer)
        return http_util.Respond(request, data, "application/octet-stream")
