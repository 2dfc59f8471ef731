"""The "CNN Flow" TensorBoard plugin: thin HTTP routes over :mod:`cnn_tb.plugin.reader`.

Every route parses and validates its query string, calls one ``*_impl``
method of :class:`~cnn_tb.plugin.reader.FlowReader`, and responds. Bad
parameters raise ``tensorboard.errors.InvalidArgumentError`` (400), unknown
runs/probes/steps/layers and unreadable data ``NotFoundError`` (404);
TensorBoard's application turns them into responses with the message. Any
other exception is a bug: it is logged (once per route and exception type,
with its traceback) and answered ``503`` with a message, never an opaque
``500``. The API is documented in ``API.md`` beside this file.
"""

import contextlib
import os
import re

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from cnn_tb.contract import packs, tags
from cnn_tb.plugin.log import warn_once
from cnn_tb.plugin.pack_files import PackFiles
from cnn_tb.plugin.reader import FlowReader

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_MIME_TYPES = {".js": "text/javascript", ".css": "text/css"}
INTERNAL_ERROR_STATUS = 503

_MAX_PARAM = 4096
_INT_RE = re.compile(r"-?[0-9]{1,12}")  # matched whole: "$" alone would let "5\n" through


def static_files(root=STATIC_DIR):
    """``{relative path: mime type}`` of the frontend files: the static allow-list."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            mime = _MIME_TYPES.get(os.path.splitext(name)[1])
            if mime:
                out[os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")] = mime
    return out


STATIC_FILES = static_files()


class _Params:
    """Validated access to a request's query parameters (raises InvalidArgumentError)."""

    def __init__(self, request):
        self._args = request.args

    def _one(self, name, required):
        values = self._args.getlist(name)
        if not values:
            if required:
                raise errors.InvalidArgumentError(f"missing query parameter '{name}'")
            return None
        if len(values) > 1:
            raise errors.InvalidArgumentError(f"query parameter '{name}' given {len(values)} times; give it once")
        value = values[0]
        if len(value) > _MAX_PARAM:
            raise errors.InvalidArgumentError(f"query parameter '{name}' is too long ({len(value)} characters)")
        if "\x00" in value:
            raise errors.InvalidArgumentError(f"query parameter '{name}' contains a NUL character")
        return value

    def string(self, name, required=True):
        value = self._one(name, required)
        if value is not None and required and value == "":
            raise errors.InvalidArgumentError(f"query parameter '{name}' is empty")
        return value

    def integer(self, name, required=True, minimum=None):
        value = self._one(name, required)
        if value is None:
            return None
        if not _INT_RE.fullmatch(value):
            raise errors.InvalidArgumentError(f"query parameter '{name}' must be an integer; received {value[:40]!r}")
        number = int(value)
        if minimum is not None and number < minimum:
            raise errors.InvalidArgumentError(f"query parameter '{name}' must be >= {minimum}; received {number}")
        return number

    def kinds(self, name, allowed=packs.ACTIVATION_KINDS):
        value = self._one(name, False)
        if value is None:
            return None
        kinds = [k for k in value.split(",") if k]
        if not kinds or any(k not in allowed for k in kinds):
            raise errors.InvalidArgumentError(
                f"query parameter '{name}' must be a comma-separated subset of "
                f"{','.join(allowed)}; received {value[:60]!r}"
            )
        return set(kinds)


def _route(handler=None, *, bulk=False):
    """Wraps a handler ``(self, request, params) -> response``: GET only, internal errors
    answered. A route that is not ``bulk`` (one that decodes the records of a whole
    run) is served as a small request: bulk decodes give way to it
    (:class:`~cnn_tb.plugin.cache.Foreground`)."""
    if handler is None:
        return lambda h: _route(h, bulk=bulk)

    @wrappers.Request.application
    def wrapper(self, request):
        if request.method not in ("GET", "HEAD"):
            return http_util.Respond(
                request, "only GET is supported", "text/plain", code=405, headers=[("Allow", "GET, HEAD")]
            )
        try:
            with contextlib.nullcontext() if bulk else self._reader.foreground.serving():
                return handler(self, request, _Params(request))
        except errors.PublicError:
            raise  # TensorBoard's application answers it with its status and message
        except Exception as e:  # noqa: BLE001 - a bug must not end in an opaque 500
            name = type(e).__name__
            warn_once(("error", handler.__name__, name), "cnn_tb: %s failed: %s", request.path, e, exc_info=True)
            message = f"cnn_tb: internal error in {request.path} ({name}); see the TensorBoard log"
            return http_util.Respond(request, message, "text/plain", code=INTERNAL_ERROR_STATUS)

    wrapper.__name__ = handler.__name__
    return wrapper


