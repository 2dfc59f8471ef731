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
"""

from cnn_tb.plugin.structure.model import Item, ModelView, block
from cnn_tb.plugin.structure.names import common_prefix, container_below, stage_key

# re-exported: the tests and callers read them here
from cnn_tb.plugin.structure.names import CONTAINER_WORDS, is_generic_name, name_levels, snake_case  # noqa: F401

# Visible top-level items (blocks and loose layers, the input and the output
# among them): two rows of cards at 1600 px.
MAX_TOP = 16
# A graph unit longer than this is split where the fewest tensors are alive.
UNIT_MAX = 64
# A nested model with at most this many layers is one unit.
NESTED_UNIT_MAX = 32
# A stage whose children are all layers is cut into units of at most this many.
CHUNK = 32
STRUCTURE_VERSION = 1

MERGE_CLASSES = frozenset({"Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract", "Dot"})


class _Grouper:
    """Builds the blocks of one model (see the module docstring for the passes)."""

    def __init__(self, model, shown, output_layer, max_top):
        self.m = model
        self.shown = shown
        self.max_top = max_top
        n = len(model.order)
        # Layers that stay alone on the top level: inputs, the output, and the
        # entries of big nested models (their layers are unfolded before them,
        # so a block holding an entry would not be contiguous in network order).
        self.fixed = {p for p in range(n) if model.layer(p).get("kind") == "input"}
        self.fixed.add(model.pos[model.index.get(output_layer, model.order[-1])])
        # Display positions where a new zone starts: the first layer of each big nested model.
        self.walls = set()
        for i in range(n):
            if model.end[i] > i + NESTED_UNIT_MAX:
                self.fixed.add(model.pos[i])
                self.walls.add(min(model.pos[j] for j in range(i + 1, model.end[i] + 1)))

    # ------------------------------------------------------------ units

    def unit(self, children, via):
        """A unit of ``children`` named by the deepest name prefix its named layers share."""
        m = self.m
        item = block(children, via)
        positions = item.positions()
        named = [m.levels_at(p) for p in positions if m.levels_at(p)]
        label, level = None, 0
        if named:
            for d in range(min(len(lv) for lv in named)):
                if any(lv[d] != named[0][d] for lv in named):
                    break
                label, level = named[0][d], d + 1
        if label is None:
            words = [p for p in positions if m.word_key(p)]
            if words and len({m.word_key(p) for p in words}) == 1 and all(m.word_key(p) or m.is_generic(p) for p in positions):
                label = common_prefix([m.local_at(p) for p in words])
        if label is None:
            named_pos = [p for p in positions if not m.is_generic(p)]
            label = m.local_at((named_pos or positions)[-1])
        item.label, item.level = label, level
        item.stage = stage_key(label, level) if level else None
        merges = [p for p in positions if str(m.layer(p).get("class")) in MERGE_CLASSES]
        item.merge = str(m.layer(merges[-1]).get("class")) if merges else None
        return item

    def segments(self, lo, hi, live):
        """Graph units of positions ``lo..hi`` as ``[(a, b)]`` ranges, in order."""
        segs, start, reach = [], lo, -1
        for p in range(lo, hi + 1):
            if p > lo:
                reach = max(reach, self.m.far[p - 1])
            if reach <= p:
                segs.append((start, p))
                start = p + 1
        if start <= hi:
            segs.append((start, hi))
        out = []
        for a, b in segs:
            out.extend(_split_long(a, b, live))
        return out

    def units(self, lo, hi, live, nested):
        """Units and loose layers of positions ``lo..hi``, in order."""
        ranges = []
        for a, b in self.segments(lo, hi, live):
            for na, nb in nested:  # a small nested model is one unit, whatever its inner cuts
                if a <= nb and b >= na:
                    a, b = min(a, na), max(b, nb)
            while ranges and ranges[-1][1] >= a:
                a = min(a, ranges.pop()[0])
            ranges.append((a, b))
        items = []
        for a, b in ranges:
            if b > a:
                via = "model" if (a, b) in nested else "graph"
                items.append(self.unit([Item(pos=p) for p in range(a, b + 1)], via))
            else:
                items.append(Item(pos=a))
        items = self.join_by_name(items)
        items = self.name_runs(items)
        return self.merge_same_units(items)

    def joins(self, unit, item):
        """True when loose layer ``item`` carries the name of ``unit`` (``conv2_block1_out``)."""
        if unit.is_layer or unit.kind != "unit" or unit.level == 0 or not item.is_layer:
            return False
        lv = self.m.levels_at(item.pos)
        return len(lv) >= unit.level and lv[unit.level - 1] == unit.label

    def fold(self, items, join):
        """Walk ``items`` joining each to the item before it when ``join(prev, item, pending)``
        absorbs it; generic loose layers wait (``pending``) to see what follows them."""
        out, pending = [], []
        for item in items:
            if item.is_layer and self.m.is_generic(item.pos):
                pending.append(item)
                continue
            if not (out and join(out[-1], item, pending)):
                out.extend(pending)
                out.append(item)
            pending = []
        return out + pending

    def join_by_name(self, items):
        """Loose layers join the graph unit before them when they carry its name."""

        def join(unit, item, pending):
            if not self.joins(unit, item):
                return False
            unit.children.extend(pending + [item])
            return True

        return self.fold(items, join)

    def run_key(self, run):
        """The name key shared by a run of loose layers (generic ones ignored), or None."""
        m = self.m
        named = [r.pos for r in run if not m.is_generic(r.pos)]
        if not named:
            return None
        firsts = {tuple(m.levels_at(p)[:1]) for p in named}
        if len(firsts) == 1 and firsts != {()}:
            return firsts.pop()
        words = {m.word_key(p) for p in named}
        return words.pop() if len(words) == 1 and None not in words else None

    def name_runs(self, items):
        """Runs of loose layers sharing their first name level (``block_1_*``) become units."""
        out, run = [], []

        def close():
            while run and self.m.is_generic(run[-1].pos):  # trailing generic layers stay loose
                tail.insert(0, run.pop())
            if len(run) >= 2:
                out.append(self.split_containers(self.unit(list(run), "names")))
            else:
                out.extend(run)
            out.extend(tail)
            run.clear()
            tail.clear()

        tail = []
        for item in items:
            if item.is_layer and run and (self.m.is_generic(item.pos) or self.run_key(run + [item]) is not None):
                run.append(item)
                continue
            close()
            if item.is_layer and not self.m.is_generic(item.pos) and self.run_key([item]) is not None:
                run.append(item)
            else:
                out.append(item)
        close()
        return out

    def split_containers(self, unit):
        """A name run of numbered containers (``stage_0_block_1_*``) is a stage of units."""
        m = self.m
        if unit.level != 1:
            return unit
        groups, key = [], None
        for child in unit.children:
            lv = m.levels_at(child.pos)
            k = lv[1] if len(lv) >= 2 and container_below(lv[0], lv[1]) else None
            if k is not None and k != key and groups and key is not None or not groups:
                groups.append([])
            if k is not None:
                key = k
            groups[-1].append(child)
        if len(groups) < 2:
            return unit
        units = [self.unit(g, "names") if len(g) >= 2 else g[0] for g in groups]
        return block(units, "names", label=unit.label, level=1)

    def merge_same_units(self, items):
        """Neighbouring units with one name (EfficientNet's ``block2a`` around its SE unit) are one.

        Generic layers between the two join them.
        """

        def join(prev, item, pending):
            same = (
                not prev.is_layer
                and not item.is_layer
                and prev.kind == item.kind == "unit"
                and prev.level
                and prev.level == item.level
                and prev.label == item.label
            )
            if same:
                prev.children.extend(pending + item.children)
                prev.merge = item.merge or prev.merge
                prev.via = prev.via if prev.via == item.via else "graph+names"
            return same

        return self.fold(items, join)

    # ------------------------------------------------------------ stages

    def is_stage(self, item):
        return not item.is_layer and item.kind == "stage"

    def stages_by_name(self, items):
        """Neighbouring units with one stage key (``conv3_block*``) become a stage."""
        out, i = [], 0
        while i < len(items):
            key = items[i].stage if not items[i].is_layer and items[i].kind == "unit" else None
            members, units_seen, j = [], 0, i
            while key is not None and j < len(items):
                nxt = items[j]
                if not nxt.is_layer and nxt.kind == "unit" and nxt.stage == key and nxt.zone == items[i].zone:
                    members.append(nxt)
                    units_seen = len(members)
                elif nxt.is_layer and nxt not in self.keep and nxt.zone == items[i].zone:
                    members.append(nxt)  # a loose layer between two units of the stage
                else:
                    break
                j += 1
            members = members[:units_seen]
            if sum(1 for x in members if not x.is_layer) >= 2:
                out.append(block(members, "names", label=key, level=1))
                i += len(members)
            else:
                out.append(items[i])
                i += 1
        return out

    def stages_by_resolution(self, items):
        """Runs of two or more items with one spatial output size become a stage."""
        out, run, res = [], [], None

        def close():
            if len(run) >= 2:
                ends = [x for x in run if not x.is_layer] or run
                labels = [self.m.label(x) for x in (ends[0], ends[-1])]
                out.append(block(run, "resolution", label=" … ".join(labels)))
            else:
                out.extend(run)
            run.clear()

        for it in items:
            r = None if it in self.keep or self.is_stage(it) else self.m.resolution(it.last())
            if r is not None and run and r == res and it.zone == run[-1].zone:
                run.append(it)
                continue
            close()
            res = r
            (run if r is not None else out).append(it)
        close()
        return out

    def stem_and_head(self, items):
        """Loose items before the first stage and after the last one become ``stem`` / ``head``.

        A unit named as part of a stage (EfficientNet's lone ``block1a``) counts as a stage.
        """
        stages = [k for k, it in enumerate(items) if self.is_stage(it) or (not it.is_layer and it.stage)]
        if not stages:
            return items

        def material(it):
            return it not in self.keep and (it.is_layer or (it.kind == "unit" and it.stage is None))

        first, last = stages[0], stages[-1]
        lo, hi = first, last + 1
        while lo > 0 and material(items[lo - 1]) and items[lo - 1].zone == items[first].zone:
            lo -= 1
        while hi < len(items) and material(items[hi]) and items[hi].zone == items[last].zone:
            hi += 1
        out = list(items)
        if hi - (last + 1) >= 2:
            out[last + 1 : hi] = [self.plainblock(items[last + 1 : hi], "head")]
        if first - lo >= 2:
            out[lo:first] = [self.plainblock(items[lo:first], "stem")]
        return out

    @staticmethod
    def plainblock(members, label):
        """A stem/head block. Its units are unfolded into layers when it is small
        and none of them is a graph unit or a nested model (ResNet's ``conv1``
        and ``pool1``), else they stay units (Xception's ``block2``)."""
        units = [m for m in members if not m.is_layer]
        unfold = sum(m.size() for m in members) <= CHUNK and all(u.via in ("names", "resolution") for u in units)
        children = []
        for m in members:
            children.extend(m.children if not m.is_layer and unfold else [m])
        return block(children, label, label=label)

    # ------------------------------------------------------------ bounds

    def visible(self, item):
        return any(self.shown[self.m.order[p]] for p in item.positions())

    def count(self, items):
        return sum(1 for it in items if self.visible(it))

    def bound(self, items):
        """Merge the smallest neighbours until at most ``max_top`` items are visible."""
        items = list(items)
        while self.count(items) > self.max_top:
            best = None
            for k in range(len(items) - 1):
                a, b = items[k], items[k + 1]
                if a in self.keep or b in self.keep or a.zone != b.zone:
                    continue
                cost = a.size() + b.size()
                if best is None or cost < best[0]:
                    best = (cost, k)
            if best is None:
                break
            k = best[1]
            children = []
            for it in items[k : k + 2]:
                children.extend(it.children if self.is_stage(it) else [it])
            items[k : k + 2] = [block(children, "size")]
        return items

    def chunk(self, item):
        """A long chain (a block of layers not found as one unit) gets units of at most CHUNK layers."""
        if item.is_layer or not all(c.is_layer for c in item.children) or len(item.children) <= CHUNK:
            return item
        if item.via in ("graph", "model", "graph+names"):
            return item
        n = len(item.children)
        step = -(-n // -(-n // CHUNK))
        units = [block(item.children[s : s + step], "chunk") for s in range(0, n, step)]
        return block(units, item.via, label=item.label, level=item.level)

    @staticmethod
    def two_levels(item, level=1):
        """At most two levels of blocks: a block inside a unit is unfolded into layers."""
        if item.is_layer:
            return item
        if level >= 2:
            item.children = [Item(pos=p) for p in item.positions()]
        else:
            item.children = [_Grouper.two_levels(c, level + 1) for c in item.children]
        item.kind = "unit" if all(c.is_layer for c in item.children) else "stage"
        return item

    @staticmethod
    def dissolve(item):
        """A block holding one item is that item."""
        while not item.is_layer and len(item.children) == 1:
            item = item.children[0]
        if not item.is_layer:
            item.children = [_Grouper.dissolve(c) for c in item.children]
        return item

    # ------------------------------------------------------------ all passes

    @staticmethod
    def set_zone(item, zone):
        item.zone = zone
        for c in item.children or ():
            _Grouper.set_zone(c, zone)
        return item

    def top_items(self):
        m = self.m
        n = len(m.order)
        live = m.live()
        nested = []
        for i in range(n):
            if i < m.end[i] <= i + NESTED_UNIT_MAX:
                nested.append((m.pos[i + 1], m.pos[i]))
        nested.sort()
        disjoint = []
        for a, b in nested:  # a small nested model inside another small one is part of it
            if disjoint and a <= disjoint[-1][1]:
                disjoint[-1] = (disjoint[-1][0], max(disjoint[-1][1], b))
            else:
                disjoint.append((a, b))
        items, start, zone = [], 0, 0
        for p in sorted(self.fixed | self.walls) + [n]:
            if p > start:
                inside = [r for r in disjoint if r[0] >= start and r[1] < p]
                zone += 1
                for it in self.units(start, p - 1, live, inside):
                    self.set_zone(it, zone)
                    items.append(it)
            if p < n and p in self.fixed:
                zone += 1
                items.append(self.set_zone(Item(pos=p), zone))
                start = p + 1
            else:
                start = p
        self.keep = {it for it in items if it.is_layer and it.pos in self.fixed}
        items = self.stages_by_name(items)
        items = self.stem_and_head(items)
        if self.count(items) > self.max_top:
            items = self.stages_by_resolution(items)
            items = self.stem_and_head(items)
        items = self.bound([self.chunk(it) for it in items])
        return [self.two_levels(self.dissolve(it)) for it in items]


def _split_long(a, b, live):
    """Split ``a..b`` where the fewest outputs are alive, while it is longer than UNIT_MAX."""
    if b - a + 1 <= UNIT_MAX:
        return [(a, b)]
    low = min(live[p] for p in range(a, b))
    cuts = [p for p in range(a, b) if live[p] == low and (p == a or live[p - 1] != low)]
    if not cuts:
        return [(a, b)]
    pieces, start = [], a
    for c in cuts:
        pieces.append((start, c))
        start = c + 1
    pieces.append((start, b))
    if len(pieces) == 1:
        return pieces
    out = []
    for x, y in pieces:
        out.extend(_split_long(x, y, live))
    return out


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
    grouper = _Grouper(model, shown, output_layer, max_top)
    return _serialize(model, grouper.top_items(), max_top)


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
