"""Which pixels of the input image each position of a map layer's output sees.

For every map layer and each spatial axis, :func:`receptive_fields` keeps the
span ``[start, end)`` of input pixels that position ``i`` of the output sees:
the bounding box of the pixels that can change it. It follows the graph from
the input, layer by layer, from the spans of each layer's input:

====================================  ===========================================================
layer                                 position ``i`` of its output sees
====================================  ===========================================================
the model's input                     pixel ``i``: ``[i, i + 1)``
convolution (any 2-D kind), pooling   the union of the spans of the input positions
(``kernel/pool_size``, ``strides``,   ``i * s - pad_before + t * d`` (``t = 0 .. k - 1``) that
``dilation_rate``, ``padding``)       exist; ``pad_before`` is 0 for ``"valid"`` and, for
                                      ``"same"``, ``total // 2`` of
                                      ``total = max((ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)``
                                      (the rule of every Keras backend)
``ZeroPadding2D`` / ``Cropping2D``    input position ``i - pad_before`` / ``i + crop_before``
``UpSampling2D`` (factor ``u``)       input position ``floor(i / u)``
element-wise layers, normalisation,   the union of the spans of its inputs at ``i``
activations, dropout, ``Add``,
``Concatenate``, nested models, ...
anything else with a map output       the whole image (``exact`` is False)
====================================  ===========================================================

Padding taps see nothing, so near the border a field is smaller than in the
middle (exactly what an impulse through the real model reaches). Everything
is in the pixels of the model's input; :meth:`Field.box` gives the crop box of
one output position.
"""

import dataclasses
import math

import numpy as np

from cnn_tb.contract.tags import INPUT, OTHER
from cnn_tb.model import graph
from cnn_tb.model import kernels as kernels_lib

# Layers whose output at a position depends only on their inputs at the same
# position (their field is the union of their inputs' fields).
POINTWISE = frozenset(
    {
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
        "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
        "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "ActivityRegularization", "Identity", "Rescaling", "Normalization", "InputLayer",
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    }
)
_POOLING = ("MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D")


@dataclasses.dataclass(frozen=True)
class Field:
    """The receptive field of every position of a map layer.

    Attributes:
        starts / ends: per axis ``(height, width)``, float arrays: position
            ``i`` sees input pixels ``[starts[a][i], ends[a][i])`` (``inf`` /
            ``-inf`` where it sees none: a padded position).
        image_hw: ``(H, W)`` of the model's input.
        exact: False where a layer of unknown geometry made it the whole image.
    """

    starts: tuple
    ends: tuple
    image_hw: tuple
    exact: bool = True

    def boxes(self, ys, xs):
        """Crop boxes ``(y0, x0, y1, x1)`` (int arrays like ``ys``, half-open) of
        output positions ``(ys, xs)``; a position that sees nothing gets the
        whole image."""
        spans = [(self.starts[a][np.asarray(i, np.int64)], self.ends[a][np.asarray(i, np.int64)]) for a, i in enumerate((ys, xs))]
        empty = ~(spans[0][1] > spans[0][0]) | ~(spans[1][1] > spans[1][0])
        (y0, y1), (x0, x1) = [
            (np.where(empty, 0, lo).astype(np.int64), np.where(empty, self.image_hw[a], hi).astype(np.int64))
            for a, (lo, hi) in enumerate(spans)
        ]
        return y0, x0, y1, x1

    def box(self, y, x):
        """The crop box ``(y0, x0, y1, x1)`` of output position ``(y, x)``."""
        return tuple(int(v[0]) for v in self.boxes([y], [x]))

    def describe(self):
        """Its nominal geometry per axis, for the pool run record: ``size`` (pixels
        seen by an inner position), ``jump`` (pixels between neighbouring
        positions), ``top`` (where position 0's span starts), ``exact``."""
        size, jump, top = [], [], []
        for a in range(2):
            s, e = self.starts[a], self.ends[a]
            ok = e > s
            size.append(float((e - s)[ok].max()) if ok.any() else 0.0)
            d = np.diff(s[ok]) if ok.sum() > 1 else np.zeros(1)
            jump.append(float(np.median(d)) if len(d) else 0.0)
            top.append(float(s[ok][0]) if ok.any() else 0.0)
        return {"size": size, "jump": jump, "top": top, "exact": self.exact}


def _axis_input(n):
    return np.arange(n, dtype=np.float64), np.arange(1, n + 1, dtype=np.float64)


def whole_image(image_hw, out_hw):
    """The field of a layer whose every position sees the whole image."""
    return Field(
        tuple(np.zeros(out_hw[a]) for a in range(2)),
        tuple(np.full(out_hw[a], float(image_hw[a])) for a in range(2)),
        tuple(image_hw),
        exact=False,
    )


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)[:2]


def _gather(field, index):
    """The union of the spans of input positions ``index`` [n_out, taps] per axis
    (taps outside the input see nothing)."""
    starts, ends = [], []
    for a in range(2):
        idx = index[a]
        valid = (idx >= 0) & (idx < len(field.starts[a]))
        safe = np.clip(idx, 0, len(field.starts[a]) - 1)
        starts.append(np.where(valid, field.starts[a][safe], np.inf).min(axis=1))
        ends.append(np.where(valid, field.ends[a][safe], -np.inf).max(axis=1))
    return Field(tuple(starts), tuple(ends), field.image_hw, field.exact)


