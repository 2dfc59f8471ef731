"""What a Keras model looks like to cnn_tb: its layers in network order, their
kinds, shapes and connections, and which of them get logged.

This is the one place that walks a model's layers. Only reading the model
happens here; the forward pass lives in :mod:`cnn_tb.model.capture`.
"""

import dataclasses

import keras

from cnn_tb.contract import records
from cnn_tb.contract.tags import INPUT, MAP, OTHER, VECTOR
from cnn_tb.model import kernels as kernels_lib

# Layers that are the identity (or a pure reshape) at inference time: skipped
# by the default layer selection, logged only when named explicitly.
_PASS_THROUGH = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Identity",
    "InputLayer",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomCrop",
    "RandomBrightness",
)


@dataclasses.dataclass
class LayerInfo:
    """One layer of the (flattened) model graph."""

    name: str  # unique; "outer/inner" for layers of nested models
    layer: object
    class_name: str
    kind: str  # MAP, VECTOR, INPUT or OTHER
    output_shape: tuple  # without the batch axis
    inbound: list  # names of the layers feeding this one
    params: int
    parent: str = None  # name of the nested model holding it, or None
    activation: str = None
    is_conv: bool = False
    kernel_shape: tuple = None
    logged: bool = False

    @classmethod
    def of_layer(cls, layer):
        """The entry of a layer outside any walked graph (a subclassed model's conv layer)."""
        return cls(
            name=layer.name,
            layer=layer,
            class_name=type(layer).__name__,
            kind=OTHER,
            output_shape=(),
            inbound=[],
            params=0,
            is_conv=kernels_lib.is_conv(layer),
        )

    def describe(self):
        """The entry of the run record's ``layers`` list."""
        return records.layer_entry(
            name=self.name,
            **{"class": self.class_name},
            output_shape=list(self.output_shape),
            params=int(self.params),
            inbound=list(self.inbound),
            kind=self.kind,
            logged=bool(self.logged),
            activation=self.activation,
            is_conv=bool(self.is_conv),
            kernel_shape=list(self.kernel_shape) if self.kernel_shape else None,
            parent=self.parent,
        )


def is_graph_model(model):
    """True for Functional and built Sequential models (those with a layer graph)."""
    return graph_model(model) is not None


def graph_model(model):
    """The Functional graph of ``model`` (a built Sequential's inner one), or None."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_operations") and hasattr(model, "_nodes"):
        return model
    return None


def require_graph_model(model):
    """Raise a clear error for models whose layers cannot be reached."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"cnn_tb needs a keras.Model. Received: {type(model).__module__}."
            f"{type(model).__name__}"
        )
    if graph_model(model) is None:
        if isinstance(model, keras.Sequential):
            raise ValueError(
                f"The Sequential model {model.name!r} is not built, so its layers have "
                "no outputs yet. Give it an input shape, e.g. "
                "`keras.Sequential([keras.Input((32, 32, 3)), ...])`, or call "
                "`model.build((None, 32, 32, 3))` before training."
            )
        raise ValueError(
            f"cnn_tb cannot read the layers of {model.name!r}: it is a subclassed "
            f"keras.Model ({type(model).__name__}), whose intermediate outputs are only "
            "known inside its Python `call()`. Build the same network with the "
            "Functional API (`keras.Model(inputs, outputs)`) or keras.Sequential, "
            "or use cnn_tb.KernelGrids, which needs only the weights."
        )
    if len(model.inputs) != 1:
        raise ValueError(
            f"cnn_tb supports models with one image input; {model.name!r} has "
            f"{len(model.inputs)} inputs."
        )


def _shape(tensor):
    return tuple(tensor.shape[1:])


def _kind(class_name, shape):
    if class_name == "InputLayer":
        return INPUT
    if len(shape) == 3:
        return MAP
    if len(shape) == 1:
        return VECTOR
    return OTHER


def _activation_name(layer):
    act = getattr(layer, "activation", None)
    if act is None:
        if type(layer).__name__ == "Softmax":
            return "softmax"
        return None
    name = getattr(act, "__name__", None) or type(act).__name__
    return str(name)


def node_in(model, layer):
    """The node of ``layer`` that belongs to ``model``'s graph (``None`` if none)."""
    graph = graph_model(model)
    for index, node in enumerate(layer._inbound_nodes):
        if f"{id(layer)}_ib-{index}" in graph._nodes:
            return node
    return None


def _inbound(model, layer):
    """Names of the operations feeding ``layer`` inside ``model``'s graph."""
    node = node_in(model, layer)
    names = []
    for t in node.arguments.keras_tensors if node is not None else []:
        op = t._keras_history.operation
        if op.name not in names:
            names.append(op.name)
    return names


