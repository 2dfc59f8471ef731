"""What a Keras model looks like to cnn_tb: its layers in network order, their
kinds, shapes and connections (which of them get logged: :mod:`cnn_tb.model.selection`).

This is the one place that walks a model's layers. Only reading the model
happens here; the forward pass lives in :mod:`cnn_tb.model.capture`.
"""

import dataclasses

import keras

from cnn_tb.contract import records
from cnn_tb.contract.tags import INPUT, MAP, OTHER, VECTOR
from cnn_tb.model import kernels as kernels_lib

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
