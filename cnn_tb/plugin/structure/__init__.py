"""The block structure of a model, computed from the run record's layer list.

The flow view shows a network of any depth on one screen by folding its
layers into at most two levels of blocks: *stages* (``conv3`` of a ResNet,
the 4x4 part of a MobileNetV2) whose children are *units* (``conv3_block2``,
``block_5``, ``mixed7``) whose children are layers. So every layer is at most
two clicks away, and the top level (blocks and the layers left outside any
block, the input and the output among them) has at most :data:`MAX_TOP`
visible items.

Where the blocks come from, in this order:

1. **Nested models.** A nested model of up to :data:`NESTED_UNIT_MAX` layers
   (ConvNeXt's stem and downsampling ``Sequential`` s) is one unit; a bigger
   one (a backbone) is unfolded into its own stages and units. A nested
   model's own entry (its output) is shown after its layers.
2. **The graph.** A boundary between two layers (in network order) where only
   one tensor is alive, the output of the layer before it, cuts the network:
   the layers between two cuts that are more than one form a unit (a residual
   or inception unit ending in its Add/Concatenate/Multiply). A run longer
   than :data:`UNIT_MAX` layers without such a cut (NASNet's cells feed the
   next two cells) is split where the fewest tensors are alive.
3. **Names.** Keras' application models name their layers by block
   (``conv3_block2_1_conv``, ``block_5_expand``, ``block2a_se_squeeze``,
   ``stage_0_block_1_gelu``). Layers outside graph units whose names share a
   prefix ending in a numbered token form a unit; a layer joins the unit
   beside it when its name carries the unit's name. Units whose names share a
   stage prefix (``conv3_block*``, ``block2a``/``block2b``,
   ``stage_0_block_*``, ``block35_*``) form a stage. Keras' generic names
   (``conv2d_57``, ``batch_normalization_12``, ``activation_187``: the class
   name in snake case and a counter) carry no structure and are ignored;
   graph units hold such models together (InceptionV3, InceptionResNetV2,
   NASNet).
4. **Resolution.** When the top level still has more than :data:`MAX_TOP`
   items, runs of items with the same spatial output size become stages.
5. **Stem and head.** Layers before the first stage and after the last one
   (but the output layer) become a ``stem`` and a ``head`` block.
6. **Bound.** If the top level is still too long, the two smallest
   neighbours are merged until it fits.

A model with at most :data:`MAX_TOP` shown layers is not folded at all.

The result (see :func:`block_structure`) is served with ``/run`` as
``blocks`` (``API.md``). It is computed when a run record is read, so runs
written by any cnn_tb version get it; it never raises on odd records (unknown
inbound names, cycles in ``parent``): the worst case is a flat list.

Modules: :mod:`~cnn_tb.plugin.structure.names` (what a layer name says),
:mod:`~cnn_tb.plugin.structure.model` (the layer list in display order, the
items blocks are made of), :mod:`~cnn_tb.plugin.structure.units` (passes 1 to
3: units of a zone), :mod:`~cnn_tb.plugin.structure.stages` (stages, stem and
head, chunks), :mod:`~cnn_tb.plugin.structure.top` (zones and the bound).
Here: :func:`block_structure`, :func:`flat_structure` and the JSON form; the
constants and name functions of the modules are re-exported.
"""

from cnn_tb.plugin.structure.model import ModelView
from cnn_tb.plugin.structure.names import CONTAINER_WORDS, is_generic_name, name_levels, snake_case, stage_key
from cnn_tb.plugin.structure.stages import CHUNK
from cnn_tb.plugin.structure.top import NESTED_UNIT_MAX, Top
from cnn_tb.plugin.structure.units import MERGE_CLASSES, UNIT_MAX

# Visible top-level items (blocks and loose layers, the input and the output
# among them): two rows of cards at 1600 px.
MAX_TOP = 16
STRUCTURE_VERSION = 1

__all__ = [
    "CHUNK",
    "CONTAINER_WORDS",
    "MAX_TOP",
    "MERGE_CLASSES",
    "NESTED_UNIT_MAX",
    "STRUCTURE_VERSION",
    "UNIT_MAX",
    "block_structure",
    "flat_structure",
    "is_generic_name",
    "name_levels",
    "snake_case",
    "stage_key",
]


def block_structure(layers, model_name=None, output_layer=None, max_top=MAX_TOP):
    """The blocks of a run record's ``layers`` list.

    Args:
        layers: the run record's layer entries in network order (``name``,
            ``class``, ``inbound``, ``parent``, ``output_shape``, ``kind``,
            ``logged`` are read).
        model_name: the record's ``model_name`` (stripped from layer names).
        output_layer: the output layer's name; it stays on the top level.
        max_top: bound on the visible top-level items.

    Returns:
        ``{"version", "max_top", "flat", "top", "blocks"}``. ``top`` lists the
        top level in display order as ``["layer", index]`` and
        ``["block", id]`` pairs. ``blocks[id]`` is ``{"id", "name", "level"
        (1 or 2), "kind" ("stage" or "unit"), "via", "children", "first",
        "last", "output", "layers", "merge"}``: ``children`` in the same pair
        form, ``first``/``last`` the network-order range it covers,
        ``output`` the index of the layer that shows the block's output (its
        last logged layer), ``layers`` how many layers it holds, ``merge`` the
        class of a graph unit's last merge layer. ``flat`` is true (and
        ``blocks`` empty) when the model is small enough to show whole.
    """
    layers = list(layers or [])
    shown = [bool(l.get("logged")) or l.get("kind") == "input" for l in layers]
    if not layers:
        return flat_structure(0, max_top)
    model = ModelView(layers, model_name)
    if sum(shown) <= max_top:
        return dict(flat_structure(0, max_top), top=[["layer", i] for i in model.order])
    return _serialize(model, Top(model, shown, output_layer, max_top).top_items(), max_top)


def flat_structure(n, max_top=MAX_TOP):
    """The structure of ``n`` layers shown as they are, without blocks."""
    return {"version": STRUCTURE_VERSION, "max_top": max_top, "flat": True, "top": [["layer", i] for i in range(n)], "blocks": []}


def _serialize(model, items, max_top):
    blocks = []

    def visit(item, level):
        if item.is_layer:
            return ["layer", model.order[item.pos]]
        entry = {"id": len(blocks)}
        blocks.append(entry)
        children = [visit(c, level + 1) for c in item.children]
        idx = [model.order[p] for p in item.positions()]
        logged = [i for i in idx if model.layers[i].get("logged")]
        entry.update(
            name=model.label(item),
            level=level,
            kind=item.kind,
            via=item.via,
            children=children,
            first=min(idx),
            last=max(idx),
            output=(logged or idx)[-1],
            layers=len(idx),
            merge=item.merge,
        )
        return ["block", entry["id"]]

    top = [visit(it, 1) for it in items]
    return {"version": STRUCTURE_VERSION, "max_top": max_top, "flat": False, "top": top, "blocks": blocks}
