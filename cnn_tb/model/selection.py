"""Which layers get logged (``layers=``), and which of those the built-in
dashboards show (``dashboard_layers=``).

The CNN Flow tab shows every logged layer; the Images, Scalars and Histograms
dashboards of a model with more than ``DASHBOARD_ALL_UP_TO`` logged layers show
a representative subset of at most ``DASHBOARD_LIMIT`` (:func:`representative`).
"""

from cnn_tb.contract.tags import INPUT, MAP, VECTOR

# Layers that are the identity (or a pure reshape) at inference time: skipped
# by the default layer selection, logged only when named explicitly.
PASS_THROUGH = (
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
    if info.class_name in PASS_THROUGH:
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
    """Mark the layers to log; returns the selected :class:`~cnn_tb.model.graph.LayerInfo` list.

    Args:
        infos: the result of :func:`cnn_tb.model.graph.walk`.
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
