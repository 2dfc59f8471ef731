"""Units and loose layers between two fixed layers: cuts in the graph, then layer names."""

from cnn_tb.plugin.structure.model import Item, block
from cnn_tb.plugin.structure.names import common_prefix, container_below, stage_key

# A graph unit longer than this is split where the fewest tensors are alive.
UNIT_MAX = 64

MERGE_CLASSES = frozenset({"Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract", "Dot"})


class Units:
    """The units and loose layers of one zone (passes 1 to 3 of the package docstring, stages by name aside)."""

    def __init__(self, model):
        self.m = model

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

    def find(self, lo, hi, live, nested):
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