def walk(model, prefix="", parent=None):
    """All layers of ``model`` in network order, nested models expanded.

    Returns:
        list of :class:`LayerInfo`. A nested model appears as its own entry
        (its output) followed by the entries of its layers, named
        ``"<nested>/<layer>"``.
    """
    require_graph_model(model)
    graph = graph_model(model)
    infos = []
    for op in graph._operations:
        if not isinstance(op, keras.layers.Layer):
            continue
        name = prefix + op.name
        class_name = type(op).__name__
        if class_name == "InputLayer":
            shape = _shape(op.output)
        else:
            try:
                shape = _shape(op.output)
            except (AttributeError, ValueError):
                shape = ()  # shared layer or several outputs: not loggable
            if isinstance(op.output, (list, tuple)):
                shape = ()
        inbound = [prefix + n for n in _inbound(model, op)] if class_name != "InputLayer" else []
        kernel = kernels_lib.kernel_shape(op)
        info = LayerInfo(
            name=name,
            layer=op,
            class_name=class_name,
            kind=_kind(class_name, shape),
            output_shape=shape,
            inbound=inbound,
            params=int(op.count_params()) if op.built else 0,
            parent=parent,
            activation=_activation_name(op),
            is_conv=kernels_lib.is_conv(op),
            kernel_shape=kernel,
        )
        if isinstance(op, keras.Model) and graph_model(op) is not None:
            # The nested model's own entry first (its output), then its layers.
            inner = walk(op, prefix=name + "/", parent=name)
            for sub in inner:
                if sub.class_name == "InputLayer" and sub.parent == name:
                    sub.inbound = list(inbound)
            info.kind = info.kind if info.kind != INPUT else OTHER
            infos.append(info)
            infos.extend(inner)
            continue
        if parent is not None and class_name == "InputLayer":
            info.kind = OTHER  # the inner input of a nested model
        infos.append(info)
    return infos


def all_layers(model):
    """Every layer object inside ``model``, nested models expanded, each once.

    Graph models give their layers in network order; other models (subclassed
    ones, whose graph is only known inside ``call()``) give the layers Keras
    tracks as their attributes, in the order it tracks them.
    """
    graph = graph_model(model)
    if graph is None:
        return list(model._flatten_layers(include_self=False, recursive=True))
    out = []
    for op in graph._operations:
        if isinstance(op, keras.layers.Layer):
            out.append(op)
            if isinstance(op, keras.Model):
                out.extend(all_layers(op))
    return out


def model_input(model):
    """The (single) input tensor of a graph model."""
    return graph_model(model).inputs[0]


def model_output(model):
    """The (first) output tensor of a graph model."""
    return graph_model(model).outputs[0]


def _matches(info, selector):
    if isinstance(selector, str):
        return info.name == selector or info.layer.name == selector
    if isinstance(selector, type):
        return isinstance(info.layer, selector)
    return False


def default_selection(info):
    """The default ``layers=`` rule: every map or vector layer but pass-throughs."""
    if info.kind not in (MAP, VECTOR):
        return False
    if info.class_name in _PASS_THROUGH:
        return False
    return True


def validate_layers_arg(layers, name="layers"):
    """Check the form of a ``layers=``-like argument (not the names: that needs the model).

    Raises:
        TypeError: ``layers`` is not None, a callable, or a list of names/types.
    """
    if layers is None or callable(layers) and not isinstance(layers, type):
        return
    if name == "dashboard_layers" and isinstance(layers, str) and layers == "all":
        return
    items = [layers] if isinstance(layers, (str, type)) else layers
    try:
        items = list(items)
    except TypeError:
        raise TypeError(
            f"`{name}` must be None, a list of layer names or layer classes, or a "
            f"predicate `fn(layer) -> bool`. Received: {name}={layers!r}"
        ) from None
    for item in items:
        if not isinstance(item, (str, type)):
            raise TypeError(
                f"`{name}` entries must be layer names (str) or layer classes. "
                f"Received the entry {item!r} in {name}={layers!r}"
            )
    if not items:
        raise ValueError(f"`{name}` is an empty list: nothing would be logged. Received: {name}=[]")


