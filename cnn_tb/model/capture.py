"""One forward (and one backward, for Grad-CAM) pass of the probes that yields
every logged layer's activations, the predictions and the Grad-CAM maps."""

import contextlib
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from cnn_tb.model import graph


@dataclasses.dataclass
class CaptureResult:
    """What one pass of the probes produced (numpy, float32)."""

    activations: dict  # layer name -> [N, ...]
    probs: np.ndarray  # [N, K] class probabilities (K >= 2)
    pred: np.ndarray  # [N] predicted class
    gradcam: dict  # conv layer name -> [N, h, w] in [0, 1], predicted class
    gradcam_true: dict  # conv layer name -> [N, h, w], true class (when labels)


def _node(model, layer):
    node = graph.node_in(model, layer)
    if node is None:
        raise ValueError(f"layer {layer.name!r} is not connected in model {model.name!r}")
    return node


def _output_of(model, layer):
    outs = _node(model, layer).outputs
    return outs[0] if isinstance(outs, (list, tuple)) else outs


def _input_of(model, layer):
    ins = _node(model, layer).arguments.keras_tensors
    return ins[0]


@contextlib.contextmanager
def _linear_activation(layer):
    """Temporarily make ``layer`` skip its activation (to read logits)."""
    saved = layer.activation
    layer.activation = keras.activations.linear
    try:
        yield
    finally:
        layer.activation = saved


class _Stage:
    """The capture of one (possibly nested) graph model."""

    def __init__(self, model, infos, with_output):
        self.model = model
        ops = graph.graph_model(model)._operations
        own = {id(op) for op in ops}
        self.direct = [i for i in infos if id(i.layer) in own]
        # nested graph models holding selected layers deeper down
        self.children = []
        for op in ops:
            if isinstance(op, keras.Model) and graph.is_graph_model(op):
                inner_ids = {id(l) for l in graph.all_layers(op)}
                inner = [i for i in infos if id(i.layer) in inner_ids]
                if inner:
                    self.children.append((op, _Stage(op, inner, with_output=False)))
        outputs = [_output_of(model, i.layer) for i in self.direct]
        outputs += [_input_of(model, child) for child, _ in self.children]
        self.with_output = with_output
        if with_output:
            out_layer = graph.output_layer(model)
            self.out_layer = out_layer
            self.output_kind = graph.output_kind(model)
            self.needs_logits = self.output_kind in ("softmax", "sigmoid")
            if self.needs_logits:
                outputs.append(_input_of(model, out_layer))
            outputs.append(graph.model_output(model))
        self.capture_model = keras.Model(graph.model_input(model), outputs)

    def logits_from(self, pre):
        layer = self.out_layer
        if type(layer).__name__ in ("Softmax", "Activation") or not hasattr(layer, "activation"):
            return pre
        with _linear_activation(layer):
            return layer(pre, training=False)


class Capture:
    """Runs the probes through ``model`` once per call.

    Args:
        model: a Functional or built Sequential keras model.
        selected: the :class:`~cnn_tb.model.graph.LayerInfo` of the layers to capture.
        gradcam_layers: names (subset of ``selected``, top-level map layers) for
            Grad-CAM. Empty disables the backward pass.
    """

    def __init__(self, model, selected, gradcam_layers=()):
        self.model = model
        self.selected = list(selected)
        self.root = _Stage(model, self.selected, with_output=True)
        direct_names = [i.name for i in self.root.direct]
        self.gradcam_layers = [n for n in gradcam_layers if n in direct_names]
        self._cam_index = [direct_names.index(n) for n in self.gradcam_layers]
        self._n_direct = len(direct_names)
        self._fn = tf.function(self._forward, reduce_retracing=True)

    @property
    def output_kind(self):
        return self.root.output_kind

    def _forward(self, x, labels, use_labels):
        stage = self.root
        with tf.GradientTape(persistent=True) as tape:
            outs = stage.capture_model(x, training=False)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            outs = list(outs)
            final = outs[-1]
            if stage.needs_logits:
                logits = stage.logits_from(outs[-2])
            else:
                logits = final
            logits = tf.cast(logits, tf.float32)
            if logits.shape[-1] == 1:  # one sigmoid/logit unit: classes 0 and 1
                pred = tf.cast(logits[:, 0] > 0, tf.int64)
                sign = tf.cast(2 * pred - 1, tf.float32)
                score_pred = tf.reduce_sum(logits[:, 0] * sign)
                true_sign = tf.cast(2 * labels - 1, tf.float32)
                score_true = tf.reduce_sum(logits[:, 0] * true_sign)
            else:
                pred = tf.argmax(logits, axis=-1)
                score_pred = tf.reduce_sum(tf.gather(logits, pred, axis=1, batch_dims=1))
                score_true = tf.reduce_sum(tf.gather(logits, labels, axis=1, batch_dims=1))
        cam_acts = [outs[i] for i in self._cam_index]
        cams, cams_true = [], []
        if cam_acts:
            grads = tape.gradient(score_pred, cam_acts)
            cams = [_gradcam(a, g) for a, g in zip(cam_acts, grads)]
            if use_labels:
                grads_t = tape.gradient(score_true, cam_acts)
                cams_true = [_gradcam(a, g) for a, g in zip(cam_acts, grads_t)]
        del tape
        acts = [tf.cast(a, tf.float32) for a in outs[: self._n_direct + len(stage.children)]]
        return acts, tf.cast(final, tf.float32), logits, pred, cams, cams_true

    def run(self, x, labels=None):
        """Forward (+ backward) pass of the probe batch ``x``.

        Returns:
            :class:`CaptureResult`.
        """
        x = tf.convert_to_tensor(np.asarray(x), dtype=self.model.inputs[0].dtype)
        use_labels = labels is not None
        lab = tf.convert_to_tensor(
            np.zeros(len(x), np.int64) if labels is None else np.asarray(labels, np.int64)
        )
        acts, final, logits, pred, cams, cams_true = self._fn(x, lab, use_labels)
        activations = {}
        root = self.root
        for info, a in zip(root.direct, acts[: self._n_direct]):
            activations[info.name] = a.numpy()
        for (_, stage), inp in zip(root.children, acts[self._n_direct :]):
            _run_stage(stage, inp, activations)
        final = final.numpy()
        logits = logits.numpy()
        probs = _probabilities(final, logits, root.output_kind)
        return CaptureResult(
            activations=activations,
            probs=probs,
            pred=pred.numpy().astype(np.int64),
            gradcam={n: c.numpy() for n, c in zip(self.gradcam_layers, cams)},
            gradcam_true={n: c.numpy() for n, c in zip(self.gradcam_layers, cams_true)},
        )


def _run_stage(stage, x, activations):
    outs = stage.capture_model(x, training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    n = len(stage.direct)
    for info, a in zip(stage.direct, outs[:n]):
        activations[info.name] = np.asarray(tf.cast(a, tf.float32))
    for (_, sub), inp in zip(stage.children, outs[n:]):
        _run_stage(sub, inp, activations)


def _gradcam(acts, grads):
    """Grad-CAM maps [N, h, w] in [0, 1] from activations and gradients [N, h, w, c]."""
    acts = tf.cast(acts, tf.float32)
    if grads is None:
        return tf.zeros(tf.shape(acts)[:3])
    grads = tf.cast(grads, tf.float32)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1))
    peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(cam, peak)


def _probabilities(final, logits, kind):
    if final.shape[-1] == 1:
        p1 = final[:, 0] if kind == "sigmoid" else 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1).astype(np.float32)
    if kind == "softmax":
        return final.astype(np.float32)
    z = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
