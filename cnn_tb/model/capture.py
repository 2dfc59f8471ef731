"""One compiled pass of the probes through the model: every logged layer's
activations, the logits, the predictions and Grad-CAM, reduced on the device.

The model's graph is run layer by layer (inference mode), recording the output
of every wanted layer, nested models included, in ONE pass. For Grad-CAM a zero
tensor is added to the output of each Grad-CAM layer; the gradient of a class
score with respect to it is the gradient with respect to that activation, on
every Keras backend (:func:`cnn_tb.model.backend.scalar_gradients`).

What crosses to the host is decided by the caller: a function of a
:class:`Tensors` view (``device_fn``) returns the nest of tensors it wants,
typically reductions from :mod:`cnn_tb.model.reduce`; the host gets numpy.
With ``reduce_later`` that function is compiled on its own and runs when the
result is first read (on a background thread, while training goes on), the
pass's tensors kept on the device until then.
"""

import threading

import keras
import numpy as np
from keras import ops

from cnn_tb.model import backend, graph


class CaptureResult:
    """What one pass of the probes produced (numpy).

    Attributes:
        probs: [N, K] class probabilities (K >= 2).
        pred: [N] predicted class.
        device: what ``device_fn`` returned, as numpy. With a capture that
            reduces later (``reduce_later=True``) it is computed on the device
            when first read, from the pass's tensors kept on the device: the
            thread that reads it does the reductions.
    """

    def __init__(self, probs, pred, device=None, reduce=None):
        self.probs, self.pred = probs, pred
        self._device, self._reduce = device, reduce
        self._lock = threading.Lock()

    @property
    def device(self):
        with self._lock:
            if self._reduce is not None:
                self._device, self._reduce = self._reduce(), None
        return self._device


class Tensors:
    """The device tensors of one pass, as ``device_fn`` sees them.

    Attributes:
        acts: ``{layer name: activation [N, ...]}`` (float32) of the captured layers.
        cams / cams_true: ``{layer: Grad-CAM map [N, h, w] in [0, 1]}`` for the
            predicted / the true class (``cams_true`` empty without labels).
        logits, probs ([N, K]), pred ([N], int), labels ([N], int).

    Work on many layers is best done per group of layers of the same shape:
    :meth:`groups` forms them, :meth:`stacked`, :meth:`channel_means` and
    :meth:`channel_maxes` give their tensors [L, N, ...], each computed once per
    pass whoever asks for it.
    """

    def __init__(self, acts, cams, cams_true, logits, probs, pred, labels):
        self.acts, self.cams, self.cams_true = acts, cams, cams_true
        self.logits, self.probs, self.pred, self.labels = logits, probs, pred, labels
        self._memo = {}

    def parts(self):
        """The pass's tensors as a dict (``Tensors(**parts)`` makes the view again)."""
        return dict(acts=self.acts, cams=self.cams, cams_true=self.cams_true, logits=self.logits,
                    probs=self.probs, pred=self.pred, labels=self.labels)

    def groups(self, names):
        """``names`` grouped by activation shape: a list of tuples, in first-seen order."""
        by_shape = {}
        for n in names:
            by_shape.setdefault(tuple(self.acts[n].shape), []).append(n)
        return [tuple(g) for g in by_shape.values()]

    def stacked(self, group):
        """The activations of ``group`` (names of one shape) stacked: [L, N, ...]."""
        group = tuple(group)
        return self._once(("stack", group), lambda: ops.stack([self.acts[n] for n in group]))

    def channel_means(self, group):
        """Means over the last axis (channels) of :meth:`stacked`: [L, N, ...]."""
        return self._once(("mean", tuple(group)), lambda: ops.mean(self.stacked(group), axis=-1))

    def channel_maxes(self, group):
        """Maxima over the last axis (channels) of :meth:`stacked`: [L, N, ...]."""
        return self._once(("max", tuple(group)), lambda: ops.max(self.stacked(group), axis=-1))

    def _once(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]


def _inference_call(op):
    """Call ``op`` as ``Functional.call(training=False)`` would."""

    def call(*args, **kwargs):
        if "training" in getattr(op, "_call_context_args", {}):
            kwargs["training"] = False
        return op(*args, **kwargs)

    return call


def _first(outputs):
    flat = keras.tree.flatten(outputs)
    return flat[0]


class _AllRecorded(Exception):
    """Raised by a :class:`_GraphRun` with ``stop_early`` once every wanted layer ran."""