def _window(field, k, s, d, padding, out_hw):
    index = []
    for a in range(2):
        n = len(field.starts[a])
        k_eff = d[a] * (k[a] - 1) + 1
        pad = max((math.ceil(n / s[a]) - 1) * s[a] + k_eff - n, 0) // 2 if padding == "same" else 0
        i = np.arange(out_hw[a])[:, None]
        index.append(i * s[a] - pad + np.arange(k[a])[None, :] * d[a])
    return _gather(field, index)


def _shifted(field, offsets, out_hw):
    """Output position ``i`` is input position ``i + offset`` (per axis)."""
    return _gather(field, [np.arange(out_hw[a])[:, None] + offsets[a] for a in range(2)])


def _union(fields, image_hw, out_hw):
    """The field covering every field of ``fields`` (the inputs of a merge)."""
    if any(len(f.starts[a]) != out_hw[a] for f in fields for a in range(2)):
        return whole_image(image_hw, out_hw)
    starts = tuple(np.min([f.starts[a] for f in fields], axis=0) for a in range(2))
    ends = tuple(np.max([f.ends[a] for f in fields], axis=0) for a in range(2))
    return Field(starts, ends, tuple(image_hw), all(f.exact for f in fields))


def _layer_field(info, inputs, image_hw):
    """The field of ``info``'s output from its inputs' fields."""
    layer, cls = info.layer, info.class_name
    out_hw = tuple(info.output_shape[:2])
    if not inputs or any(d is None for d in out_hw):
        return whole_image(image_hw, out_hw if None not in out_hw else (1, 1))
    if len(inputs) > 1 or cls in POINTWISE:
        return _union(inputs, image_hw, out_hw)
    field = inputs[0]
    bases = {c.__name__ for c in type(layer).__mro__}
    if kernels_lib.is_conv(layer) and getattr(layer, "rank", 2) == 2 and "BaseConvTranspose" not in bases:
        k, s = _pair(layer.kernel_size), _pair(layer.strides)
        return _window(field, k, s, _pair(layer.dilation_rate), layer.padding, out_hw)
    if cls in _POOLING:
        k = _pair(layer.pool_size)
        s = _pair(layer.strides) if layer.strides is not None else k
        return _window(field, k, s, (1, 1), layer.padding, out_hw)
    if cls == "ZeroPadding2D":
        (t, _), (l, _) = layer.padding
        return _shifted(field, (-t, -l), out_hw)
    if cls == "Cropping2D":
        (t, _), (l, _) = layer.cropping
        return _shifted(field, (t, l), out_hw)
    if cls == "UpSampling2D":
        u = _pair(layer.size)
        return _gather(field, [np.arange(out_hw[a])[:, None] // u[a] for a in range(2)])
    return whole_image(image_hw, out_hw)


def receptive_fields(model, infos=None):
    """The :class:`Field` of every map layer of ``model`` (and of its input).

    Args:
        model: a Functional or built Sequential Keras model with one image input.
        infos: :func:`cnn_tb.model.graph.walk` of the model, when already walked.

    Returns:
        ``{layer name: Field}`` for every layer whose output is an image-shaped
        map (nested layers named ``outer/inner``), in input pixels.
    """
    infos = graph.walk(model) if infos is None else infos
    by_name = {i.name: i for i in infos}
    shape = tuple(graph.model_input(model).shape[1:])
    image_hw = tuple(int(d) if d is not None else 1 for d in shape[:2])
    fields = {}

    def is_map(info):
        return len(info.output_shape) == 3

    def nested(info):
        return info.class_name != "InputLayer" and graph.graph_model(info.layer) is not None

    def field_of(name):
        if name in fields:
            return fields[name]
        info = by_name[name]
        out_hw = tuple(d if d is not None else 1 for d in info.output_shape[:2]) if is_map(info) else (1, 1)
        if info.kind == INPUT:
            out = Field(*zip(*[_axis_input(image_hw[a]) for a in range(2)]), image_hw)
        elif nested(info):
            inner = f"{name}/{graph.output_layer(info.layer).name}"  # its output layer's field
            out = field_of(inner) if inner in by_name and is_map(by_name[inner]) else whole_image(image_hw, out_hw)
        else:
            ins = [i for i in info.inbound if i in by_name]
            in_fields = [field_of(i) if is_map(by_name[i]) else whole_image(image_hw, out_hw) for i in ins]
            out = _layer_field(info, in_fields, image_hw)
        fields[name] = out
        return out

    # In network order, a nested model's own entry after its layers: every
    # layer's inputs are known when it is reached (no deep recursion).
    for info in sorted(infos, key=nested):
        if info.kind == INPUT or is_map(info):
            field_of(info.name)
    return {i.name: fields[i.name] for i in infos if i.kind == INPUT or is_map(i) and i.kind != OTHER}
