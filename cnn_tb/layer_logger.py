"""The work behind every cnn_tb callback, callable from any training loop.

One :class:`LayerLogger` owns one model, one probe set and one run directory.
Each :meth:`LayerLogger.log` call makes ONE forward pass of the probes (and one
backward pass when Grad-CAM is on) and turns it into every requested kind of
summary, written as one event and flushed.
"""

import concurrent.futures
import json
import os
import time
import warnings
import weakref

import numpy as np

from cnn_tb import capture as capture_lib
from cnn_tb import event_writer, flow_records
from cnn_tb import kernels as kernels_lib
from cnn_tb import metadata, model_graph, render
from cnn_tb.probes import Probes
from cnn_tb.stats import layer_stats

ALL_KINDS = ("feature_maps", "kernels", "stats", "heatmaps", "predictions", "flow")
_NEEDS_PROBES = {"feature_maps", "stats", "heatmaps", "predictions", "flow"}
_STEP_NOTE = (
    "Step = the Keras epoch index, as keras.callbacks.TensorBoard uses it "
    "(0 = after the first epoch); step -1 = the untrained model."
)
_MAX_FAILURES = 3
_AFFINE_PER_CHANNEL = ("BatchNormalization",)
_HISTOGRAM_VALUES = 16384  # values per layer behind each activation histogram


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")


def _check_cmap(name, value):
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be a matplotlib colormap name. Received: {name}={value!r}")
    try:
        render.colormap_lut(value)
    except ValueError:
        raise ValueError(
            f"`{name}` is not a known matplotlib colormap. Received: {name}={value!r}"
        ) from None