class _GraphRun:
    """Runs a graph model layer by layer, recording and perturbing outputs.

    With ``stop_early`` the run ends as soon as every wanted layer is recorded
    (the layers after them are not called; ``final`` and the logits are then
    ``None``).
    """

    def __init__(self, model, wanted, perturbed, out_layer, logits_of, stop_early=False):
        self.model = model
        self.wanted = set(wanted)
        self.perturbed = list(perturbed)
        self.out_layer = out_layer
        self.logits_of = logits_of  # fn(out_layer, args, kwargs) -> logits, or None
        self.stop_early = stop_early

    def __call__(self, x, eps):
        recorded, extra = {}, {}
        eps = dict(zip(self.perturbed, eps))
        try:
            final = self._run(self.model, x, "", recorded, eps, extra)
        except _AllRecorded:
            final = None
        return recorded, final, extra.get("logits", final)

    def _run(self, model, x, prefix, recorded, eps, extra):
        def hook(op):
            name = prefix + op.name

            def call(*args, **kwargs):
                inner = isinstance(op, keras.Model) and graph.is_graph_model(op)
                if inner and any(w.startswith(name + "/") for w in self.wanted):
                    out = self._run(op, args[0], name + "/", recorded, eps, extra)
                else:
                    if op is self.out_layer and self.logits_of is not None and not prefix:
                        extra["logits"] = self.logits_of(op, args, kwargs)
                    out = _inference_call(op)(*args, **kwargs)
                if name in eps:
                    out = out + ops.cast(eps[name], out.dtype)
                if name in self.wanted and name not in recorded:
                    recorded[name] = _first(out)
                    if self.stop_early and len(recorded) == len(self.wanted):
                        raise _AllRecorded
                return out

            return call

        g = graph.graph_model(model)
        return _first(g._run_through_graph([x], operation_fn=hook))


def _logits_of_output_layer(layer, args, kwargs):
    """The pre-activation of a softmax/sigmoid output layer, without touching the layer.

    The input of a ``Softmax`` / ``Activation`` layer; ``x @ kernel + bias`` of a
    ``Dense`` layer; for other layers the inverse of the activation applied to
    their output (log-probabilities for softmax, the logit of a sigmoid).
    """
    if type(layer).__name__ in ("Softmax", "Activation") or not hasattr(layer, "activation"):
        return args[0]
    if isinstance(layer, keras.layers.Dense) and getattr(layer, "quantization_mode", None) is None:
        x = ops.matmul(args[0], layer.kernel)
        return x + layer.bias if layer.bias is not None else x
    out = ops.cast(_inference_call(layer)(*args, **kwargs), "float32")
    eps = 1e-7
    if getattr(layer.activation, "__name__", "") == "sigmoid":
        out = ops.clip(out, eps, 1 - eps)
        return ops.log(out) - ops.log(1 - out)
    return ops.log(ops.maximum(out, eps))


def gradcam(act, grad):
    """Grad-CAM maps [N, h, w] in [0, 1] from activations and gradients [N, h, w, c]:
    ``relu(sum_c mean_hw(grad) * act)``, divided by its maximum (0 where that is 0)."""
    act = ops.cast(act, "float32")
    weights = ops.mean(ops.cast(grad, "float32"), axis=(1, 2))  # [N, c]
    cam = ops.relu(ops.einsum("nhwc,nc->nhw", act, weights))
    peak = ops.max(cam, axis=(1, 2), keepdims=True)
    return ops.where(peak > 0, cam / ops.where(peak > 0, peak, 1.0), 0.0)