class CnnTbPlugin(base_plugin.TBPlugin):
    """Serves the flow view: runs, model graph, epochs, probes, activations, kernels, histograms,
    feature visualizations."""

    plugin_name = tags.PLUGIN_NAME

    def __init__(self, context):
        hints = context.sampling_hints or {}
        flags = getattr(context, "flags", None)
        files = PackFiles(context.logdir or "", getattr(flags, "logdir_spec", "") or "")
        self._reader = FlowReader(context.data_provider, downsample=hints.get(self.plugin_name, 0), pack_files=files)

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
            "/epoch": self._serve_epoch,
            "/probe": self._serve_probe,
            "/activations": self._serve_activations,
            "/kernels": self._serve_kernels,
            "/pool": self._serve_pool,
            "/pool_record": self._serve_pool_record,
            "/pool_images": self._serve_pool_images,
            "/pool_pack": self._serve_pool_pack,
            "/histograms": self._serve_histograms,
            "/feature_viz": self._serve_feature_viz,
            "/feature_viz_image": self._serve_feature_viz_image,
        }

    def is_active(self):
        return False  # the data provider's list_plugins() decides

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="CNN Flow")

    @_route
    def _serve_static(self, request, params):
        marker = "/data/plugin/" + self.plugin_name + "/static/"
        at = request.path.rfind(marker)
        name = request.path[at + len(marker) :] if at >= 0 else ""
        if name not in STATIC_FILES:  # an exact allow-list: no path is ever joined from the request
            raise errors.NotFoundError("not found")
        with open(os.path.join(STATIC_DIR, *name.split("/")), "rb") as f:
            content = f.read()
        return http_util.Respond(request, content, STATIC_FILES[name])

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

    @_route(bulk=True)
    def _serve_epochs(self, request, params):
        run = params.string("run")
        ctx, eid = self._ids(request)
        # Built and compressed once per new epoch; Respond un-gzips it for
        # clients that do not accept gzip.
        data = self._reader.epochs_gzip_impl(ctx, eid, run)
        return http_util.Respond(request, data, "application/json", content_encoding="gzip")

    @_route
    def _serve_epoch(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.epoch_json_impl(ctx, eid, run, step), "application/json")

    @_route
    def _serve_probe(self, request, params):
        run = params.string("run")
        probe = params.integer("probe", minimum=0)
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.probe_impl(ctx, eid, run, probe), "image/png", expires=60)

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

    @_route(bulk=True)
    def _serve_pool(self, request, params):
        run = params.string("run")
        ctx, eid = self._ids(request)
        # built and compressed once per new pool step, as /epochs
        data = self._reader.pool_gzip_impl(ctx, eid, run)
        return http_util.Respond(request, data, "application/json", content_encoding="gzip")

    @_route
    def _serve_pool_record(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.pool_record_json_impl(ctx, eid, run, step), "application/json")

    @_route
    def _serve_pool_images(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.pool_images_impl(ctx, eid, run, step), "image/png", expires=60)

    @_route
    def _serve_pool_pack(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        layer = params.string("layer", required=False)
        kinds = params.kinds("kinds", packs.POOL_KINDS)
        ctx, eid = self._ids(request)
        data = self._reader.pool_pack_impl(ctx, eid, run, step, layer=layer, kinds=kinds)
        return http_util.Respond(request, data, "application/octet-stream")

    @_route(bulk=True)
    def _serve_histograms(self, request, params):
        run = params.string("run")
        layer = params.string("layer")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.histograms_impl(ctx, eid, run, layer), "application/json")

    @_route
    def _serve_feature_viz(self, request, params):
        run = params.string("run")
        ctx, eid = self._ids(request)
        return http_util.Respond(request, self._reader.feature_viz_impl(ctx, eid, run), "application/json")

    @_route
    def _serve_feature_viz_image(self, request, params):
        run = params.string("run")
        step = params.integer("step")
        layer = params.string("layer")
        ctx, eid = self._ids(request)
        data = self._reader.feature_viz_image_impl(ctx, eid, run, step, layer)
        return http_util.Respond(request, data, "image/png", expires=60)