def select(infos, layers=None):
    """Mark the layers to log; returns the selected :class:`LayerInfo` list.

    Args:
        infos: the result of :func:`walk`.
        layers: ``None`` (default rule), a predicate ``fn(keras_layer) -> bool``,
            or a list of layer names and/or layer classes (a single one is fine).

    Raises:
        ValueError: a named layer does not exist or cannot be logged.
    """
    validate_layers_arg(layers)
    if layers is None:
        chosen = [i for i in infos if default_selection(i)]
    elif callable(layers) and not isinstance(layers, type):
        chosen = [i for i in infos if i.kind in (MAP, VECTOR) and layers(i.layer)]
    else:
        items = [layers] if isinstance(layers, (str, type)) else list(layers)
        chosen = []
        for item in items:
            hits = [i for i in infos if _matches(i, item)]
            if isinstance(item, str):
                if not hits:
                    names = [i.name for i in infos if i.kind != INPUT]
                    raise ValueError(
                        f"`layers` names a layer that the model does not have: {item!r}. "
                        f"Layers of the model: {names}"
                    )
                bad = [i for i in hits if i.kind not in (MAP, VECTOR)]
                if bad:
                    raise ValueError(
                        f"Layer {item!r} cannot be logged: its output shape "
                        f"{bad[0].output_shape} is neither an image-shaped map (H, W, C) "
                        "nor a vector."
                    )
            chosen.extend(i for i in hits if i.kind in (MAP, VECTOR))
        chosen_ids = {id(i) for i in chosen}
        chosen = [i for i in infos if id(i) in chosen_ids]  # network order, no repeats
    chosen_ids = {id(i) for i in chosen}
    for info in infos:
        info.logged = id(info) in chosen_ids
    return chosen


# Layers that only pad or crop: they are not what a stage of the network computes.
_PADDING = ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D")
DASHBOARD_LIMIT = 16  # layers in the built-in dashboards of a big model, by default
DASHBOARD_ALL_UP_TO = 24  # models logging at most this many layers show every layer


def representative(selected, limit=DASHBOARD_LIMIT):
    """At most ``limit`` of ``selected`` that stand for the whole network.

    The last layer of each spatial-resolution stage (a run of map layers, in
    network order, with the same height and width; padding and cropping layers
    left out), the first and the last conv layer, and the last logged layer
    (the output). When that is more than ``limit``, the first conv, the last
    conv and the output stay and the stage ends are thinned evenly.
    """
    maps = [i for i in selected if i.kind == MAP and i.class_name not in _PADDING]
    if not maps:  # nothing known of the shapes (a subclassed model's conv layers): evenly spaced
        n = min(limit, len(selected))
        return [selected[round(k * (len(selected) - 1) / max(1, n - 1))] for k in range(n)]
    stage_ends = [a for a, b in zip(maps, maps[1:] + [None]) if b is None or b.output_shape[:2] != a.output_shape[:2]]
    convs = [i for i in selected if i.is_conv]
    fixed = [i for i in (convs[:1] + convs[-1:] + selected[-1:])]
    room = max(0, limit - len({id(i) for i in fixed}))
    rest = [i for i in stage_ends if all(i is not f for f in fixed)]
    if len(rest) > room:
        rest = [rest[round(k * (len(rest) - 1) / max(1, room - 1))] for k in range(room)] if room else []
    chosen = {id(i) for i in fixed + rest}
    return [i for i in selected if id(i) in chosen]


def dashboard(selected, spec=None):
    """The logged layers shown in the built-in dashboards (Images, Scalars, Histograms).

    Args:
        selected: the logged layers (network order).
        spec: ``None`` (every layer when at most ``DASHBOARD_ALL_UP_TO`` are
            logged, else :func:`representative`), ``"all"``, layer names and/or
            classes, or a predicate ``fn(layer) -> bool``.

    Raises:
        ValueError: a named layer that is not logged.
    """
    if spec is None:
        return list(selected) if len(selected) <= DASHBOARD_ALL_UP_TO else representative(selected)
    if isinstance(spec, str) and spec == "all":
        return list(selected)
    if callable(spec) and not isinstance(spec, type):
        return [i for i in selected if spec(i.layer)]
    items = [spec] if isinstance(spec, (str, type)) else list(spec)
    chosen = []
    for item in items:
        hits = [i for i in selected if _matches(i, item)]
        if isinstance(item, str) and not hits:
            raise ValueError(
                f"`dashboard_layers` names a layer that is not logged: {item!r}. "
                f"Logged layers: {[i.name for i in selected]}"
            )
        chosen.extend(hits)
    ids = {id(i) for i in chosen}
    return [i for i in selected if id(i) in ids]


def output_kind(model):
    """``"softmax"``, ``"sigmoid"`` or ``"logits"``: what the model's output holds."""
    name = _activation_name(output_layer(model))
    if name in ("softmax", "log_softmax"):
        return "softmax" if name == "softmax" else "logits"
    if name == "sigmoid":
        return "sigmoid"
    return "logits"


def output_layer(model):
    """The layer producing the model's (first) output."""
    return model_output(model)._keras_history.operation