class Capture:
    """Runs probe batches through ``model``, one compiled pass per call.

    Args:
        model: a Functional or built Sequential keras model.
        layers: names of the layers to capture (from :func:`cnn_tb.model.graph.walk`;
            ``"outer/inner"`` for layers of nested models).
        gradcam_layers: names (a subset of ``layers``, map layers) for Grad-CAM;
            empty skips the backward pass.
        device_fn: ``fn(Tensors) -> nest of tensors`` computed on the device;
            by default every captured activation (``{"acts": ..., "cams": ...,
            "cams_true": ...}``).
        reduce_later: ``device_fn`` is a second compiled function, run when the
            result's ``device`` is first read (by a background thread, while
            training goes on): :meth:`run` returns once the pass itself is done,
            its tensors kept on the device until then. Default False (one
            compiled function: the pass and ``device_fn``).
        snapshots: the pass is run inside ``keras.StatelessScope`` on a snapshot
            of the weights, and stays compiled there
            (:class:`~cnn_tb.model.backend.ModelFunction`).
    Raises:
        ValueError: a layer name the model does not have, or a Grad-CAM layer
            without an image-shaped output.
    """

    def __init__(self, model, layers, gradcam_layers=(), device_fn=None, reduce_later=False, snapshots=False):
        graph.require_graph_model(model)
        infos = {i.name: i for i in graph.walk(model)}
        missing = [n for n in list(layers) + list(gradcam_layers) if n not in infos]
        if missing:
            raise ValueError(f"Model {model.name!r} has no layers named {missing}. Layers: {list(infos)}")
        self.model = model
        self.layers = list(dict.fromkeys(list(layers) + list(gradcam_layers)))
        self.gradcam_layers = list(gradcam_layers)
        self._eps_shapes = {n: tuple(infos[n].output_shape) for n in self.gradcam_layers}
        bad = [n for n, s in self._eps_shapes.items() if len(s) != 3]
        if bad:
            raise ValueError(f"Grad-CAM needs layers with an image-shaped output (H, W, C); {bad} have none.")
        self.output_kind = graph.output_kind(model)
        out_layer = graph.output_layer(model)
        logits_of = _logits_of_output_layer if self.output_kind in ("softmax", "sigmoid") else None
        self._run = _GraphRun(model, self.layers, self.gradcam_layers, out_layer, logits_of)
        self.device_fn = device_fn or (lambda t: {"acts": t.acts, "cams": t.cams, "cams_true": t.cams_true})
        self.reduce_later = bool(reduce_later)
        self.snapshots = bool(snapshots)
        self._fns = {}  # with / without labels -> compiled function
        self._reduces = {}  # reduce_later: with / without labels -> the compiled device_fn

    def _forward(self, x, labels, use_labels):
        # the zero tensors added to the Grad-CAM layers' outputs, made inside the
        # compiled function (as inputs they were ~2 MB copied in at every call)
        n = ops.shape(x)[0]
        eps = [ops.zeros((n,) + self._eps_shapes[name], "float32") for name in self.gradcam_layers]

        def scored(e):
            acts, final, logits = self._run(x, e)
            logits = ops.cast(logits, "float32")
            if logits.shape[-1] == 1:  # one sigmoid/logit unit: classes 0 and 1
                pred = ops.cast(logits[:, 0] > 0, "int32")
                score_pred = ops.sum(logits[:, 0] * ops.cast(2 * pred - 1, "float32"))
                score_true = ops.sum(logits[:, 0] * ops.cast(2 * labels - 1, "float32"))
            else:
                pred = ops.cast(ops.argmax(logits, axis=-1), "int32")
                score_pred = ops.sum(ops.take_along_axis(logits, ops.expand_dims(pred, -1), axis=1))
                score_true = ops.sum(ops.take_along_axis(logits, ops.expand_dims(labels, -1), axis=1))
            return ops.stack([score_pred, score_true]), (acts, final, logits, pred)

        # With every probe's true class predicted, the two scores are one function:
        # the true-class backward pass is skipped (its maps are the predicted ones).
        same = (lambda aux: ops.all(ops.equal(aux[3], labels))) if use_labels else None
        _, grads, (acts, final, logits, pred) = backend.scalar_gradients(scored, eps, 2, same_as_first=same)
        acts = {k: ops.cast(v, "float32") for k, v in acts.items()}
        cams = {n: gradcam(acts[n], g) for n, g in zip(self.gradcam_layers, grads[0])}
        cams_true = {}
        if use_labels:
            cams_true = {n: gradcam(acts[n], g) for n, g in zip(self.gradcam_layers, grads[1])}
        probs = _probabilities(ops.cast(final, "float32"), logits, self.output_kind)
        t = Tensors(acts, cams, cams_true, logits, probs, pred, labels)
        return probs, pred, (t.parts() if self.reduce_later else self.device_fn(t))

    def wait_compiled(self, timeout=None):
        """Wait for the background compilation of every pass run so far; True when all are compiled."""
        return all(fn.wait(timeout) for fn in self._all_fns())

    def _all_fns(self):
        return list(self._fns.values()) + list(self._reduces.values())

    @property
    def compiled(self):
        return bool(self._fns) and all(fn.compiled for fn in self._all_fns())

    @property
    def started(self):
        """True once a pass was asked for (its function made, compiled or compiling)."""
        return bool(self._fns)

    def run(self, x, labels=None):
        """One pass of the batch ``x`` (numpy, the model's input); :class:`CaptureResult`."""
        x = np.asarray(x, dtype=graph.model_input(self.model).dtype)
        use_labels = labels is not None
        lab = np.zeros(len(x), np.int32) if labels is None else np.asarray(labels, np.int32)
        if use_labels not in self._fns:
            self._fns[use_labels] = backend.ModelFunction(
                self.model, lambda x, lab: self._forward(x, lab, use_labels), host=not self.reduce_later,
                snapshots=self.snapshots,
            )
        probs, pred, device = self._fns[use_labels](x, lab)
        reduce = None
        if self.reduce_later:
            probs, pred = backend.to_numpy(probs), backend.to_numpy(pred)  # the pass is done once these are
            if use_labels not in self._reduces:
                self._reduces[use_labels] = backend.ModelFunction(None, lambda parts: self.device_fn(Tensors(**parts)))
            reduce_fn, parts = self._reduces[use_labels], device
            device, reduce = None, (lambda: reduce_fn(parts))
        return CaptureResult(probs=probs.astype(np.float32), pred=pred.astype(np.int64), device=device, reduce=reduce)


def _probabilities(final, logits, kind):
    if final.shape[-1] == 1:
        p1 = final[:, 0] if kind == "sigmoid" else ops.sigmoid(logits[:, 0])
        return ops.stack([1.0 - p1, p1], axis=1)
    if kind == "softmax":
        return final
    return ops.softmax(logits, axis=-1)
