"""Attaching a model: the checks of a model against the probes, layers and kinds,
and the :class:`~cnn_tb.summaries.base.ModelContext` every kind shares."""

from cnn_tb.contract import tags
from cnn_tb.model import graph, selection
from cnn_tb.model import kernels as kernels_lib
from cnn_tb.summaries.base import ModelContext


def inspect(model, probes, layers, dashboard_layers, settings, kinds):
    """Check ``model`` against the probes and kinds; the :class:`ModelContext` they share.

    Raises:
        ValueError / TypeError: a model, layer selection or probe set that does not fit.
    """
    names = tuple(k.name for k in kinds)
    needs_forward = any(k.needs_probes for k in kinds)
    if not needs_forward:
        convs = [l for l in graph.all_layers(model) if kernels_lib.is_conv(l)]
        conv_infos = [graph.LayerInfo.of_layer(l) for l in convs]
        kernel_infos = [i for i in conv_infos if not kernels_lib.unsupported_reason(i.layer)]
        shown = [i.name for i in selection.dashboard(kernel_infos, dashboard_layers)]
        return ModelContext(model, probes, None, [], conv_infos, kernel_infos, [], None, settings, names, shown)
    graph.require_graph_model(model)
    infos = graph.walk(model)
    selected = selection.select(infos, layers)
    if not any(i.kind == tags.MAP for i in selected):
        all_maps = [i.name for i in infos if i.kind == tags.MAP]
        if not all_maps:
            raise ValueError(
                f"Model {model.name!r} has no layer with an image-shaped output (H, W, C): cnn_tb shows "
                f"what convolutional layers do. Layers: {[(i.name, i.class_name, i.output_shape) for i in infos]}"
            )
        raise ValueError(
            f"None of the selected layers has an image-shaped output (H, W, C). "
            f"Layers with one: {all_maps}. Received: layers={layers!r}"
        )
    probes.check_against_model(tuple(graph.model_input(model).shape[1:]), graph.model_output(model).shape[-1])
    conv_infos = [i for i in infos if i.is_conv]
    kernel_infos = [i for i in conv_infos if not kernels_lib.unsupported_reason(i.layer)]
    gradcam_layers = []
    if any(k.wants_gradcam for k in kinds):
        gradcam_layers = [i.name for i in selected if i.is_conv and i.parent is None and i.kind == tags.MAP]
    shown = [i.name for i in selection.dashboard(selected, dashboard_layers)]
    return ModelContext(
        model, probes, infos, selected, conv_infos, kernel_infos, gradcam_layers, graph.output_kind(model), settings,
        names, shown,
    )