def is_chief():
    """False on the non-chief workers of a multi-worker ``TF_CONFIG`` cluster."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    try:
        cfg = json.loads(raw)
        task = cfg.get("task", {})
        kind, index = task.get("type"), int(task.get("index", 0))
        cluster = cfg.get("cluster", {})
    except (ValueError, AttributeError, TypeError):
        return True
    if kind in (None, "chief"):
        return True
    if kind == "worker":
        return "chief" not in cluster and index == 0
    return False


class LayerLogger:
    """Logs what every layer of a model does to the probes, one step at a time.

    Use it directly in a custom training loop; the Keras callbacks are thin
    wrappers over it.

    Args:
        log_dir: the TensorBoard log directory (local or any ``tf.io.gfile``
            path such as ``gs://...``). Data goes to ``<log_dir>/cnn_tb``.
        probes: a :class:`cnn_tb.Probes` (or an image array). Needed for every
            kind but ``"kernels"``. Default ``None``.
        kinds: which summaries to write, a subset of ``ALL_KINDS``
            (``"feature_maps"``, ``"kernels"``, ``"stats"``, ``"heatmaps"``,
            ``"predictions"``, ``"flow"``). Default: all.
        layers: which layers to log: ``None`` (every layer whose output is an
            image-shaped map or a vector, except dropout/noise/reshape layers),
            a list of layer names and/or layer classes, or a predicate
            ``fn(layer) -> bool``. Default ``None``.
        max_channels: most channels drawn per feature-map grid and stored per
            layer for the plugin. Default 32.
        cmap: colormap of feature maps. Default ``"viridis"``.
        kernel_cmap: diverging colormap of kernels (centred on zero). Default
            ``"RdBu_r"``.
        heatmap_cmap: colormap of heatmap overlays. Default ``"jet"``.
        budget_bytes: most bytes of (uncompressed) activations stored per probe
            per step for the plugin; see :mod:`cnn_tb.flow_records`. Default
            64 KiB.
        image_probes: how many probes (the first ones) get Images-dashboard
            pictures (feature maps, transformation strips, heatmaps); ``None``
            = all. The plugin's flow records always hold every probe. Default
            2, which keeps the seed CNN with 8 probes under 1 MB and about 2%
            of a 5,000-image epoch; each more probe adds about 120 KB and 10 ms.
        histograms: write activation histograms. Default ``True``.
        run_name: the run subdirectory. Default ``"cnn_tb"``.

    Raises:
        ValueError / TypeError: for bad arguments, naming the argument and the
            value received.

    Example:
        >>> logger = cnn_tb.LayerLogger(log_dir, probes)
        >>> logger.attach(model)
        >>> for epoch in range(epochs):
        ...     train_one_epoch()
        ...     logger.log(step=epoch)
        >>> logger.close()
    """

    def __init__(
        self,
        log_dir,
        probes=None,
        *,
        kinds=ALL_KINDS,
        layers=None,
        max_channels=32,
        cmap="viridis",
        kernel_cmap="RdBu_r",
        heatmap_cmap="jet",
        budget_bytes=flow_records.DEFAULT_BUDGET_BYTES,
        image_probes=2,
        histograms=True,
        run_name=metadata.RUN_NAME,
    ):
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(f"`log_dir` must be a non-empty path. Received: log_dir={log_dir!r}")
        self.log_dir = os.fspath(log_dir)
        if isinstance(kinds, str):
            kinds = (kinds,)
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in ALL_KINDS]
        if unknown or not kinds:
            raise ValueError(f"`kinds` must be a non-empty subset of {ALL_KINDS}. Received: kinds={kinds!r}")
        self.kinds = frozenset(kinds)
        if probes is not None and not isinstance(probes, Probes):
            probes = Probes(probes)
        if probes is None and self.kinds & _NEEDS_PROBES:
            raise ValueError(
                f"`probes` are needed to log {sorted(self.kinds & _NEEDS_PROBES)}. "
                "Received: probes=None. Pass cnn_tb.Probes(images, labels=...)."
            )
        self.probes = probes
        model_graph.validate_layers_arg(layers)
        self.layers = layers
        _check_positive_int("max_channels", max_channels)
        _check_positive_int("budget_bytes", budget_bytes)
        _check_positive_int("image_probes", image_probes, allow_none=True)
        _check_cmap("cmap", cmap)
        _check_cmap("kernel_cmap", kernel_cmap)
        _check_cmap("heatmap_cmap", heatmap_cmap)
        if not isinstance(run_name, str) or not run_name or "/" in run_name or run_name in (".", ".."):
            raise ValueError(f"`run_name` must be a plain directory name. Received: run_name={run_name!r}")
        self.max_channels = int(max_channels)
        self.cmap, self.kernel_cmap, self.heatmap_cmap = cmap, kernel_cmap, heatmap_cmap
        self.budget_bytes = int(budget_bytes)
        self.image_probes = image_probes
        self.histograms = bool(histograms)
        self.run_name = run_name
        self.run_dir = self.log_dir.rstrip("/") + "/" + run_name if "://" in self.log_dir else os.path.join(self.log_dir, run_name)
        self.model = None
        self._writer = None
        self._run_written = False
        self._prev_kernels = {}
        self._failures = 0
        self._disabled = False
        self.last_timings = {}

    # ------------------------------------------------------------- attaching

    @property
    def needs_forward(self):
        return bool(self.kinds & _NEEDS_PROBES)

    def attach(self, model):
        """Check the model and probes, and prepare the capture. Raises on bad input."""
        self.model = model
        self._run_written = False
        self._prev_kernels = {}
        self._failures = 0
        self._disabled = False
        if self.needs_forward:
            model_graph.require_graph_model(model)
            self.infos = model_graph.walk(model)
            self.selected = model_graph.select(self.infos, self.layers)
            maps = [i for i in self.selected if i.kind == model_graph.MAP]
            if not maps:
                all_maps = [i.name for i in self.infos if i.kind == model_graph.MAP]
                if not all_maps:
                    raise ValueError(
                        f"Model {model.name!r} has no layer with an image-shaped output "
                        "(H, W, C): cnn_tb shows what convolutional layers do. Layers: "
                        f"{[(i.name, i.class_name, i.output_shape) for i in self.infos]}"
                    )
                raise ValueError(
                    f"None of the selected layers has an image-shaped output (H, W, C). "
                    f"Layers with one: {all_maps}. Received: layers={self.layers!r}"
                )
            input_shape = tuple(model_graph._functional_of(model).inputs[0].shape[1:])
            out_units = model_graph._functional_of(model).outputs[0].shape[-1]
            self.probes.check_against_model(input_shape, out_units)
            self.output_kind = model_graph.output_kind(model)
            self.conv_infos = [i for i in self.infos if i.is_conv]
        else:
            self.infos = None
            self.selected = []
            self.conv_infos = [
                model_graph.LayerInfo(
                    name=l.name, layer=l, class_name=type(l).__name__, kind=model_graph.OTHER,
                    output_shape=(), inbound=[], params=0, is_conv=True,
                )
                for l in _conv_layers(model)
            ]
        if "kernels" in self.kinds and not self.conv_infos:
            raise ValueError(
                f"Model {model.name!r} has no convolution layer, so there are no kernels to draw."
            )
        for info in self.conv_infos:
            reason = kernels_lib.unsupported_reason(info.layer)
            if reason and "kernels" in self.kinds:
                warnings.warn(f"cnn_tb: kernels of layer {info.name!r} are not drawn: {reason}.", stacklevel=2)
        self.kernel_infos = [i for i in self.conv_infos if not kernels_lib.unsupported_reason(i.layer)]
        self.gradcam_layers = []
        if self.kinds & {"heatmaps", "flow"}:
            self.gradcam_layers = [
                i.name for i in self.selected if i.is_conv and i.parent is None and i.kind == model_graph.MAP
            ]
        if self.needs_forward:
            self.capture = capture_lib.Capture(model, self.selected, self.gradcam_layers)
            self.plan = flow_records.plan_budget(
                self.selected, self.budget_bytes, self.max_channels, gradcam_layers=self.gradcam_layers
            )
        self._check_writable()
        return self

    def _check_writable(self):
        if not is_chief():
            return
        import tensorflow as tf

        try:
            tf.io.gfile.makedirs(self.run_dir)
        except Exception as e:  # noqa: BLE001 - any file-system error
            raise PermissionError(
                f"cnn_tb cannot create its run directory {self.run_dir!r} under "
                f"log_dir={self.log_dir!r}: {e}"
            ) from e
        if "://" not in self.run_dir and not os.access(self.run_dir, os.W_OK | os.X_OK):
            raise PermissionError(
                f"cnn_tb cannot write to {self.run_dir!r} (log_dir={self.log_dir!r}): permission denied."
            )

    # --------------------------------------------------------------- logging

    def log(self, step, logs=None):
        """Log everything for ``step``. Never raises: a failure warns and is skipped.

        Args:
            step: the step (see :mod:`cnn_tb.metadata`: Keras epoch index, -1
                for the untrained model).
            logs: optional ``{metric: value}`` (Keras' epoch logs) stored with
                the flow record.

        Returns:
            True when the step was written.
        """
        if self.model is None:
            raise RuntimeError("LayerLogger.log() called before attach(model).")
        if self._disabled or not is_chief():
            return False
        try:
            self._log(int(step), logs or {})
        except Exception as e:  # noqa: BLE001 - logging must never stop training
            self._failures += 1
            msg = f"cnn_tb: logging step {step} failed and was skipped ({type(e).__name__}: {e}); training continues."
            if self._failures >= _MAX_FAILURES:
                self._disabled = True
                msg += f" {self._failures} failures in a row: cnn_tb stops logging for this run."
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            return False
        self._failures = 0
        return True

    def _log(self, step, logs):
        timings = {}
        t0 = time.perf_counter()
        values = []
        result = None
        labels = None
        if self.needs_forward:
            labels = self.probes.labels
            result = self.capture.run(self.probes.model_inputs(), labels)
        t1 = time.perf_counter()
        timings["forward_backward"] = t1 - t0

        kernel_canon, kernel_change = self._kernels()
        t2 = time.perf_counter()
        timings["kernels"] = t2 - t1

        # Pictures are rendered and encoded on a second thread while this one
        # computes statistics and packs the flow records: training is paused
        # during the callback, and numpy, zlib and Pillow release the GIL.
        pictures = _pool().submit(_timed, self._images, result, kernel_canon)

        stats = {}
        if result is not None and self.kinds & {"stats", "flow"}:
            stats = {name: layer_stats(a) for name, a in result.activations.items()}
        t3 = time.perf_counter()
        timings["statistics"] = t3 - t2

        values += self._scalars(result, stats, kernel_change)
        if "flow" in self.kinds:
            values += self._flow(step, result, stats, kernel_canon, kernel_change, logs)
        t4 = time.perf_counter()
        timings["encoding"] = t4 - t3
        image_values, timings["rendering"] = pictures.result()
        values = image_values + values  # the epoch record stays last
        t5 = time.perf_counter()
        timings["waiting_for_rendering"] = t5 - t4

        if self._writer is None:
            self._writer = event_writer.acquire(self.run_dir)
        try:
            self._writer.write(step, values)
            self._writer.flush()
        except Exception:
            # A full disk or a vanished directory: drop this file (what was
            # flushed before stays readable) and start a new one next step.
            writer, self._writer = self._writer, None
            event_writer.discard(writer)
            raise
        timings["writing"] = time.perf_counter() - t5
        timings["total"] = time.perf_counter() - t0
        self.last_timings = timings

    def _kernels(self):
        canon, change = {}, {}
        if not self.kinds & {"kernels", "flow"}:
            return canon, change
        for info in self.kernel_infos:
            raw = kernels_lib.full_kernel(info.layer)
            canon[info.name] = kernels_lib.canonical(info.layer, raw)
            change[info.name] = kernels_lib.relative_change(raw, self._prev_kernels.get(info.name))
            self._prev_kernels[info.name] = raw
        return canon, change

    def _image_probe_count(self):
        n = len(self.probes)
        return n if self.image_probes is None else min(n, self.image_probes)

    def _images(self, result, kernel_canon):
        values = []
        tags = metadata.TAGS
        if "kernels" in self.kinds:
            for name, k in kernel_canon.items():
                rgb = k.shape[2] == 3 and _is_first_conv(self, name)
                if rgb:
                    img = render.kernel_grid(k, rgb=True)
                    png = render.encode_png(img)
                else:
                    img, pal = render.kernel_grid_indexed(k, cmap=self.kernel_cmap)
                    png = render.encode_png_indexed(img, pal)
                desc = (
                    "RGB filters (mid-grey = 0)"
                    if rgb
                    else "rows: output filters, columns: input channels; red > 0 > blue"
                )
                values.append(_image(f"{tags['kernels']}/{name}", [png], img.shape, desc))
        if result is None:
            return values
        n_img = self._image_probe_count()
        acts = result.activations
        map_names = [i.name for i in self.selected if i.kind == model_graph.MAP]
        # Per-probe pictures leave out BatchNormalization: at inference it is a
        # per-channel affine map, so its per-map-normalised grid repeats its input's.
        picture_names = [
            i.name for i in self.selected if i.kind == model_graph.MAP and i.class_name not in _AFFINE_PER_CHANNEL
        ]
        if "feature_maps" in self.kinds:
            for name in picture_names:
                a = acts[name]
                pngs, shape = [], None
                for i in range(n_img):
                    idx, pal = render.feature_map_grid_indexed(a[i], max_channels=self.max_channels, cmap=self.cmap)
                    pngs.append(render.encode_png_indexed(idx, pal))
                    shape = idx.shape
                values.append(
                    _image(f"{tags['feature_maps']}/{name}", pngs, shape, f"one image per probe, first {self.max_channels} channels")
                )
            images = self.probes.uint8_images
            strips = [
                render.channel_mean_strip(
                    [acts[name][i].mean(axis=-1) for name in map_names], cmap=self.cmap, image=images[i]
                )
                for i in range(n_img)
            ]
            values.append(
                _image(
                    tags["channel_mean"],
                    [render.encode_png(s) for s in strips],
                    strips[0].shape,
                    "the probe, then the channel-mean map of each layer, left to right: " + ", ".join(map_names),
                )
            )
        if "heatmaps" in self.kinds:
            images = self.probes.uint8_images
            h, w = images.shape[1:3]
            scale = render.auto_scale(h, w, min_size=96)
            base = [render.upscale_nearest(_rgb(images[i]), scale) for i in range(n_img)]
            for name in picture_names:
                a = acts[name]
                jpgs = [render.encode_jpeg(render.overlay(base[i], a[i].max(axis=-1), cmap=self.heatmap_cmap)) for i in range(n_img)]
                values.append(
                    _image(f"{tags['max_activation']}/{name}", jpgs, base[0].shape, "max over channels, blended over the probe")
                )
            for name in self.gradcam_layers:
                cams = result.gradcam[name]
                cams_true = result.gradcam_true.get(name)
                jpgs, shape = [], None
                for i in range(n_img):
                    pic = render.overlay(base[i], cams[i], cmap=self.heatmap_cmap, normalize_heat=False)
                    if cams_true is not None:
                        pic_t = render.overlay(base[i], cams_true[i], cmap=self.heatmap_cmap, normalize_heat=False)
                        pic = np.concatenate([pic, np.full((pic.shape[0], 4, 3), 255, np.uint8), pic_t], axis=1)
                    jpgs.append(render.encode_jpeg(pic))
                    shape = pic.shape
                desc = "Grad-CAM of the predicted class" + (
                    " (left) and the true class (right)" if cams_true is not None else ""
                )
                values.append(_image(f"{tags['gradcam']}/{name}", jpgs, shape, desc))
        return values

    def _scalars(self, result, stats, kernel_change):
        values = []
        tags = metadata.TAGS
        if "stats" in self.kinds and result is not None:
            for name, s in stats.items():
                for stat in metadata.STAT_NAMES:
                    v = s[stat]
                    if v == v:  # skip NaN: nothing finite to measure
                        values.append(event_writer.scalar_value(f"{tags['activation_stats']}/{name}/{stat}", v))
                if s["nonfinite"]:
                    values.append(event_writer.scalar_value(f"{tags['activation_stats']}/{name}/nonfinite", s["nonfinite"]))
            if self.histograms:
                for name, a in result.activations.items():
                    flat = a.ravel()
                    if flat.size > _HISTOGRAM_VALUES:  # evenly strided sample
                        flat = flat[:: flat.size // _HISTOGRAM_VALUES + 1]
                    flat = flat[np.isfinite(flat)]
                    if flat.size:
                        values.append(event_writer.histogram_value(f"{tags['activation_hist']}/{name}", flat))
        if "kernels" in self.kinds:
            for name, c in kernel_change.items():
                if c is not None and np.isfinite(c):
                    values.append(event_writer.scalar_value(f"{tags['kernel_change']}/{name}", c))
        if "predictions" in self.kinds and result is not None:
            values.append(event_writer.text_value(tags["predictions"], self._prediction_table(result)))
            if self.probes.labels is not None:
                acc = float(np.mean(result.pred == self.probes.labels))
                values.append(event_writer.scalar_value(tags["probe_accuracy"], acc))
        return values

    def _prediction_table(self, result):
        p = self.probes
        rows = ["| probe | true | predicted | confidence | |", "|---|---|---|---|---|"]
        for i in range(len(p)):
            pred = int(result.pred[i])
            true = None if p.labels is None else int(p.labels[i])
            mark = "" if true is None else ("ok" if true == pred else "**wrong**")
            conf = float(result.probs[i, pred]) if pred < result.probs.shape[1] else float("nan")
            rows.append(
                f"| {i} | {_md(p.class_name(true))} | {_md(p.class_name(pred))} | {conf:.3f} | {mark} |"
            )
        return "\n".join(rows)

    def _flow(self, step, result, stats, kernel_canon, kernel_change, logs):
        values = []
        if not self._run_written:
            record = metadata.encode_json(self._run_record())
            values.append(_plugin_value(metadata.RUN_TAG, record, "cnn_tb model graph and probes"))
            pngs = [render.encode_png(img) for img in self.probes.uint8_images]
            values.append(_plugin_value(metadata.PROBES_TAG, pngs, "cnn_tb probe images"))
            self._run_written = True
        mask = None
        if result.gradcam_true and self.probes.labels is not None:
            mask = self.probes.labels != result.pred
        packs = flow_records.activation_packs(
            result.activations, self.plan, result.gradcam, (result.gradcam_true, mask) if mask is not None else None
        )
        values.append(_plugin_value(metadata.ACTIVATIONS_TAG, packs, _STEP_NOTE))
        classes = {i.name: i.class_name for i in self.kernel_infos}
        kernels = flow_records.kernels_pack(kernel_canon, classes)
        values.append(_plugin_value(metadata.KERNELS_TAG, [kernels], _STEP_NOTE))
        bad_weights = [name for name, k in kernel_canon.items() if not np.all(np.isfinite(k))]
        nonfinite = bool(bad_weights) or any(s["nonfinite"] for s in stats.values()) or any(
            c is not None and not np.isfinite(c) for c in kernel_change.values()
        )
        record = {
            "version": metadata.FORMAT_VERSION,
            "step": step,
            "epochs_completed": step + 1,
            "wall_time": time.time(),
            "logs": {k: f for k, f in ((k, _float(v)) for k, v in logs.items()) if f is not None},
            "layers": {name: s for name, s in stats.items()},
            "kernel_change": {k: flow_records.finite_or_none(v) for k, v in kernel_change.items()},
            "predictions": flow_records.predictions(result.probs, result.pred, self.probes.labels),
            "nonfinite": bool(nonfinite),
            "nonfinite_weights": bad_weights,
        }
        # LAST: marks the step complete
        values.append(_plugin_value(metadata.EPOCH_TAG, metadata.encode_json(record), _STEP_NOTE))
        return values

    def _run_record(self):
        from cnn_tb import __version__

        p = self.probes
        return {
            "version": metadata.FORMAT_VERSION,
            "model_name": self.model.name,
            "input_shape": list(p.model_inputs().shape[1:]),
            "layers": [i.describe() for i in self.infos],
            "output_layer": model_graph.output_layer(self.model).name,
            "output_kind": self.output_kind,
            "gradcam_layers": list(self.gradcam_layers),
            "probes": {
                "count": len(p),
                "labels": None if p.labels is None else [int(v) for v in p.labels],
                "class_names": p.class_names,
                "image_shape": list(p.image_shape),
            },
            "settings": {
                "budget_bytes": self.budget_bytes,
                "max_channels": self.max_channels,
                "cmap": self.cmap,
                "kinds": sorted(self.kinds),
                "plan": self.plan,
            },
            "cnn_tb_version": __version__,
        }

    def close(self):
        """Flush and release the event file."""
        if self._writer is not None:
            try:
                self._writer.flush()
            except Exception as e:  # noqa: BLE001
                warnings.warn(f"cnn_tb: could not flush {self.run_dir!r}: {e}", RuntimeWarning, stacklevel=2)
            event_writer.release(self._writer)
            self._writer = None


def _conv_layers(model):
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if kernels_lib.is_conv(layer):
            out.append(layer)
    return out


def _is_first_conv(logger, name):
    return bool(logger.conv_infos) and logger.conv_infos[0].name == name


def _rgb(img):
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]


def _plugin_value(tag, payloads, description):
    """A cnn_tb plugin value: ``payloads`` (bytes, or a list of bytes) as a string tensor."""
    return event_writer.tensor_value(
        tag, np.array(payloads, dtype=object), metadata.create_summary_metadata(tag, description)
    )


def _image(tag, encoded, shape, description):
    """An Images-dashboard value from encoded pictures of one ``shape``."""
    return event_writer.image_value(tag, encoded, shape[1], shape[0], description + ". " + _STEP_NOTE)


def _md(text):
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


_executor = []


def _pool():
    """One worker thread, shared by every logger in the process, started lazily."""
    if not _executor:
        _executor.append(concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnn_tb"))
    return _executor[0]


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


_loggers = weakref.WeakKeyDictionary()


def log_layers(model, probes, log_dir, step, logs=None, **options):
    """Log every layer of ``model`` for ``probes`` at ``step``: for custom training loops.

    The first call for a (model, probes, log_dir, options) builds a
    :class:`LayerLogger` (checking everything, raising on bad input); later
    calls reuse it, so calling this once per epoch costs one forward pass.

    Args:
        model: a Functional or Sequential keras model.
        probes: :class:`cnn_tb.Probes` (or an image array).
        log_dir: TensorBoard log directory; data goes to ``<log_dir>/cnn_tb``.
        step: the step to log at (-1 for the untrained model, then epoch index).
        logs: optional metrics to store with the step.
        **options: :class:`LayerLogger` options (``kinds``, ``layers``,
            ``max_channels``, ``cmap``, ...).

    Returns:
        True when the step was written (False when it failed with a warning).

    Example:
        >>> for epoch in range(10):
        ...     train_one_epoch(model)
        ...     cnn_tb.log_layers(model, probes, "logs", step=epoch)
    """
    per_model = _loggers.setdefault(model, {})
    key = (os.fspath(log_dir), id(probes), repr(sorted(options.items())))
    logger = per_model.get(key)
    # id() of a garbage-collected Probes can be reused by a new one: check identity too.
    if logger is None or logger.probes is not probes and isinstance(probes, Probes):
        logger = LayerLogger(log_dir, probes, **options).attach(model)
        per_model[key] = logger
    return logger.log(step, logs)
