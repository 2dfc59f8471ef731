"""Argument checks of feature visualization: the layer, its channels, the size, the seed."""

import numbers

import numpy as np

from cnn_tb import _validate
from cnn_tb.contract.tags import MAP


def find_map_layer(model, layer):
    """The :class:`~cnn_tb.model.graph.LayerInfo` of ``layer``, which must have an (H, W, C) output.

    Raises:
        TypeError / ValueError: not a graph model, no such layer, or not a map layer.
    """
    from cnn_tb.model import graph

    graph.require_graph_model(model)
    return find_map_layer_in(graph.walk(model), layer, model.name)


def find_map_layer_in(infos, layer, model_name="the model"):
    """:func:`find_map_layer` over the layers ``infos`` of :func:`cnn_tb.model.graph.walk`."""
    maps = [i.name for i in infos if i.kind == MAP]
    if not isinstance(layer, str):
        raise TypeError(f"`layer` must be a layer name (str). Received: layer={layer!r}")
    hits = [i for i in infos if i.name == layer] or [i for i in infos if i.layer.name == layer]
    if not hits:
        raise ValueError(
            f"`layer` names a layer that model {model_name!r} does not have. Layers with an image-shaped "
            f"output: {maps}. Received: layer={layer!r}"
        )
    info = hits[0]
    if info.kind != MAP:
        raise ValueError(
            f"Layer {info.name!r} is not a map layer: its output shape is {tuple(info.output_shape)}, and "
            f"feature visualization needs an image-shaped (H, W, C) output. Layers with one: {maps}. "
            f"Received: layer={layer!r}"
        )
    if info.output_shape[-1] is None:
        raise ValueError(f"Layer {info.name!r} has no fixed channel count: output shape {tuple(info.output_shape)}.")
    return info


def check_channels(channels, info):
    """``channels`` as a list of distinct ints within the layer's channels (``None`` = all).

    Raises:
        ValueError / TypeError: naming the layer's channel count and what was received.
    """
    count = int(info.output_shape[-1])
    expected = (
        f"distinct channel indices of layer {info.name!r}, which has {count} channels (0..{count - 1})"
    )
    if channels is None:
        return list(range(count))
    if isinstance(channels, (numbers.Integral, np.integer)) and not isinstance(channels, (bool, np.bool_)):
        items = [channels]
    elif isinstance(channels, (str, bytes, dict, set)) or not hasattr(channels, "__iter__"):
        raise TypeError(f"`channels` must be {expected}: an int, a list or a range. Received: channels={channels!r}")
    else:
        items = list(channels)
    shown = list(channels) if isinstance(channels, range) else channels
    bad = [c for c in items if isinstance(c, (bool, np.bool_)) or not isinstance(c, (numbers.Integral, np.integer))]
    if bad:
        raise TypeError(f"`channels` must be {expected}. Received: channels={shown!r}")
    items = [int(c) for c in items]
    if not items or any(c < 0 or c >= count for c in items) or len(set(items)) != len(items):
        raise ValueError(f"`channels` must be {expected}. Received: channels={shown!r}")
    return items


def check_size(size, input_shape):
    h, w = input_shape[0], input_shape[1]
    if size is None:
        if h is None or w is None:
            raise ValueError(
                f"The model's input size is not fixed ({tuple(input_shape)}): pass `size=(height, width)`. "
                "Received: size=None"
            )
        return int(h), int(w)
    if isinstance(size, (numbers.Integral, np.integer)) and not isinstance(size, (bool, np.bool_)):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Integral, np.integer)) or s < 2 for s in size)
    ):
        raise ValueError(f"`size` must be None, an int >= 2 or a (height, width) pair of ints >= 2. Received: size={size!r}")
    size = (int(size[0]), int(size[1]))
    if (h is not None and h != size[0]) or (w is not None and w != size[1]):
        raise ValueError(
            f"`size` must match the model's fixed input size {(h, w)} (or leave it None). Received: size={size!r}"
        )
    return size


def check_seed(seed):
    return _validate.integer("seed", seed, minimum=0)


def float16_on_the_way(model, layer):
    """True when a layer of the model computes in float16 (mixed precision)."""
    from cnn_tb.model import graph

    return any(getattr(getattr(l, "dtype_policy", None), "compute_dtype", None) == "float16" for l in graph.all_layers(model))
