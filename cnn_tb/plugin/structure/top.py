"""The bounded top level: zones between fixed layers, their units and stages, then the bound."""

from cnn_tb.plugin.structure.model import Item, block
from cnn_tb.plugin.structure.stages import chunk, is_stage, stages_by_name, stages_by_resolution, stem_and_head
from cnn_tb.plugin.structure.units import Units

# A nested model with at most this many layers is one unit.
NESTED_UNIT_MAX = 32


class Top:
    """Builds the top level of one model (see the package docstring for the passes)."""

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
                children.extend(it.children if is_stage(it) else [it])
            items[k : k + 2] = [block(children, "size")]
        return items

    def top_items(self):
        """The top-level items in display order: blocks of at most two levels and loose layers."""
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
        units = Units(m)
        items, start, zone = [], 0, 0
        for p in sorted(self.fixed | self.walls) + [n]:
            if p > start:
                inside = [r for r in disjoint if r[0] >= start and r[1] < p]
                zone += 1
                for it in units.find(start, p - 1, live, inside):
                    set_zone(it, zone)
                    items.append(it)
            if p < n and p in self.fixed:
                zone += 1
                items.append(set_zone(Item(pos=p), zone))
                start = p + 1
            else:
                start = p
        self.keep = {it for it in items if it.is_layer and it.pos in self.fixed}
        items = stages_by_name(items, self.keep)
        items = stem_and_head(items, self.keep)
        if self.count(items) > self.max_top:
            items = stages_by_resolution(m, items, self.keep)
            items = stem_and_head(items, self.keep)
        items = self.bound([chunk(it) for it in items])
        return [two_levels(dissolve(it)) for it in items]


def two_levels(item, level=1):
    """At most two levels of blocks: a block inside a unit is unfolded into layers."""
    if item.is_layer:
        return item
    if level >= 2:
        item.children = [Item(pos=p) for p in item.positions()]
    else:
        item.children = [two_levels(c, level + 1) for c in item.children]
    item.kind = "unit" if all(c.is_layer for c in item.children) else "stage"
    return item


def dissolve(item):
    """A block holding one item is that item."""
    while not item.is_layer and len(item.children) == 1:
        item = item.children[0]
    if not item.is_layer:
        item.children = [dissolve(c) for c in item.children]
    return item


def set_zone(item, zone):
    """Put ``item`` and all it holds in ``zone``."""
    item.zone = zone
    for c in item.children or ():
        set_zone(c, zone)
    return item
